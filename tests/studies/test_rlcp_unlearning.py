"""rlcp-unlearning: arms share one pretrained model per seed, the metrics are well formed, the
rule and gates are the declared ones."""

import dataclasses

import pytest
import torch

from layerwise.studies import get_study, run_study
from layerwise.studies.rlcp_unlearning import RLCPConfig, build, pretrained, unlearner
from layerwise.train import GradientReversalProbe


def test_tiny_run_gives_every_metric_and_arms_start_from_one_pretrained_model(tmp_path):
    verdict = run_study("rlcp-unlearning", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    cfg = get_study("rlcp-unlearning").config("tiny")
    for arm in ("ascent", "unlikelihood", "rlcp"):
        for key in ("forget_acc", "retain_acc", "lookup_acc_forget", "lookup_acc_retain",
                    "forget_probe_deep", "pre_closed_book_acc", "pre_lookup_acc"):
            assert 0.0 <= d[key][arm] <= 1.0, (key, arm)
        assert len(d["forget_probe"][arm]) == cfg.n_layer
        assert d["forget_probe_deep"][arm] == d["forget_probe"][arm][1]  # tiny probes blocks.1
        assert 1 <= d["steps"][arm] <= cfg.max_steps
        assert d["chance"][arm] == 1 / cfg.n_values
    for key in ("pre_closed_book_acc", "pre_lookup_acc", "pre_forget_probe_deep"):
        assert len({d[key][arm] for arm in verdict.arms}) == 1  # the same starting model


def test_pretraining_does_not_depend_on_the_arm_or_on_the_global_rng():
    cfg = dataclasses.replace(get_study("rlcp-unlearning").config("tiny"), pretrain_steps=2)
    torch.manual_seed(123)
    a, _ = pretrained(dataclasses.replace(cfg, method="-"), 0)
    pretrained.cache_clear()
    torch.manual_seed(456)
    b, _ = pretrained(dataclasses.replace(cfg, method="-"), 0)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_arms_are_deltas_and_rlcp_probes_the_declared_layers():
    study = get_study("rlcp-unlearning")
    assert study.config("full") == RLCPConfig()
    assert [study.config("full", arm=a).method for a in study.arms] == ["ascent", "unlikelihood", "rlcp"]
    cfg = study.config("tiny", arm="rlcp")
    model = build(cfg, 0)[3]
    trainer = unlearner(cfg, model)
    assert isinstance(trainer.forget, GradientReversalProbe) and trainer.forget.layers == ["blocks.1"]
    assert trainer.ref_model is not model
    assert study.rule.treatment == "rlcp" and study.rule.baselines == ("ascent", "unlikelihood")
    assert study.rule.min_effect == 0.2 and study.rule.better == "lower"
    with pytest.raises(ValueError, match="method must be"):
        unlearner(dataclasses.replace(cfg, method="retrain"), model)
    with pytest.raises(ValueError, match=r"'blocks\.5' does not exist"):
        unlearner(dataclasses.replace(cfg, probe_layers=("blocks.5",)), model)
