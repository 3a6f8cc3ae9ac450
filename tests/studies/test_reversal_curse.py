"""reversal-curse: the tiny run produces the MRRs, curves and consistency; chance and scoring are exact."""

import math

import pytest
import torch

from layerwise.studies import get_study, run_study
from layerwise.studies.reversal_curse import ReversalCurseConfig, build, chance_mrr, mrr


def test_chance_mrr_is_the_mean_reciprocal_rank_of_a_random_ranking():
    assert chance_mrr(1) == 1.0 and chance_mrr(3) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    g = torch.Generator().manual_seed(0)
    ranks = torch.stack([torch.randperm(50, generator=g) for _ in range(4000)])[:, 0] + 1
    assert (1.0 / ranks.double()).mean().item() == pytest.approx(chance_mrr(50), rel=0.1)


def test_arms_build_a_tied_gpt_and_a_jepa_with_one_encoder_block():
    study = get_study("reversal-curse")
    assert study.config("full") == ReversalCurseConfig()
    from layerwise.data import entity_facts

    facts = entity_facts(n_entities=12, seed=0)
    gpt = build(study.config("full", arm="gpt"), facts)
    assert gpt.lm_head.weight is gpt.tok_emb.weight and len(gpt.blocks) == 4
    jepa = build(study.config("full", arm="jepa"), facts)
    assert len(jepa.encoder) == 1 and len(jepa.blocks) == 3
    assert jepa.tok_emb.weight.std().item() == pytest.approx(1.0, rel=0.2)
    assert study.rule.min_effect == 0.05 and study.rule.treatment == "jepa"
    with pytest.raises(ValueError, match="model must be 'gpt' or 'jepa'"):
        build(ReversalCurseConfig(model="bert"), facts)


def test_mrr_of_a_model_that_knows_the_answers_is_one():
    from layerwise.data import entity_facts

    facts = entity_facts(n_entities=12, seed=0)
    entities = facts.entity_tokens()

    class Oracle(torch.nn.Module):
        def forward(self, x):  # logits with the true object of each (h, r) on top
            out = torch.zeros(len(x), 2, facts.vocab_size)
            lookup = {(h, r): t for h, r, t in facts.triples("train").tolist()}
            for i, (h, r) in enumerate(x.tolist()):
                out[i, -1, lookup[(h, r)]] = 1.0
            return out

    assert mrr(Oracle(), facts.triples("train"), entities) == 1.0


def test_tiny_run_reports_mrrs_curves_and_consistency(tmp_path):
    verdict = run_study("reversal-curse", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    for arm in ("gpt", "jepa"):
        for split in ("train", "atomic", "test"):
            assert 0.0 < d[f"{split}_mrr"][arm] <= 1.0
            assert d[f"{split}_mrr_curve"][arm][-1] == d[f"{split}_mrr"][arm]
        assert d["curve_steps"][arm] == [3.0, 6.0]
        assert d["chance"][arm] == pytest.approx(chance_mrr(24))
        assert math.isfinite(d["consistency_gap"][arm])
    assert d["consistency_cosine"]["jepa"] == pytest.approx(1.0)  # one encoder for both roles
    assert d["consistency_cosine"]["gpt"] < 0.99
