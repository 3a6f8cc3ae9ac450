"""Study ``reversible-memory``: activation memory of a reversible MBConv3d stack against the plain stack.

Memory Efficient 3D U-Net with Reversible Mobile Inverted Bottlenecks for Brain Tumor Segmentation
(Pendse et al., 2021, arXiv 2104.09648). Reversible couplings ``y1 = x1 + F(x2), y2 = x2 + G(y1)``
with MBConv3d blocks as F and G keep no block input for the backward pass (it is rebuilt from the
output), so activation memory stops growing with depth; the paper claims that under a fixed memory
budget this fits about 3x larger input volumes (or 25% more depth, or 2x the channels) than the
non-reversible network. Tiny reproduction (shared/papers/SPECS-A.md, paper 3):

1. exactness: eight couplings, 8 channels, input 1x8x32^3 in float64; parameter and input
   gradients of the reversible engine against plain autograd with the same weights and input
   (``grad_rel_diff``: the largest difference over the largest gradient; ``grad_abs_diff`` the
   spec's max-abs form), and the input rebuilt from the output (``recon_error``);
2. memory against depth: saved-tensor bytes of stacks of depth 2..32 on a 16^3 cube;
3. claim proxy: the largest cube side whose training step fits a 256 MiB activation budget at
   depth 8, and the volume ratio (s_rev / s_plain)^3.

Memory of a training step, as measured here (``layerwise.nn.saved_tensor_bytes``, CPU-safe):

* plain stack: the bytes autograd saves during the forward pass;
* reversible stack: the same (the stack's output streams only), plus the working set of the
  backward pass, which recomputes one MBConv3d at a time with autograd on: the larger of what one
  call of F and one call of G saves. The paper's U-Net also stores its non-reversible down/
  upsampling and skips; a bare stack has none, so the volume ratio here is an upper bound on the
  paper's 3x.

Every saved tensor has a fixed number of channels per voxel, so the bytes are affine in the voxel
count; the largest cube side comes from that fit (two measured sides) and is then checked by
measuring at the side found and the next one up.

Verdict (deterministic: exact measurements, one seed; seeds change only the initial weights). The
claim holds iff

* ``depth_growth`` (memory at depth 32 over depth 2) of the reversible stack < 1.2: flat in depth
  (measured 1.0: the output streams and one block's working set do not depend on depth; 1.2
  allows under 1.5% of the depth-2 memory per added coupling, while plain autograd adds 50%);
* ``depth_growth`` of the plain stack > 2: it stores every coupling's activations, so 16x the
  depth gives 16x the bytes (measured 16.0); 2 only asks that the measurement sees the growth;
* ``grad_rel_diff`` < 1e-8: the spec's float64 exactness bound (measured about 3e-15);
* ``volume_ratio`` >= 3: the paper's "3x larger input volumes" under the same budget (measured
  about 15 for the bare stack, which keeps no non-reversible tensors; see above).

Each run writes a RunLog: memory per depth (``step`` = depth), memory per measured cube side, and
the exactness numbers. Cost (1 thread): both arms at full size took 26 CPU-seconds on the shared
2-core box (11 s user, 15 s system allocating the largest cubes), under one CPU-minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from layerwise.monitor import RunLog
from layerwise.nn import mbconv3d_stack, saved_tensor_bytes
from layerwise.studies._rules import Check, Deterministic
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

MIB = 2**20


@dataclass(frozen=True)
class ReversibleMemoryConfig:
    """Paper-3 tiny reproduction (full): 8 channels, expand 4, depths 2..32 on a 16^3 cube, 256 MiB
    budget; exactness on 8 couplings and a 32^3 cube in float64.

    ``cube_depth``: the stack depth of the largest-cube search (the spec's 8-block stack);
    ``fit_sides``: the two cube sides measured to fit bytes = a * side^3 + b;
    ``reversible``: the arm's stack runs on the reversible engine.
    """

    channels: int = 8
    expand: int = 4
    side: int = 16
    depths: tuple[int, ...] = (2, 4, 8, 16, 32)
    cube_depth: int = 8
    budget_mib: float = 256.0
    fit_sides: tuple[int, ...] = (8, 12)
    max_side: int = 512
    grad_depth: int = 8
    grad_side: int = 32
    grad_dtype: str = "float64"
    reversible: bool = False


def step_bytes(channels: int, depth: int, side: int, *, expand: int, reversible: bool) -> int:
    """Activation bytes one training step of the stack holds at once (see the module docstring)."""
    stack = mbconv3d_stack(channels, depth, expand=expand, reversible=reversible).train()
    x = torch.randn(1, channels, side, side, side, requires_grad=True)
    saved = saved_tensor_bytes(stack, x)
    if not reversible:
        return saved
    block = stack.blocks[0]
    half = x.detach()[:, : channels // 2].requires_grad_(True)
    return saved + max(saved_tensor_bytes(block.f, half), saved_tensor_bytes(block.g, half))


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


def exactness(cfg: ReversibleMemoryConfig, generator: torch.Generator) -> dict[str, float]:
    """Gradients of the reversible engine against plain autograd (same weights, input and output
    weighting), and the input rebuilt from the output, in ``cfg.grad_dtype``."""
    dtype = getattr(torch, cfg.grad_dtype)
    stack = mbconv3d_stack(cfg.channels, cfg.grad_depth, expand=cfg.expand).train().to(dtype)
    shape = (1, cfg.channels, cfg.grad_side, cfg.grad_side, cfg.grad_side)
    x0 = torch.randn(shape, generator=generator, dtype=dtype)
    w = torch.randn(shape, generator=generator, dtype=dtype)
    grads = []
    for reversible in (True, False):
        stack.reversible = reversible
        x = x0.clone().requires_grad_(True)
        stack.zero_grad(set_to_none=True)
        (stack(x) * w).sum().backward()
        grads.append([x.grad, *(p.grad for p in stack.parameters())])
    diff = max(float((a - b).abs().max()) for a, b in zip(*grads, strict=True))
    scale = max(float(b.abs().max()) for b in grads[1])
    with torch.no_grad():
        rebuilt = stack.eval().inverse(stack(x0))
    return {"grad_rel_diff": diff / max(scale, 1e-300), "grad_abs_diff": diff,
            "recon_error": float((rebuilt - x0).abs().max() / x0.abs().max())}


def cube_side(cfg: ReversibleMemoryConfig, reversible: bool, log: RunLog | None = None) -> int:
    """The largest cube side of a ``cube_depth`` stack within the budget (measurements logged)."""

    def measure(side: int) -> int:
        return step_bytes(cfg.channels, cfg.cube_depth, side, expand=cfg.expand, reversible=reversible)

    side, seen = largest_side(measure, budget=cfg.budget_mib * MIB, fit_sides=cfg.fit_sides,
                              max_side=cfg.max_side)
    if log is not None:
        for s, nbytes in sorted(seen.items()):
            log.log(s, "cube", "memory_mib_at_side", nbytes / MIB)
    return side


class ReversibleMemory(Study):
    """Reversible vs plain MBConv3d stacks: memory against depth, largest cube, exact gradients."""

    name = "reversible-memory"
    paper = "Memory Efficient 3D U-Net with Reversible Mobile Inverted Bottlenecks (Pendse et al., 2021)"
    arxiv = "2104.09648"
    claim = ("Reversible MBConv3d couplings keep activation memory flat in depth with gradients equal to "
             "plain autograd's, so under a fixed budget (256 MiB, 8 couplings) they fit at least 3x the "
             "input volume of the plain stack (the paper's U-Net figure); tested on a bare stack, which has "
             "no non-reversible layers and so overstates the paper's ratio")
    Config = ReversibleMemoryConfig
    arms = {"plain": {}, "reversible": {"reversible": True}}
    rule = Deterministic(checks=(Check("depth_growth", "<", 1.2, "reversible"),
                                 Check("depth_growth", ">", 2.0, "plain"),
                                 Check("grad_rel_diff", "<", 1e-8, "reversible"),
                                 Check("volume_ratio", ">=", 3.0, "reversible")))
    seeds = {"tiny": 1, "smoke": 1, "full": 1}
    sizes = {
        "tiny": dict(channels=4, expand=2, side=4, depths=(1, 2, 4), cube_depth=2, budget_mib=0.5,
                     fit_sides=(3, 4), max_side=64, grad_depth=2, grad_side=4),
        "smoke": dict(side=8, depths=(2, 4, 8), cube_depth=4, budget_mib=16.0, fit_sides=(4, 6),
                      grad_side=8),
    }

    def trial(self, cfg: ReversibleMemoryConfig, t: Trial) -> dict[str, float]:
        result: dict[str, float] = {}
        with t.runlog() as log:
            for depth in cfg.depths:
                nbytes = step_bytes(cfg.channels, depth, cfg.side, expand=cfg.expand,
                                    reversible=cfg.reversible)
                result[f"mib_depth_{depth}"] = nbytes / MIB
                log.log_scalars(depth, memory_mib=nbytes / MIB)
            first, last = cfg.depths[0], cfg.depths[-1]
            result["depth_growth"] = result[f"mib_depth_{last}"] / result[f"mib_depth_{first}"]
            result["largest_side"] = float(cube_side(cfg, cfg.reversible, log))
            if cfg.reversible:  # the engine's checks, and the volume against the plain stack's
                result.update(exactness(cfg, t.generator(1)))
                result["volume_ratio"] = (result["largest_side"] / cube_side(cfg, reversible=False)) ** 3
            else:  # no engine: nothing to check
                result.update(grad_rel_diff=math.nan, grad_abs_diff=math.nan, recon_error=math.nan,
                              volume_ratio=math.nan)
            log.log_scalars(cfg.cube_depth, **{k: v for k, v in result.items() if not k.startswith("mib")})
        return result

    def sections(self, cfg: ReversibleMemoryConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
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
                        text="Saved-tensor bytes of one step (reversible: plus the working set of "
                             "one MBConv3d's recomputation).")]
