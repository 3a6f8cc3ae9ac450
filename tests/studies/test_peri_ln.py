"""Smoke test of the peri-ln study (tiny GPTs) and its spike counter against a naive reference."""

import json
import math

import numpy as np

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study
from layerwise.studies.peri_ln import count_spikes

TINY = dict(n_layer="4", d_model="16", n_head="2", seq_len="16", batch_size="4", steps="20", warmup="3",
            eval_every="10", eval_batches="1", n_tokens="5000", vocab_size="16", spike_window="10")


def test_smoke_run_writes_verdict_and_depth_profiles(tmp_path):
    verdict = run_study("peri-ln", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "peri-ln" and saved["arxiv"] == "2502.02732"
    assert saved["verdict"] == "not-judged" and saved["metric"] == "final_val_loss"
    assert saved["baseline"] == "pre" and saved["treatment"] == "peri"
    assert set(saved["arms"]) == {"pre", "post", "peri"}
    for arm in ("pre", "post", "peri"):
        (value,) = saved["arms"][arm]["values"]
        assert 0.5 < value <= math.log(16) + 0.5
        assert len(verdict["details"]["rms_profile"][arm]) == 4
    rms = verdict["details"]["rms_profile"]
    # Post-LN ends every block with a norm, so its block outputs keep RMS near the norm gain (~1);
    # Pre-LN's residual stream accumulates sublayer outputs and grows with depth.
    assert all(0.3 < v < 3.0 for v in rms["post"])
    assert verdict["details"]["rms_growth"]["pre"] > verdict["details"]["rms_growth"]["post"]
    table = RunLog.read(tmp_path / "runs" / "peri-s0")
    assert {f"blocks.{i}" for i in range(4)} <= set(table.column("layer").to_pylist())
    assert {"act_rms", "act_max", "loss", "val_loss"} <= set(table.column("metric").to_pylist())


def _naive_spikes(loss, window, factor):
    count = 0
    for t in range(window, len(loss)):
        prev = [v for v in loss[t - window:t] if math.isfinite(v)]
        prev.sort()
        n = len(prev)
        med = (prev[n // 2] + prev[(n - 1) // 2]) / 2
        count += (not math.isfinite(loss[t])) or loss[t] > factor * med
    return count


def test_count_spikes_matches_naive_reference():
    rng = np.random.default_rng(0)
    loss = 3.0 - np.linspace(0, 1, 200) + 0.05 * rng.standard_normal(200)
    loss[[60, 61, 150]] *= 2.0
    loss[170] = np.nan
    assert count_spikes(loss, window=20, factor=1.5) == _naive_spikes(loss.tolist(), 20, 1.5) == 4
    assert count_spikes(loss[:50], window=20, factor=1.5) == 0


def test_recipe_sizes():
    recipe = get_recipe("peri-ln")
    full = recipe.make_config("full")
    assert (full.n_layer, full.d_model, full.seq_len, full.batch_size, full.steps) == (12, 128, 64, 32, 1000)
    assert recipe.make_config("smoke").n_layer == 12
