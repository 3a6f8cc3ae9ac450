"""Reversible engine: exact gradients against plain autograd, reconstruction, RNG replay, memory."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch import nn

from layerwise._registry import get
from layerwise.nn.mbconv3d import mbconv3d_stack
from layerwise.nn.memory import saved_tensor_bytes
from layerwise.nn.reversible import (
    CouplingStep,
    RevCoupling,
    ReversibleSequence,
    apply_steps,
    invert_steps,
    reversible_apply,
)

D = torch.float64


def _grads(module: nn.Module, x: torch.Tensor, seed: int = 1):
    """Input and parameter gradients of a fixed weighted sum of the output, with a fixed seed."""
    torch.manual_seed(seed)
    module.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    y = module(x)
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    (y * weights).sum().backward()
    return [x.grad, *(p.grad for p in module.parameters())]


def _max_diff(a, b) -> float:
    return max((u - v).abs().max().item() for u, v in zip(a, b, strict=True))


def _mlp_coupling(width: int, dropout: float = 0.0) -> RevCoupling:
    def half():
        return nn.Sequential(
            nn.Linear(width, 2 * width), nn.Tanh(), nn.Dropout(dropout), nn.Linear(2 * width, width)
        )

    return RevCoupling(half(), half(), dim=-1)


def test_mbconv_stack_gradients_equal_plain_autograd_float64():
    seq = mbconv3d_stack(8, depth=4, expand=2).to(D)
    x = torch.randn(2, 8, 5, 5, 5, dtype=D)
    rev = _grads(seq, x)
    seq.reversible = False
    plain = _grads(seq, x)
    assert all(g is not None for g in rev)
    assert _max_diff(rev, plain) < 1e-8


def test_coupling_and_sequence_inverse_reconstruct_input_float64():
    seq = ReversibleSequence([_mlp_coupling(6) for _ in range(5)]).to(D)
    x = torch.randn(4, 12, dtype=D)
    with torch.no_grad():
        assert (seq.blocks[0].inverse(seq.blocks[0](x)) - x).abs().max() < 1e-10
        assert (seq.inverse(seq(x)) - x).abs().max() < 1e-10


def test_engine_rebuilds_inputs_in_backward():
    seq = ReversibleSequence([_mlp_coupling(4) for _ in range(3)]).to(D)
    seen = []
    seq.blocks[0].f.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    x = torch.randn(3, 8, dtype=D, requires_grad=True)
    seq(x).sum().backward()
    forward_x2, rebuilt_x2 = seen  # F of block 0 sees x2 in forward and its rebuilt copy in backward
    assert torch.equal(forward_x2, x.detach()[:, 4:]) and (rebuilt_x2 - forward_x2).abs().max() < 1e-10


def test_dropout_gradients_identical_thanks_to_rng_replay():
    seq = ReversibleSequence([_mlp_coupling(6, dropout=0.3) for _ in range(4)]).to(D)
    x = torch.randn(5, 12, dtype=D)
    rev = _grads(seq, x, seed=7)
    after_rev = torch.get_rng_state()
    seq.reversible = False
    plain = _grads(seq, x, seed=7)
    assert _max_diff(rev, plain) < 1e-8
    assert torch.equal(after_rev, torch.get_rng_state())  # backward leaves the caller's RNG untouched
    seq.reversible, seq.preserve_rng_state = True, False
    assert _max_diff(_grads(seq, x, seed=7), plain) > 1e-3  # without the replay, the masks differ


def test_saved_bytes_flat_in_depth_and_plain_in_eval():
    x = torch.randn(1, 8, 6, 6, 6, requires_grad=True)
    rev = {d: saved_tensor_bytes(mbconv3d_stack(8, d, expand=2), x) for d in (2, 8, 16)}
    assert max(rev.values()) - min(rev.values()) <= x.nelement() * x.element_size()
    assert rev[16] <= 2 * x.nelement() * x.element_size()
    seq = mbconv3d_stack(8, 2, expand=2).eval()
    assert saved_tensor_bytes(seq, x) > 10 * rev[2]  # eval mode runs plain autograd


class _Gate(nn.Module):
    """Two-source function ``Linear(a) * tanh(b)``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, a, b):
        return self.lin(a) * torch.tanh(b)


class _Gain(nn.Module):
    """A scale with entries of both signs."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor([0.7, -1.3, 0.9, 1.1]))

    def forward(self):
        return self.gain


def test_scaled_steps_shared_parameters_and_constant_streams():
    shared, gate, scale = nn.Linear(4, 4).to(D), _Gate().to(D), _Gain().to(D)
    steps = [
        CouplingStep(shared, 1, (0,)),
        CouplingStep(gate, 2, (0, 1), scale=scale),
        CouplingStep(shared, 1, (2,), scale=scale),  # shared fn and scale; stream 0 is never written
    ]
    x0, x1, x2 = (torch.randn(3, 4, dtype=D, requires_grad=True) for _ in range(3))
    params = [*shared.parameters(), *gate.parameters(), *scale.parameters()]

    def grads(run):
        outs = run(steps, [x0, x1, x2])
        loss = sum((o * torch.arange(o.numel(), dtype=D).view_as(o)).sum() for o in outs)
        return torch.autograd.grad(loss, [x0, x1, x2, *params])

    assert _max_diff(grads(reversible_apply), grads(apply_steps)) < 1e-8
    with torch.no_grad():
        rebuilt = invert_steps(steps, apply_steps(steps, [x0, x1, x2]))
    assert _max_diff(rebuilt, [x0, x1, x2]) < 1e-10


@pytest.mark.parametrize("module", ["reversible", "mbconv3d", "revcol", "memory"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"layerwise.nn.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_validation_and_registry():
    with pytest.raises(ValueError, match="both the target and a source"):
        CouplingStep(nn.Identity(), 0, (0,))
    with pytest.raises(TypeError, match="RevCoupling"):
        ReversibleSequence([nn.Linear(2, 2)])
    with pytest.raises(IndexError):
        reversible_apply([CouplingStep(nn.Identity(), 3, (0,))], [torch.zeros(1)])
    assert get("reversible_sequence").arxiv == "1707.04585"
    assert get("rev_coupling").kind == "module"
