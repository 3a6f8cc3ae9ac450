"""reversible-memory: flat memory for the engine, linear for autograd, exact gradients, the cube search."""

import math

import torch

from layerwise import RunLog
from layerwise.nn import mbconv3d_stack, saved_tensor_bytes
from layerwise.studies import Deterministic, get_study, run_study
from layerwise.studies.reversible_memory import MIB, ReversibleMemoryConfig, largest_side, step_bytes


def test_tiny_memory_flat_for_reversible_linear_for_plain(tmp_path):
    verdict = run_study("reversible-memory", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    assert d["mib_depth_1"]["reversible"] == d["mib_depth_4"]["reversible"] > 0  # flat in depth
    assert d["depth_growth"]["plain"] == 4.0  # every coupling's activations: linear in depth
    assert d["largest_side"]["plain"] < d["largest_side"]["reversible"]
    assert math.isclose(d["volume_ratio"]["reversible"],
                        (d["largest_side"]["reversible"] / d["largest_side"]["plain"]) ** 3)
    assert d["grad_rel_diff"]["reversible"] < 1e-8 and d["recon_error"]["reversible"] < 1e-10
    assert math.isnan(d["grad_rel_diff"]["plain"])  # no engine to check
    assert "depth_growth[reversible] = 1 < 1.2: yes" in verdict.effect["summary"]
    table = RunLog.read(tmp_path / "runs" / "plain-s0")
    assert {"memory_mib", "memory_mib_at_side", "largest_side"} <= set(table.column("metric").to_pylist())


def test_the_rule_checks_memory_gradients_and_the_papers_volume_ratio():
    study = get_study("reversible-memory")
    assert study.config("full") == ReversibleMemoryConfig()
    assert study.config("full", arm="reversible").reversible
    assert not study.config("full", arm="plain").reversible
    assert isinstance(study.rule, Deterministic) and study.seeds["full"] == 1
    checks = {(c.arm, c.metric): (c.op, c.threshold) for c in study.rule.checks}
    assert checks[("reversible", "grad_rel_diff")] == ("<", 1e-8)
    assert checks[("reversible", "volume_ratio")] == (">=", 3.0)


def test_reversible_step_adds_one_recomputed_block():
    # the working set of the backward is one MBConv3d call (F and G are the same shape)
    stack = mbconv3d_stack(4, 3, expand=2, reversible=True).train()
    x = torch.randn(1, 4, 4, 4, 4, requires_grad=True)
    half = x.detach()[:, :2].requires_grad_(True)
    block = stack.blocks[0]
    f, g = saved_tensor_bytes(block.f, half), saved_tensor_bytes(block.g, half)
    assert f == g > 0
    flat = step_bytes(4, 3, 4, expand=2, reversible=True)
    assert flat == step_bytes(4, 6, 4, expand=2, reversible=True)  # depth-independent
    assert flat - f == saved_tensor_bytes(stack, x)


def test_largest_side_is_the_exact_boundary():
    def measure(side):
        return step_bytes(4, 2, side, expand=2, reversible=False)

    budget = 0.5 * MIB
    side, seen = largest_side(measure, budget=budget, fit_sides=(3, 4), max_side=64)
    assert measure(side) <= budget < measure(side + 1)
    # bytes are affine in the voxel count: the fit from sides 3 and 4 predicts side 6
    slope = (seen[4] - seen[3]) / (4**3 - 3**3)
    assert abs(seen[3] + slope * (6**3 - 3**3) - measure(6)) / measure(6) < 0.01
