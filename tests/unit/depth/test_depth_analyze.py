"""``analyze`` on a saved checkpoint writes a report and a RunLog with the depth metrics."""

import pytest
import torch

from layerwise.depth.cli import analyze
from layerwise.models import GPT
from layerwise.monitor import RunLog


def test_analyze_checkpoint_writes_report_and_rows(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(GPT(n_layer=2, d_model=16, n_head=2, seq_len=16, vocab_size=256), path)
    report = analyze(str(path), data="pydoc", out=tmp_path / "depth.html", n_seq=2, seq_len=16, skip=False)
    assert "Depth profile" in report.read_text() and "Logit lens" in report.read_text()
    table = RunLog.read(tmp_path / "depth")
    metrics = set(table["metric"].to_pylist())
    assert {"block_contrib", "attn_entropy", "act_grad_in", "lens_kl", "removal_delta_loss"} <= metrics
    with pytest.raises(ValueError, match="unknown MODEL_SPEC"):
        analyze("no-such-model", out=tmp_path / "x.html")
