"""The doctor on runs the Monitor wrote: an injected fault is named with its layer and onset, a
healthy run is clean, and bad folders get clear messages without anything written over the run."""

from __future__ import annotations

import json

import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from layerwise import Monitor
from layerwise.cli import app
from layerwise.doctor import diagnose
from layerwise.models import MLP


def train(folder, *, lr: float = 0.05, steps: int = 40, dead_block: int | None = None) -> None:
    torch.manual_seed(0)
    model = MLP(in_dim=8, out_dim=3, depth=4, width=16)
    if dead_block is not None:  # every pre-activation of one block pushed far below zero
        with torch.no_grad():
            model.blocks[dead_block].linear.bias.fill_(-50.0)
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with Monitor(model, optimizer=opt, log=folder, on_nonfinite="record") as mon:
        for i in range(steps):
            with mon.step(i):
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad()


def test_a_healthy_run_is_clean(tmp_path):
    train(tmp_path / "ok")
    result = diagnose(tmp_path / "ok")
    assert result.healthy, result.text()
    # the economy tier and the loss feed every rule but the multi-loss and transformer-probe ones
    # (unused depth reads gradients too: a layer no gradient reaches)
    assert set(result.skipped) == {"gradient_conflict", "attention_entropy", "attention_logits",
                                   "rank_collapse"}


def test_a_dead_block_is_found_at_its_layer_from_the_start(tmp_path):
    train(tmp_path / "dead", dead_block=1)
    found = {f.symptom: f for f in diagnose(tmp_path / "dead").findings}
    assert found["dead units"].layers == ("blocks.1",) and found["dead units"].onset_step == 0


def test_a_huge_learning_rate_is_critical(tmp_path):
    train(tmp_path / "hot", lr=200.0)
    top = diagnose(tmp_path / "hot").top
    assert top is not None and top.severity == "critical"
    assert top.symptom in ("non-finite values", "exploding gradients")
    first = top.prescriptions[0]  # the first step was already far too large: cut the rate
    assert first.component == "learning_rate" and first.settings["factor"] < 0.1


def test_cli_writes_diagnosis_json_and_leaves_the_run_alone(tmp_path):
    run = tmp_path / "dead"
    train(run, dead_block=1)
    before = {p.name: p.read_bytes() for p in (run / "metrics").iterdir()}
    result = CliRunner().invoke(app, ["doctor", str(run)])
    assert result.exit_code == 0, result.output
    assert "dead units in blocks.1 since step 0" in " ".join(result.output.split())
    saved = json.loads((run / "diagnosis.json").read_text())
    assert saved["findings"][0]["symptom"] == "dead units"
    assert {p.name: p.read_bytes() for p in (run / "metrics").iterdir()} == before


def test_cli_bad_folders(tmp_path):
    runner = CliRunner()
    for folder, message in (("nope", "is not a folder"), ("plain", "not a layerwise run"),
                            ("empty", "no rows yet")):
        if folder == "plain":
            (tmp_path / folder).mkdir()
        if folder == "empty":
            (tmp_path / folder / "metrics").mkdir(parents=True)
        result = runner.invoke(app, ["doctor", str(tmp_path / folder)])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
        assert not (tmp_path / folder / "diagnosis.json").exists()


def test_a_run_in_progress_is_diagnosed_and_says_so(tmp_path):
    from layerwise.monitor.runlog import RunLog

    log = RunLog(tmp_path / "live", flush_every=1)
    for i in range(3):
        log.log_scalars(i, loss=1.0)
    log.flush()
    result = diagnose(tmp_path / "live")
    assert any("still in progress" in n and "step 2" in n for n in result.notes)
    log.close()


def test_cli_report_plots_the_evidence_of_each_root_cause(tmp_path):
    from layerwise.doctor import diagnosis_section, load

    run = tmp_path / "dead"
    train(run, dead_block=1)
    diagnosis = diagnose(run)
    section = diagnosis_section(diagnosis, load(run))
    roots = [f for f in diagnosis.findings if f.explained_by is None]
    assert len(section.figures) == len(roots) >= 1
    ax = section.figures[0].get_axes()[0]
    assert ax.get_ylabel() == "dead_fraction" and ax.get_title().startswith("dead units")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["blocks.1", "threshold", "onset 0"]
    result = CliRunner().invoke(app, ["doctor", str(run), "--report", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "<h2>Doctor</h2>" in html and "dead units in blocks.1 since step 0" in html
    assert html.count("data:image/png") >= 1 + len(roots)
