"""RunLog: a run's per-layer, per-step records as Parquet, with a JSON sidecar.

Layout of a run folder::

    RUN/meta.json                    config, model summary, package versions, git revision, times
    RUN/metrics/part-00000.parquet   one file per flush (one row group), columns
                                     step:int64, layer:string, metric:string, value:float64

Each flush writes a complete file under a temporary name and renames it, so a process killed
with SIGKILL keeps every row flushed before it died. A machine or power crash keeps only what
reached the disk: ``fsync="close"`` (default) fsyncs ``meta.json`` at every write and, at
``close``, every part this log wrote, each followed by its folder (so the renames persist);
``"always"`` also fsyncs each part as it is flushed; ``"never"`` leaves it to the OS (seconds to
a minute of writeback). Reopening a run appends new parts.
``RunLog.read(path)`` returns a ``pyarrow.Table`` (``.to_pandas()``, DuckDB and polars read it too).
Model-level scalars (loss, validation loss) use the layer name ``""``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import layerwise.monitor.runfolder as runfolder
from layerwise.monitor.runfolder import FolderLock

SCHEMA = pa.schema(
    [("step", pa.int64()), ("layer", pa.string()), ("metric", pa.string()), ("value", pa.float64())]
)
_PART = "part-{:05d}.parquet"
FSYNC = ("close", "always", "never")


class RunLog:
    """Append-only store of ``(step, layer, metric, value)`` rows.

    Args:
        path: run folder; ``None`` keeps every row in memory (``table()`` returns them).
        meta: JSON-serialisable run description merged into ``meta.json``.
        flush_every: write a Parquet part after this many logged steps (and at ``close``).
        fsync: what is forced to disk to survive a machine crash: ``"close"`` (the sidecar at
            every write, every part at ``close``), ``"always"`` (each part at its flush too) or
            ``"never"``.
        resume: continue a run already in ``path``: rows at or before its last flushed step
            are dropped (``skipped_steps`` in ``meta.json`` counts them), so no step is repeated.
        overwrite: delete the run already in ``path`` (its parts and sidecar) and start anew.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, meta: dict | None = None,
                 flush_every: int = 50, fsync: str = "close", resume: bool = False,
                 overwrite: bool = False) -> None:
        if flush_every < 1:
            raise ValueError(f"flush_every must be >= 1, got {flush_every}")
        if fsync not in FSYNC:
            raise ValueError(f"fsync must be one of {', '.join(map(repr, FSYNC))}, got {fsync!r}")
        if resume and overwrite:
            raise ValueError("resume=True and overwrite=True contradict each other; choose one")
        self.path = Path(path) if path is not None else None
        self.flush_every = flush_every
        self.fsync = fsync
        self._unsynced: list[Path] = []
        self._cols: dict[str, list] = {name: [] for name in SCHEMA.names}
        self._steps_since_flush = 0
        self._last_step: int | None = None
        self._memory: list[pa.Table] = []
        self._closed = False
        self._after: int | None = None  # resume: drop rows at or before this step
        self._skipped: set[int] = set()
        self._lock: FolderLock | None = None
        if self.path is not None:
            self._open_folder(meta or {}, resume, overwrite)

    # -- writing ---------------------------------------------------------------------------
    def _open_folder(self, meta: dict, resume: bool, overwrite: bool) -> None:
        assert self.path is not None
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"run path {self.path} is a file; give a folder for the run")
        (self.path / "metrics").mkdir(parents=True, exist_ok=True)
        self._lock = FolderLock(self.path)
        self._lock.acquire()
        try:
            old = self._claim_folder(resume, overwrite)
        except BaseException:
            self._lock.release()
            raise
        if self.fsync != "never":
            _fsync_dir(self.path.parent)  # the run folder's own entry
        self._next_part = _next_part_index(self.path / "metrics")
        info = {**old, **_jsonable(meta)}
        info.setdefault("run_id", uuid.uuid4().hex[:12])
        info.setdefault("started", _now())
        info.setdefault("environment", environment())
        info["resumed"] = old.get("resumed", 0) + (1 if old else 0)
        info["status"] = "running"
        self._meta = info
        self._write_meta()
        runfolder.watch(self)

    def _claim_folder(self, resume: bool, overwrite: bool) -> dict:
        """The sidecar of the run already in the folder (``{}`` if none), after applying
        ``resume``/``overwrite``; a refusal names both options."""
        assert self.path is not None
        old = _read_meta(self.path)
        parts = sorted((self.path / "metrics").glob("part-*.parquet"))
        if not (old or parts):
            return {}
        if overwrite:
            for part in parts:
                part.unlink()
            (self.path / "meta.json").unlink(missing_ok=True)
            return {}
        last = _last_step(parts)
        if not resume:
            raise FileExistsError(
                f"run folder {self.path} already holds a run (status {old.get('status', 'unknown')}, "
                f"last flushed step {last}); pass resume=True (--resume) to continue after step "
                f"{last}, overwrite=True (--overwrite) to replace it, or choose another folder")
        self._after = last
        return old

    @property
    def last_step(self) -> int | None:
        """The last step of a resumed run before this session (``None`` for a new run)."""
        return self._after

    def log(self, step: int, layer: str, metric: str, value: float) -> None:
        """Append one row."""
        self.log_many(step, [layer], [metric], [value])

    def log_many(self, step: int, layers: Sequence[str], metrics: Sequence[str],
                 values: Iterable[float]) -> None:
        """Append rows sharing one step; ``layers``, ``metrics`` and ``values`` align."""
        if self._closed:
            raise RuntimeError("this RunLog is closed; open a new one on the same path to append")
        values = [float(v) for v in values]
        if self._after is not None and step <= self._after:
            self._skipped.add(int(step))  # already flushed before the resume: never twice
            return
        if not len(layers) == len(metrics) == len(values):
            raise ValueError(
                f"log_many got {len(layers)} layers, {len(metrics)} metrics, {len(values)} values"
            )
        self._cols["step"].extend([int(step)] * len(values))
        self._cols["layer"].extend(layers)
        self._cols["metric"].extend(metrics)
        self._cols["value"].extend(values)
        if step != self._last_step:
            self._last_step = step
            self._steps_since_flush += 1
            if self._steps_since_flush >= self.flush_every:
                self.flush()

    def log_scalars(self, step: int, **values: float) -> None:
        """Append model-level scalars (layer ``""``), e.g. ``log_scalars(10, val_loss=2.3)``."""
        self.log_many(step, [""] * len(values), list(values), list(values.values()))

    def update_meta(self, **fields: Any) -> None:
        """Merge fields into the sidecar (written at once for folder runs)."""
        if self.path is None:
            return
        self._meta.update(_jsonable(fields))
        self._write_meta()

    def flush(self) -> None:
        """Write buffered rows as one complete Parquet part (atomic rename; fsync per ``fsync``)."""
        self._steps_since_flush = 0
        if not self._cols["step"]:
            return
        table = pa.table(self._cols, schema=SCHEMA)
        self._cols = {name: [] for name in SCHEMA.names}
        if self.path is None:
            self._memory.append(table)
            return
        final = self.path / "metrics" / _PART.format(self._next_part)
        sync = self.fsync == "always"
        _write_atomic(final, lambda f: pq.write_table(table, f), sync=sync)
        self._next_part += 1
        if not sync and self.fsync == "close":
            self._unsynced.append(final)

    def _sync_parts(self) -> None:
        """fsync every part written since the last sync, then the metrics folder."""
        if not self._unsynced:
            return
        for part in self._unsynced:
            _fsync_path(part)
        _fsync_dir(self._unsynced[0].parent)
        self._unsynced = []

    def close(self, status: str = "finished") -> None:
        """Flush, make the parts durable (``fsync="close"``) and mark the run finished; closing
        twice is harmless."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self.path is not None:
            self._sync_parts()
            self._meta.update(status=status, finished=_now())
            if self._skipped:
                self._meta["skipped_steps"] = self._meta.get("skipped_steps", 0) + len(self._skipped)
            self._write_meta()
            runfolder.unwatch(self)
            if self._lock is not None:
                self._lock.release()

    def table(self) -> pa.Table:
        """Every row written so far (flushing first)."""
        if not self._closed:
            self.flush()
        if self.path is None:
            return pa.concat_tables(self._memory) if self._memory else SCHEMA.empty_table()
        return RunLog.read(self.path)

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exit_status(exc_type))

    def _write_meta(self) -> None:
        assert self.path is not None
        text = json.dumps(self._meta, indent=2, sort_keys=True).encode()
        _write_atomic(self.path / "meta.json", lambda f: f.write(text), sync=self.fsync != "never")

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def read(path: str | os.PathLike) -> pa.Table:
        """All rows of a run folder as a ``pyarrow.Table`` sorted by step (stable). A folder of
        per-rank runs (``Monitor(per_rank=True)``: ``rank0/``, ``rank1/``, ...) reads as one table
        with a ``rank`` column."""
        folder = Path(path)
        ranks = sorted(folder.glob("rank*/metrics"))
        if not (folder / "metrics").is_dir() and ranks:
            tables = []
            for metrics in ranks:
                table = RunLog.read(metrics.parent)
                rank = int(metrics.parent.name.removeprefix("rank"))
                tables.append(table.append_column("rank", pa.array([rank] * len(table), pa.int32())))
            return pa.concat_tables(tables).sort_by([("step", "ascending"), ("rank", "ascending")])
        if not (folder / "metrics").is_dir():
            raise FileNotFoundError(
                f"{folder} is not a layerwise run (no metrics/ folder); pass the folder a RunLog wrote"
            )
        tables = [t for t in map(_read_part, sorted((folder / "metrics").glob("part-*.parquet")))
                  if t is not None]
        if not tables:
            return SCHEMA.empty_table()
        return pa.concat_tables(tables).sort_by([("step", "ascending")])

    @staticmethod
    def read_meta(path: str | os.PathLike) -> dict:
        """The run's sidecar (``{}`` when it has none). A run whose sidecar says ``running`` but
        whose folder no process holds died without closing (SIGKILL, power loss): its status
        reads ``crashed``; every row flushed before is in its parts."""
        meta = _read_meta(Path(path))
        if meta.get("status") == "running" and not FolderLock(Path(path)).held():
            meta["status"] = "crashed"
        return meta


def _write_atomic(final: Path, write: Callable[[Any], object], *, sync: bool) -> None:
    """``write`` into ``final`` + ".tmp", rename it to ``final``; with ``sync``, fsync the file
    before the rename and the folder after it."""
    tmp = final.with_name(final.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, final)
    if sync:
        _fsync_dir(final.parent)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Persist a folder's entries (renames, new files); Windows cannot open folders, so skip there."""
    if os.name != "nt":
        _fsync_path(folder)


def exit_status(exc_type: type | None) -> str:
    """Status of a run closed by a ``with`` block: finished, interrupted (Ctrl-C, SIGTERM) or failed."""
    if exc_type is None:
        return "finished"
    return "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed"


def _read_part(path: Path) -> pa.Table | None:
    """One part, or None with a warning naming it when it cannot be read."""
    try:
        return pq.read_table(path, schema=SCHEMA)
    except (OSError, pa.ArrowException) as err:
        warnings.warn(f"skipping unreadable run part {path} ({type(err).__name__}: {err}); the "
                      "other parts are read. Delete or restore the file to silence this.",
                      RuntimeWarning, stacklevel=3)
        return None


def _last_step(parts: list[Path]) -> int | None:
    steps = [t["step"].to_numpy() for t in map(_read_part, parts) if t is not None and t.num_rows]
    return int(max(s.max() for s in steps)) if steps else None


def _next_part_index(folder: Path) -> int:
    indices = [int(p.stem.split("-")[1]) for p in folder.glob("part-*.parquet")]
    for stale in folder.glob("part-*.tmp"):  # a flush interrupted by a crash: never renamed
        stale.unlink()
    return max(indices) + 1 if indices else 0


def _read_meta(folder: Path) -> dict:
    meta = folder / "meta.json"
    if not meta.is_file():
        return {}
    try:
        return json.loads(meta.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{meta} is not valid JSON ({err}); restore or delete it (the parts under "
                         f"{folder / 'metrics'} hold the rows)") from None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy: non-finite floats become strings, unknown objects their repr."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def environment() -> dict[str, Any]:
    """Package versions, platform and git revision, for reproducibility."""
    import numpy
    import torch

    from layerwise import __version__

    return {
        "layerwise": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "git_revision": git_revision(),
    }


def git_revision() -> str | None:
    """The source tree's git commit (with ``-dirty`` when modified), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
