"""Run folders that cannot be mixed up: an exclusive lock per folder, and runs that end on SIGTERM
or at interpreter exit flushed and marked ``interrupted`` instead of left ``running``."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import threading
import weakref
from pathlib import Path
from typing import Any


class RunInterrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM while a RunLog is open, so that ``with`` blocks close
    their logs (flushed, status ``interrupted``) before the process ends."""


class FolderLock:
    """An exclusive advisory lock on ``FOLDER/.lock`` (``flock``: the kernel releases it when the
    process dies, so a crashed run never leaves a folder stuck)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RuntimeError(
                f"run folder {self.path.parent} is open by another writer ({holder}); two runs "
                "writing one folder would mix their rows: give this run another folder, or wait "
                "for the other to finish") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": os.uname().nodename}).encode())
        self._fd = fd

    def held(self) -> bool:
        """Whether a live writer holds the folder (checked by trying the lock)."""
        if self._fd is not None:
            return True
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe lock
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info.get('pid')} on {info.get('host')}"
    except (OSError, ValueError):
        return "another process"


_open_logs: weakref.WeakSet = weakref.WeakSet()
_previous_handler: Any = None


def watch(log: Any) -> None:
    """Track an open folder RunLog: SIGTERM raises :class:`RunInterrupted` while any is open."""
    global _previous_handler
    _open_logs.add(log)
    if _previous_handler is None and threading.current_thread() is threading.main_thread():
        current = signal.getsignal(signal.SIGTERM)
        if current in (signal.SIG_DFL, None):  # never replace a handler the program installed
            _previous_handler = current
            signal.signal(signal.SIGTERM, _on_sigterm)


def unwatch(log: Any) -> None:
    """Stop tracking ``log``; the SIGTERM handler goes when no folder log is open."""
    global _previous_handler
    _open_logs.discard(log)
    if (not _open_logs and _previous_handler is not None
            and threading.current_thread() is threading.main_thread()):
        signal.signal(signal.SIGTERM, _previous_handler)
        _previous_handler = None


def _on_sigterm(signum: int, frame: Any) -> None:
    raise RunInterrupted(f"SIGTERM: {len(_open_logs)} open run(s) flushed and marked interrupted")


@atexit.register
def _close_open_logs() -> None:
    """At interpreter exit, flush every run the program left open and mark it interrupted."""
    for log in list(_open_logs):
        with contextlib.suppress(Exception):  # best effort at exit; rows flushed before are safe
            log.close("interrupted")
