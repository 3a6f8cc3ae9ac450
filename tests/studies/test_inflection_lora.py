"""inflection-lora: the OVER x UNDER interaction, band placement and budget, shared pre-training."""

import dataclasses

import pytest
import torch

from layerwise import RunLog
from layerwise.nn import LoRALinear
from layerwise.studies import get_study, run_study
from layerwise.studies.inflection_lora import InflectionLoRAConfig, _adapt, _model, _pretrain


def test_tiny_run_interaction_budget_and_band_rows(tmp_path):
    verdict = run_study("inflection-lora", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    for arm in ("uniform-lora", "inflection-lora", "full-ft"):
        # the judged number: each arm's OVER accuracy minus its UNDER accuracy (paired arms make the
        # inflection - uniform difference of it the OVER x UNDER interaction)
        assert d["over_minus_under"][arm] == pytest.approx(d["target_acc"][arm] - d["under_target_acc"][arm])
        assert d["src_acc"][arm] == d["src_acc"]["full-ft"]  # one pre-training shared by the arms
    assert d["trainable"]["uniform-lora"] == d["trainable"]["inflection-lora"] < d["trainable"]["full-ft"] / 4
    # OVER was trained 6 steps, UNDER 2: OVER's source predictions are more confident (saturated)
    assert d["src_entropy"]["full-ft"] < d["under_src_entropy"]["full-ft"]
    table = RunLog.read(tmp_path / "runs" / "inflection-lora-s0")
    columns = (table[c].to_pylist() for c in ("layer", "metric", "value"))
    rows = zip(*columns, strict=True)
    band = [layer for layer, metric, v in rows if metric == "in_band" and v == 1.0]
    assert len(band) == 2
    metrics = set(table["metric"].to_pylist())
    assert {"grad_norm", "act_rms", "loss", "target_acc", "under_target_acc", "under_in_band"} <= metrics


@pytest.mark.parametrize("placement", ["uniform", "inflection"])
def test_lora_placement_and_budget(placement):
    cfg = InflectionLoRAConfig(n_layer=6, d_model=16, n_head=2, placement=placement)
    model = _model(cfg)
    _adapt(model, cfg, [2, 3])
    placed = {name.split(".")[1] for name, m in model.named_modules() if isinstance(m, LoRALinear)}
    assert placed == ({"2", "3"} if placement == "inflection" else {str(i) for i in range(6)})
    ranks = {m.r for m in model.modules() if isinstance(m, LoRALinear)}
    assert ranks == ({6} if placement == "inflection" else {2})
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n_lora == 6 * 2 * sum(i + o for i, o in ((16, 48), (16, 16), (16, 64), (64, 16)))
    x = torch.randint(0, cfg.vocab, (2, 8))
    assert model(x).shape == (2, 8, cfg.vocab + 1)


def test_pretraining_is_cached_and_leaves_the_arms_random_stream_alone():
    cfg = get_study("inflection-lora").config("tiny")
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = _pretrain(dataclasses.replace(cfg, n_source=96), 7)
    assert torch.equal(torch.get_rng_state(), before)  # a cache miss draws nothing from the arm's stream
    assert _pretrain(dataclasses.replace(cfg, n_source=96), 7) is first


def test_arms_are_placements_and_full_is_the_default():
    study = get_study("inflection-lora")
    full = study.config("full")
    assert full == InflectionLoRAConfig() and full.negation == 0.0  # the learnable target
    assert full.over_steps >= 30 * full.under_steps - 30 and (full.n_target, full.ft_steps) == (2000, 400)
    assert [study.config("full", arm=a).placement for a in study.arms] == ["uniform", "inflection", "full"]
    assert study.rule.metric == "over_minus_under" and study.gates[0].arms == ("full-ft",)
