"""depth-usage: halves without block 0, the skip log-ratio, the LNS arm really scales, depth rows."""

import math

import numpy as np
import pytest

from layerwise import RunLog
from layerwise.depth.usage import DepthUsage
from layerwise.nn import DepthScaledNorm
from layerwise.studies import get_study, run_study
from layerwise.studies.depth_usage import DepthUsageConfig, _gpt, depth_measures


def _usage(block: list[float]) -> DepthUsage:
    n = len(block)
    ones = np.ones(n)
    return DepthUsage(tuple(f"blocks.{i}" for i in range(n)), attn_contrib=ones, mlp_contrib=ones,
                      block_contrib=np.array(block), attn_cos=ones, mlp_cos=ones, angular=ones)


def test_halves_leave_block_0_out_and_skip_rows_are_averaged_per_row():
    # 6 blocks: first half = blocks 1, 2; second half = blocks 3, 4, 5; block 0 (100) is ignored
    usage = _usage([100.0, 1.0, 3.0, 1.0, 1.0, 1.0])
    future = np.full((6, 6), np.nan)
    for s in range(5):
        future[s, s + 1:] = 0.5 if s < 3 else 0.25  # first-half rows 0.5, second-half rows 0.25
    future[1, 5] = 2.5  # row 1's mean is (4 * 0.5 + 2.5 - 0.5) / 4 = 1.0
    removal = np.array([9.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    m = depth_measures(usage, future, removal)
    assert m["log_second_first"] == pytest.approx(math.log(1.0 / 2.0))
    assert m["second_first_ratio_all"] == pytest.approx(1.0 / (104.0 / 3))
    assert m["block0_contrib"] == 100.0 and m["log_second_first_attn"] == 0.0
    # first-half rows (1, 2): means 1.0 and 0.5; second-half rows (3, 4; row 5 has no later block): 0.25
    assert m["skip_future_log_ratio"] == pytest.approx(math.log(0.25 / 0.75))
    assert m["removal_first_half"] == 1.0 and m["removal_second_half"] == 0.5 and m["removal_block0"] == 9.0


def test_lns_arm_is_a_config_delta_that_scales_the_norms():
    study = get_study("depth-usage")
    assert study.config("full") == DepthUsageConfig()
    lns, pre = study.config("tiny", arm="lns"), study.config("tiny", arm="pre-ln")
    assert lns.layernorm_scaling and not pre.layernorm_scaling
    assert isinstance(_gpt(lns, lns.n_layer).blocks[1].ln1, DepthScaledNorm)
    assert not isinstance(_gpt(pre, pre.n_layer).blocks[1].ln1, DepthScaledNorm)
    assert study.rule.arm == "pre-ln" and study.rule.better == "lower" and study.rule.min_effect > 0


def test_tiny_run_logs_depth_rows_and_the_last_block_has_no_future_effect(tmp_path):
    verdict = run_study("depth-usage", size="tiny", out=tmp_path, progress=False, report=False)
    for arm in ("pre-ln", "lns"):
        assert len(verdict.details["block_contrib"][arm]) == 4
        assert math.isfinite(verdict.details["log_second_first"][arm])
    table = RunLog.read(tmp_path / "runs" / "lns-s0" / "depth")
    rows = list(zip(table["step"].to_pylist(), table["layer"].to_pylist(), table["metric"].to_pylist(),
                    table["value"].to_pylist(), strict=True))
    logged = {(la, me) for st, la, me, _ in rows if st == 8}
    assert {(f"blocks.{i}", "block_contrib") for i in range(4)} <= logged
    # the last block cannot change future positions: its skip output effect is exactly zero
    assert [v for _, la, me, v in rows if la == "blocks.3" and me == "skip_output_effect"] == [0.0]


def test_linear_map_trains_a_shallow_model(tmp_path):
    verdict = run_study("depth-usage", size="tiny", out=tmp_path, progress=False, report=False,
                        overrides={"linear_map": True})
    assert verdict.mode == "custom"
    for arm in ("pre-ln", "lns"):
        assert 0.0 <= verdict.details["map_rel_depth_err"][arm] <= 1.0
    assert RunLog.read(tmp_path / "runs" / "pre-ln-s0" / "shallow").num_rows > 0
