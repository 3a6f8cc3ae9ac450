"""Run folders cannot be mixed up or lost: one writer, explicit resume/overwrite, signals, crashes."""

import json
import random
import signal
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from layerwise import Monitor, RunLog


def _steps(run):
    return RunLog.read(run).column("step").to_pylist()


def test_a_second_writer_on_an_open_folder_is_refused(tmp_path):
    first = RunLog(tmp_path / "run")
    with pytest.raises(RuntimeError, match=r"open by another writer \(pid \d+"):
        RunLog(tmp_path / "run", resume=True)
    first.log(0, "a", "m", 1.0)
    first.close()
    with RunLog(tmp_path / "run", resume=True) as again:  # free once the first closed
        again.log(1, "a", "m", 2.0)
    assert _steps(tmp_path / "run") == [0, 1]


def test_a_writer_in_another_process_is_refused(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from layerwise import RunLog
        log = RunLog({str(tmp_path / "run")!r})
        print("open", flush=True)
        sys.stdin.readline()
        log.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(RuntimeError, match=f"pid {proc.pid}"):
            RunLog(tmp_path / "run", overwrite=True)
    finally:
        proc.communicate("\n", timeout=60)
    assert RunLog.read_meta(tmp_path / "run")["status"] == "finished"


def test_rerun_without_resume_or_overwrite_is_refused_and_nothing_is_lost(tmp_path):
    with RunLog(tmp_path / "run", meta={"config": {"lr": 1}}) as log:
        log.log(0, "a", "m", 1.0)
    with pytest.raises(FileExistsError, match="resume=True .* overwrite=True"):
        RunLog(tmp_path / "run", meta={"config": {"lr": 2}})
    assert _steps(tmp_path / "run") == [0]
    assert RunLog.read_meta(tmp_path / "run")["config"] == {"lr": 1}
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    with pytest.raises(FileExistsError, match="--resume"):
        Monitor(model, log=tmp_path / "run")


def test_resume_never_repeats_a_step_and_overwrite_starts_anew(tmp_path):
    run = tmp_path / "run"
    with RunLog(run, flush_every=1) as log:
        for step in range(5):
            log.log(step, "a", "m", float(step))
    with RunLog(run, resume=True) as log:
        assert log.last_step == 4
        for step in range(3, 8):  # a training loop restarted from an older checkpoint
            log.log(step, "a", "m", 10.0 + step)
    assert _steps(run) == list(range(8))
    meta = RunLog.read_meta(run)
    assert meta["skipped_steps"] == 2 and meta["resumed"] == 1
    run_id = meta["run_id"]
    with RunLog(run, overwrite=True) as log:
        log.log(0, "b", "m", 1.0)
    assert _steps(run) == [0] and RunLog.read_meta(run)["run_id"] != run_id
    with pytest.raises(ValueError, match="contradict"):
        RunLog(run, resume=True, overwrite=True)


def test_an_unreadable_part_is_skipped_with_a_warning_naming_it(tmp_path):
    run = tmp_path / "run"
    with RunLog(run, flush_every=1) as log:
        for step in range(3):
            log.log(step, "a", "m", float(step))
    bad = sorted((run / "metrics").glob("part-*.parquet"))[1]
    bad.write_bytes(bad.read_bytes()[:20])  # truncated
    with pytest.warns(RuntimeWarning, match=bad.name):
        assert _steps(run) == [0, 2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_flush_and_mark_the_run_interrupted(tmp_path, sig):
    script = textwrap.dedent(f"""
        import os, signal, torch
        from layerwise import Monitor
        model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
        with Monitor(model, log={str(tmp_path / "run")!r}) as mon:
            for step in range(30):
                with mon.step(step):
                    model(torch.randn(8, 4)).pow(2).mean().backward()
                if step == 12:
                    os.kill(os.getpid(), {int(sig)})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Interrupt" in proc.stderr or "SIGTERM" in proc.stderr, proc.stderr
    meta = RunLog.read_meta(tmp_path / "run")
    assert meta["status"] == "interrupted"
    assert sorted(set(_steps(tmp_path / "run"))) == list(range(13))  # nothing buffered was lost


def test_sigkill_at_a_random_step_keeps_every_flushed_row_and_frees_the_folder(tmp_path):
    kill_at = random.randrange(1, 60)
    script = textwrap.dedent(f"""
        import os, signal
        from layerwise import RunLog
        log = RunLog({str(tmp_path / "run")!r}, flush_every=7)
        for step in range(100):
            log.log(step, "blocks.0", "grad_norm", float(step))
            if step == {kill_at}:
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    flushed = (kill_at + 1) // 7 * 7  # a part is written once 7 new steps are logged
    got = _steps(tmp_path / "run")
    assert got == list(range(flushed)), (kill_at, got)
    assert RunLog.read_meta(tmp_path / "run")["status"] == "crashed"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with RunLog(tmp_path / "run", resume=True) as log:  # the dead writer's lock is gone
            log.log(len(got), "blocks.0", "grad_norm", 0.0)
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["status"] == "finished"


def test_a_corrupt_sidecar_gets_a_message_naming_it(tmp_path):
    with RunLog(tmp_path / "run") as log:
        log.log(0, "a", "m", 1.0)
    (tmp_path / "run" / "meta.json").write_text("{\n  broken")
    with pytest.raises(ValueError, match=r"meta.json is not valid JSON .* restore or delete it"):
        RunLog(tmp_path / "run", resume=True)
