"""spinal: the preference pairs, the DPO margin, a null DPO that changes nothing, DPO moves the output."""

import dataclasses
import math

import pytest
import torch
from torch.nn import functional as F

from layerwise import RunLog
from layerwise.data import text_corpus
from layerwise.models import GPT
from layerwise.studies import get_study
from layerwise.studies._trial import Trial
from layerwise.studies.spinal import PreferencePairs, SpinalConfig, dpo_margin, thirds


def _trial(cfg: SpinalConfig, tmp_path) -> dict:
    torch.manual_seed(0)
    return get_study("spinal").trial(cfg, Trial("spinal", "dpo", 0, tmp_path, cfg, "tiny"))


def test_pairs_prefer_the_class_and_reject_in_distribution_bytes():
    corpus = text_corpus("pydoc", max_bytes=200_000)
    pairs = PreferencePairs(corpus, "0123456789", "val")
    x, chosen, rejected = pairs.sample(64, 16, torch.Generator().manual_seed(0))
    assert x.shape == (64, 16)
    digits = set(b"0123456789")
    assert set(chosen.tolist()) <= digits and not set(rejected.tolist()) & digits
    present = set(corpus.tokens("val").tolist())
    assert set(rejected.tolist()) <= present


def test_dpo_margin_is_the_sequence_level_margin():
    """Pairs share their prefix, so the sequence log-ratio margin is the last-token one."""
    torch.manual_seed(0)
    policy, ref = (GPT(n_layer=2, d_model=16, n_head=2, seq_len=8) for _ in range(2))
    x = torch.randint(0, 256, (3, 7))
    chosen, rejected = torch.tensor([48, 49, 50]), torch.tensor([97, 98, 99])

    def seq_logp(model, tokens):
        seq = torch.cat([x, tokens[:, None]], 1)
        logp = F.log_softmax(model(seq[:, :-1]), -1)
        return logp.gather(2, seq[:, 1:, None])[..., 0].sum(1)

    def ratio(tokens):
        return seq_logp(policy, tokens) - seq_logp(ref, tokens)

    full = ratio(chosen) - ratio(rejected)
    assert torch.allclose(dpo_margin(policy, ref, x, chosen, rejected), full, atol=1e-5)


def test_null_dpo_changes_nothing(tmp_path):
    cfg = dataclasses.replace(get_study("spinal").config("tiny"), dpo_lr=0.0)
    out = _trial(cfg, tmp_path)
    assert out["param_change"] == [0.0] * 3 and out["pref_accuracy"] == 0.0  # every margin is exactly 0
    assert out["delta_alpha"] == [0.0] * 3 and out["delta_alpha_contrast"] == 0.0
    assert max(abs(v) for v in out["delta_transport"]) < 1e-9 and abs(out["kl_to_ref"]) < 1e-12
    assert out["class_mass_after"] == out["class_mass_before"]
    assert all(math.isfinite(v) and v > 0 for v in out["transport_before"])
    assert RunLog.read(tmp_path / "pretrain").num_rows > 0 and RunLog.read(tmp_path).num_rows > 0
    assert "alpha_after" in set(RunLog.read(tmp_path / "traces").column("metric").to_pylist())


def test_dpo_moves_mass_onto_the_preferred_class(tmp_path):
    cfg = dataclasses.replace(get_study("spinal").config("tiny"), dpo_lr=1e-2, dpo_steps=20)
    out = _trial(cfg, tmp_path)
    assert out["class_mass_after"] > out["class_mass_before"]
    assert out["pref_accuracy"] > 0.5 and out["kl_to_ref"] > 0 and out["param_change_final"] > 0


def test_thirds_contrast_and_config():
    traces = {m: torch.arange(6, dtype=torch.float64).numpy() + 1 for m in
              ("delta_alpha", "delta_alpha_alt", "delta_transport", "delta_cka", "param_change")}
    out = thirds(traces, 6)
    assert out["delta_alpha_first"] == 1.5 and out["delta_alpha_final"] == 5.5
    assert out["delta_alpha_contrast"] == 4.0
    assert out["param_change_log_ratio"] == pytest.approx(math.log(5.5 / 1.5))
    study = get_study("spinal")
    assert study.config("full") == SpinalConfig() and SpinalConfig().n_layer == 6
    assert list(study.arms) == ["dpo"] and not SpinalConfig().tie_weights and SpinalConfig().beta == 0.1
