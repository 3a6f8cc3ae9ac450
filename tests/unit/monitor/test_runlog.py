"""RunLog: Parquet parts, JSON sidecar, crash safety, resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from layerwise import RunLog


def test_rows_round_trip_with_sidecar(tmp_path):
    with RunLog(tmp_path / "run", meta={"config": {"lr": 1e-3, "bad": float("inf")}}, flush_every=2) as log:
        log.log_many(0, ["blocks.0", "blocks.1"], ["grad_norm", "grad_norm"], [1.0, 2.0])
        log.log_scalars(0, loss=3.5)
        log.log(1, "blocks.0", "act_rms", 0.25)
    table = RunLog.read(tmp_path / "run")
    assert table.schema.names == ["step", "layer", "metric", "value"]
    assert table.to_pylist() == [
        {"step": 0, "layer": "blocks.0", "metric": "grad_norm", "value": 1.0},
        {"step": 0, "layer": "blocks.1", "metric": "grad_norm", "value": 2.0},
        {"step": 0, "layer": "", "metric": "loss", "value": 3.5},
        {"step": 1, "layer": "blocks.0", "metric": "act_rms", "value": 0.25},
    ]
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["config"] == {"lr": 1e-3, "bad": "inf"}
    assert {"torch", "python", "git_revision", "layerwise"} <= set(meta["environment"])
    assert "started" in meta and "finished" in meta
    assert table.to_pandas().shape == (4, 4)


def test_flush_every_k_steps_writes_parts(tmp_path):
    log = RunLog(tmp_path / "r", flush_every=3)
    for step in range(7):
        log.log(step, "a", "m", float(step))
    assert len(list((tmp_path / "r" / "metrics").glob("part-*.parquet"))) == 2  # after steps 2 and 5
    assert RunLog.read(tmp_path / "r").num_rows == 6
    log.close()
    log.close()  # harmless
    assert RunLog.read(tmp_path / "r").num_rows == 7


def test_resume_appends(tmp_path):
    with RunLog(tmp_path / "r") as log:
        log.log(0, "a", "m", 1.0)
    with RunLog(tmp_path / "r", meta={"note": "second"}, resume=True) as log:
        log.log(1, "a", "m", 2.0)
    assert RunLog.read(tmp_path / "r").column("value").to_pylist() == [1.0, 2.0]
    meta = RunLog.read_meta(tmp_path / "r")
    assert meta["resumed"] == 1 and meta["note"] == "second"


def test_sigkill_keeps_every_flushed_row(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal
        from layerwise import RunLog
        log = RunLog({str(tmp_path / "run")!r}, flush_every=10)
        for step in range(25):
            log.log(step, "blocks.0", "grad_norm", float(step))
        print("flushed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    table = RunLog.read(tmp_path / "run")
    assert table.column("step").to_pylist() == list(range(20))  # two flushes of 10 steps
    assert RunLog.read_meta(tmp_path / "run")["status"] == "crashed"  # no writer holds it


def test_in_memory_log_and_errors(tmp_path):
    log = RunLog()
    log.log(0, "x", "m", 1.0)
    assert isinstance(log.table(), pa.Table) and log.table().num_rows == 1
    with pytest.raises(ValueError, match="2 layers, 1 metrics"):
        log.log_many(0, ["a", "b"], ["m"], [1.0, 2.0])
    with pytest.raises(ValueError, match="flush_every"):
        RunLog(flush_every=0)
    with pytest.raises(FileNotFoundError, match="not a layerwise run"):
        RunLog.read(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        RunLog(tmp_path / "file")
    log.close()
    with pytest.raises(RuntimeError, match="closed"):
        log.log(1, "x", "m", 1.0)


def test_duckdb_style_reading_via_pyarrow_dataset(tmp_path):
    import pyarrow.dataset as ds

    with RunLog(tmp_path / "r", flush_every=1) as log:
        for step in range(3):
            log.log(step, "a", "m", float(step))
    dataset = ds.dataset(tmp_path / "r" / "metrics", format="parquet")
    assert dataset.to_table().num_rows == 3


@pytest.fixture
def synced(monkeypatch):
    """Record the inode of everything passed to os.fsync (files and folders alike)."""
    inodes: list[int] = []
    real = os.fsync

    def fake(fd):
        inodes.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(os, "fsync", fake)
    return inodes


def _inode(path) -> int:
    return os.stat(path).st_ino


def _parts(run):
    return sorted((run / "metrics").glob("part-*.parquet"))


@pytest.mark.skipif(os.name == "nt", reason="folders cannot be fsynced on Windows")
def test_fsync_close_syncs_meta_at_once_and_every_part_at_close(tmp_path, synced):
    run = tmp_path / "run"
    log = RunLog(run, flush_every=1)
    assert {_inode(run / "meta.json"), _inode(run), _inode(tmp_path)} <= set(synced)
    for step in range(3):
        log.log(step, "a", "m", float(step))  # one part per new step
    log.log(2, "b", "m", 0.0)  # buffered until close
    assert len(_parts(run)) == 3 and not {_inode(p) for p in _parts(run)} & set(synced)
    before = len(synced)
    log.close()
    done = set(synced[before:])
    assert len(_parts(run)) == 4 and {_inode(p) for p in _parts(run)} <= done
    assert {_inode(run / "metrics"), _inode(run / "meta.json"), _inode(run)} <= done


@pytest.mark.skipif(os.name == "nt", reason="folders cannot be fsynced on Windows")
def test_fsync_always_syncs_each_part_at_its_flush(tmp_path, synced):
    run = tmp_path / "run"
    log = RunLog(run, flush_every=1, fsync="always")
    for step in range(2):
        before = len(synced)
        log.log(step, "a", "m", float(step))
        assert {_inode(_parts(run)[-1]), _inode(run / "metrics")} <= set(synced[before:])
    log.close()


def test_fsync_never_syncs_nothing(tmp_path, synced):
    with RunLog(tmp_path / "run", flush_every=1, fsync="never") as log:
        for step in range(3):
            log.log(step, "a", "m", float(step))
    assert synced == [] and RunLog.read(tmp_path / "run").num_rows == 3
    with pytest.raises(ValueError, match="fsync must be one of 'close', 'always', 'never'"):
        RunLog(tmp_path / "other", fsync=True)
