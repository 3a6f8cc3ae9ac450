"""inflection-lora at a size that runs in seconds: verdict, arms, band placement and OVER saturation."""

import json
import math

import pytest
import torch

from layerwise import RunLog
from layerwise.nn import LoRALinear
from layerwise.studies import get_recipe, run_study

TINY = dict(n_layer="4", d_model="32", n_head="2", seq_len="16", n_source="256", n_target="128",
            n_test="128", under_steps="3", over_steps="40", ft_steps="10", probe_size="64", batch_size="32")


def test_smoke_run_writes_verdict_and_band_rows(tmp_path):
    verdict = run_study("inflection-lora", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "inflection-lora" and saved["verdict"] == "not-judged"
    assert list(saved["arms"]) == ["uniform-lora", "inflection-lora", "full-ft"]
    assert saved["treatment"] == "inflection-lora" and saved["metric"] == "target_acc"
    details = verdict["details"]
    for arm in saved["arms"]:
        (acc,) = saved["arms"][arm]["values"]
        assert 0.0 <= acc <= 1.0 and 0.0 <= details["under_target_acc"][arm] <= 1.0
        assert math.isfinite(details["grad_decay"][arm])
    # same LoRA parameter budget in both LoRA arms, far below full fine-tuning
    trainable = details["trainable"]
    assert trainable["uniform-lora"] == trainable["inflection-lora"] < trainable["full-ft"] / 4
    # OVER was trained 40 steps, UNDER 3: OVER's source predictions are more confident (saturated)
    assert details["src_entropy"]["full-ft"] < details["under_src_entropy"]["full-ft"]
    table = RunLog.read(tmp_path / "runs" / "inflection-lora-s0")
    band = [la for la, me, v in zip(table["layer"].to_pylist(), table["metric"].to_pylist(),
                                    table["value"].to_pylist(), strict=True) if me == "in_band" and v == 1.0]
    assert len(band) == 2
    metrics = set(table["metric"].to_pylist())
    assert {"grad_norm", "act_rms", "loss", "target_acc", "inflection_score"} <= metrics
    assert (tmp_path / "runs" / "inflection-lora-s0" / "under" / "metrics").is_dir()


@pytest.mark.parametrize("arm", ["uniform-lora", "inflection-lora"])
def test_lora_placement_and_budget(arm):
    from layerwise.studies.inflection_lora import _adapt, _model

    cfg = get_recipe("inflection-lora").make_config("smoke", dict(n_layer="6", d_model="16", n_head="2"))
    model = _model(cfg)
    _adapt(model, cfg, arm, [2, 3])
    placed = {name.split(".")[1] for name, m in model.named_modules() if isinstance(m, LoRALinear)}
    assert placed == ({"2", "3"} if arm == "inflection-lora" else {str(i) for i in range(6)})
    ranks = {m.r for m in model.modules() if isinstance(m, LoRALinear)}
    assert ranks == ({6} if arm == "inflection-lora" else {2})
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n_lora == 6 * 2 * sum(i + o for i, o in ((16, 48), (16, 16), (16, 64), (64, 16)))
    x = torch.randint(0, cfg.vocab, (2, 8))
    assert model(x).shape == (2, 8, cfg.vocab + 1)


def test_recipe_sizes():
    from layerwise.studies.inflection_lora import InflectionLoRAConfig

    recipe = get_recipe("inflection-lora")
    assert recipe.baseline == "uniform-lora" and recipe.better == "higher"
    assert recipe.make_config("full") == InflectionLoRAConfig()
    assert recipe.make_config("full").over_steps >= 30 * recipe.make_config("full").under_steps - 30
