"""RunLog: Parquet parts, JSON sidecar, crash safety, resume."""

import json
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
    with RunLog(tmp_path / "r", meta={"note": "second"}) as log:
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
    assert RunLog.read_meta(tmp_path / "run")["status"] == "running"


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
