"""Study ``reversible-memory``: activation memory of a reversible MBConv3d stack against the plain stack.

Memory Efficient 3D U-Net with Reversible Mobile Inverted Bottlenecks for Brain Tumor Segmentation
(Pendse et al., 2021, arXiv 2104.09648). Reversible couplings ``y1 = x1 + F(x2), y2 = x2 + G(y1)``
with MBConv3d blocks as F and G keep no block input for the backward pass (it is rebuilt from the
output), so activation memory stops growing with depth; the paper claims that under a fixed memory
budget this fits about 3x larger input volumes (or 25% more depth, or 2x the channels) than the
non-reversible network. Tiny reproduction (shared/papers/SPECS-A.md, paper 3): saved-tensor bytes
of stacks of depth 2..32 on a fixed cube, and the largest cube side whose training step fits a
256 MiB activation budget at depth 8.

Memory of a training step, as measured here (``layerwise.nn.saved_tensor_bytes``, CPU-safe):

* plain stack: the bytes autograd saves during the forward pass;
* reversible stack: the same (the stack's output streams only), plus the working set of the
  backward pass, which recomputes one MBConv3d at a time with autograd on: the bytes that one call
  of F saves. The paper's U-Net also stores its non-reversible down/upsampling and skips; a bare
  stack has none, so the volume ratio here is an upper bound on the paper's 3x.

Every saved tensor has a fixed number of channels per voxel, so the bytes are affine in the voxel
count; the largest cube side comes from that fit (two measured sides) and is then checked by
measuring at the side found and the next one up. Memory is deterministic: seeds only change the
initial weights, so the bootstrap interval is a point. Each run writes a RunLog whose rows are the
memory per depth (``step`` = depth) and per cube side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from layerwise.monitor import RunLog
from layerwise.nn import mbconv3d_stack, saved_tensor_bytes
from layerwise.studies.recipe import Recipe, study

ARMS = ("plain", "reversible")
MIB = 2**20


@dataclass(frozen=True)
class ReversibleMemoryConfig:
    """Paper-3 tiny reproduction (full): 8 channels, expand 4, depths 2..32 on a 16^3 cube, 256 MiB budget.

    ``cube_depth``: the stack depth of the largest-cube search (the spec's 8-block stack);
    ``fit_sides``: the two cube sides measured to fit bytes = a * side^3 + b.
    """

    channels: int = 8
    expand: int = 4
    side: int = 16
    depths: tuple[int, ...] = (2, 4, 8, 16, 32)
    cube_depth: int = 8
    budget_mib: float = 256.0
    fit_sides: tuple[int, ...] = (8, 12)
    max_side: int = 512


def step_bytes(channels: int, depth: int, side: int, *, expand: int, reversible: bool) -> int:
    """Activation bytes one training step of the stack holds at once (see the module docstring)."""
    stack = mbconv3d_stack(channels, depth, expand=expand, reversible=reversible).train()
    x = torch.randn(1, channels, side, side, side, requires_grad=True)
    saved = saved_tensor_bytes(stack, x)
    if not reversible:
        return saved
    f = stack.blocks[0].f
    half = x.detach()[:, : channels // 2].requires_grad_(True)
    return saved + saved_tensor_bytes(f, half)


def largest_side(measure, *, budget: float, fit_sides: tuple[int, ...], max_side: int) -> tuple[int, dict]:
    """Largest cube side ``s`` with ``measure(s) <= budget``, from an affine fit in ``s**3``, checked.

    Returns the side and the measurements taken ({side: bytes}).
    """
    seen = {s: measure(s) for s in fit_sides}
    (s0, m0), (s1, m1) = sorted(seen.items())[:2]
    slope = (m1 - m0) / (s1**3 - s0**3)
    side = int(math.floor(((budget - (m0 - slope * s0**3)) / slope) ** (1 / 3)))
    side = max(1, min(side, max_side))
    while side > 1 and _at(seen, measure, side) > budget:  # the fit overshot: step down
        side -= 1
    while side < max_side and _at(seen, measure, side + 1) <= budget:  # undershot: step up
        side += 1
    return side, seen


def _at(seen: dict, measure, side: int) -> int:
    if side not in seen:
        seen[side] = measure(side)
    return seen[side]


def run(cfg: ReversibleMemoryConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Measure one arm ("plain" or "reversible"): memory per depth, then the largest cube side."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    reversible = arm == "reversible"
    result: dict[str, float] = {}
    with RunLog(run_dir, meta={"study": "reversible-memory", "arm": arm, "seed": seed,
                               "config": vars(cfg)}) as log:
        for depth in cfg.depths:
            mib = step_bytes(cfg.channels, depth, cfg.side, expand=cfg.expand, reversible=reversible) / MIB
            log.log_scalars(depth, memory_mib=mib)
            result[f"mib_depth_{depth}"] = mib

        def measure(side: int) -> int:
            return step_bytes(cfg.channels, cfg.cube_depth, side, expand=cfg.expand, reversible=reversible)

        side, seen = largest_side(measure, budget=cfg.budget_mib * MIB, fit_sides=cfg.fit_sides,
                                  max_side=cfg.max_side)
        for s, nbytes in sorted(seen.items()):
            log.log(s, "cube", "memory_mib_at_side", nbytes / MIB)
        log.log_scalars(cfg.cube_depth, largest_side=side)
    result["largest_side"] = float(side)
    first, last = cfg.depths[0], cfg.depths[-1]
    result["depth_growth"] = result[f"mib_depth_{last}"] / result[f"mib_depth_{first}"]
    return result


def summarize(cfg: ReversibleMemoryConfig, results: dict[str, list[dict]]) -> dict:
    """Memory per depth, growth from the shallowest to the deepest stack, and the volume ratio."""
    base, treat = results["plain"][0], results["reversible"][0]
    return {
        "memory_mib_per_depth": {arm: {d: round(rows[0][f"mib_depth_{d}"], 3) for d in cfg.depths}
                                 for arm, rows in results.items()},
        "depth_growth": {arm: rows[0]["depth_growth"] for arm, rows in results.items()},
        "volume_ratio": (treat["largest_side"] / base["largest_side"]) ** 3,
        "memory_ratio_at_deepest": base[f"mib_depth_{cfg.depths[-1]}"] / treat[f"mib_depth_{cfg.depths[-1]}"],
        "paper_volume_ratio": 3.0,
    }


def sections(cfg: ReversibleMemoryConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
    """A figure of activation memory against depth for both stacks."""
    from matplotlib.figure import Figure

    from layerwise.report import Section

    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    for arm, rows in results.items():
        ax.plot(cfg.depths, [rows[0][f"mib_depth_{d}"] for d in cfg.depths], marker="o", label=arm)
    ax.set(xlabel="couplings (depth)", ylabel="MiB per step", xscale="log", yscale="log",
           title=f"Activation memory, {cfg.side}^3 cube, {cfg.channels} channels")
    ax.legend()
    return [Section("Memory against depth", figures=(fig,),
                    text="Saved-tensor bytes of one step (reversible: plus one MBConv3d's recomputation).")]


RECIPE = study(Recipe(
    name="reversible-memory",
    paper="Memory Efficient 3D U-Net with Reversible Mobile Inverted Bottlenecks (Pendse et al., 2021)",
    arxiv="2104.09648",
    claim="Reversible MBConv3d couplings keep activation memory flat in depth, so under a fixed budget "
          "(256 MiB, 8 couplings) they fit a larger input cube than the plain stack (paper: about 3x the "
          "volume in a full U-Net); tested on the largest cube side of a bare stack, which has no "
          "non-reversible layers and so overstates the paper's ratio",
    metric="largest_side",
    better="higher",
    arms=ARMS,
    config=ReversibleMemoryConfig,
    run=run,
    summarize=summarize,
    sections=sections,
    smoke=dict(side=8, depths=(2, 4, 8), cube_depth=4, budget_mib=16.0, fit_sides=(4, 6)),
    full={},
    seeds=3,
    smoke_seeds=1,
))
