"""peri-ln: the arms really change the norm placement, depth profiles, the spike counter."""

import math

import numpy as np

from layerwise import RunLog
from layerwise.models import GPT
from layerwise.studies import get_study, run_study
from layerwise.studies.peri_ln import PeriLNConfig, count_spikes


def test_tiny_run_records_losses_spikes_and_rms_profiles(tmp_path):
    verdict = run_study("peri-ln", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    for arm in ("pre", "post", "peri"):
        (value,) = verdict.arms[arm].values
        assert 0.5 < value < math.log(16) + 0.5
        assert d["best_val_loss"][arm] <= value + 1e-9
        assert len(d["rms_profile"][arm]) == 3 and d["spikes"][arm] >= 0
    # Post-LN ends every block with a norm (output RMS ~ its unit gain); Pre-LN accumulates.
    assert all(0.5 < v < 2.0 for v in d["rms_profile"]["post"])
    assert d["rms_growth"]["pre"] > d["rms_growth"]["post"]
    # Peri-LN with the embedding norm: every sublayer adds a unit-RMS output to a unit-RMS stream.
    assert d["rms_profile"]["peri"][0] > 1.0
    table = RunLog.read(tmp_path / "runs" / "peri-s0")
    assert {"blocks.0", "blocks.2"} <= set(table.column("layer").to_pylist())
    metrics = set(table.column("metric").to_pylist())
    assert {"act_rms", "act_max", "grad_norm", "loss", "val_loss"} <= metrics


def test_arms_are_deltas_and_change_the_model():
    study = get_study("peri-ln")
    assert study.config("full") == PeriLNConfig()
    pre, peri, post = (study.config("full", arm=a) for a in ("pre", "peri", "post"))
    assert (pre.placement, pre.embed_norm) == ("pre", False)
    assert (peri.placement, peri.embed_norm) == ("peri", True)
    assert (post.placement, post.embed_norm) == ("post", False)
    kw = dict(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=16, norm="rms")
    names = {a: set(dict(GPT(**kw, placement=c.placement, embed_norm=c.embed_norm).named_modules()))
             for a, c in (("pre", pre), ("peri", peri))}
    assert {"emb_norm", "blocks.0.ln1_out", "blocks.1.ln2_out"} <= names["peri"] - names["pre"]
    assert study.rule.treatment == "peri" and study.rule.baseline == "pre"
    assert study.rule.worst == "uniform_loss"


def _naive_spikes(loss, window, factor):
    count = 0
    for t in range(window, len(loss)):
        prev = sorted(v for v in loss[t - window:t] if math.isfinite(v))
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
