"""Study ``muon-noise-adaptive``: verdict structure, per-layer lr traces, the adaptation really adapts."""

import json
import math

import pyarrow.compute as pc

from layerwise import RunLog
from layerwise.studies import run_study
from layerwise.studies.muon_noise_adaptive import RECIPE

TINY = dict(n_layer="2", d_model="32", n_head="2", seq_len="16", batch_size="4", steps="12", vocab_size="16",
            order="1", n_tokens="4000", eval_every="6", eval_batches="1")


def test_smoke_run_writes_verdict_and_layer_lr_traces(tmp_path):
    verdict = run_study(RECIPE, out=tmp_path, overrides=TINY, progress=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["arxiv"] == "2510.14009" and saved["verdict"] == "not-judged"
    assert set(saved["arms"]) == {"muon", "lanton", "adamw"} and saved["treatment"] == "lanton"
    details = verdict["details"]
    assert 0 < details["entropy_rate"] < details["target_loss"] < math.log(16)
    for arm in ("muon", "lanton", "adamw"):
        (steps,) = saved["arms"][arm]["values"]
        assert steps in (6.0, 12.0, 18.0)  # an eval step, or the censored budget + eval_every
        assert 0.5 < details["val_loss"][arm] < math.log(16) + 1.0
    table = RunLog.read(tmp_path / "runs" / "lanton-s0")
    rows = table.filter(pc.equal(table["metric"], "layer_lr"))
    layers = set(rows.column("layer").to_pylist())
    assert "blocks.0.attn.qkv.weight" in layers or any(n.startswith("blocks.0.") for n in layers)
    assert len(set(rows.column("step").to_pylist())) == 12  # one trace point per layer per step
    assert {"grad_norm", "update_ratio", "loss", "val_loss", "layer_noise"} <= set(
        table.column("metric").to_pylist())
    # Mechanism: the baseline keeps one rate per group; the adaptive arm spreads the hidden layers'.
    assert details["lr_spread"]["muon"] == 1.0
    assert details["lr_spread"]["lanton"] > 1.0
    assert details["noise_spread"]["lanton"] > 1.0
