"""clip_per_layer and normalize_per_layer against golden values and a naive per-element loop."""

import math

import pytest
import torch

from layerwise.transforms import CLIP_MODES, by_module, clip_per_layer, normalize_per_layer


def _fixed():
    return {
        "a": torch.tensor([3.0, 4.0]),  # norm 5, d 2
        "b": torch.tensor([[0.0, 0.0, 0.6], [0.8, 0.0, 0.0]]),  # norm 1, d 6
        "c": torch.zeros(4),  # norm 0, d 4; L = 3, D = 12, global norm sqrt(26)
    }


S3 = 1 / math.sqrt(3)
GOLDEN = {  # C = 2, computed by hand from the formulas of the module docstring
    "per_tensor": {"a": [1.2, 1.6], "b": [0.0, 0.0, 0.6, 0.8, 0.0, 0.0]},
    "global": {"a": [6 / math.sqrt(26), 8 / math.sqrt(26)],
               "b": [0.0, 0.0, 1.2 / math.sqrt(26), 1.6 / math.sqrt(26), 0.0, 0.0]},
    "uniform": {"a": [1.2 * S3, 1.6 * S3], "b": [0.0, 0.0, 1.2 * S3, 1.6 * S3, 0.0, 0.0]},
    "per_dimension": {"a": [0.6 * 2 * math.sqrt(2 / 12), 0.8 * 2 * math.sqrt(2 / 12)],
                      "b": [0.0, 0.0, 0.6 * 2 * math.sqrt(0.5), 0.8 * 2 * math.sqrt(0.5), 0.0, 0.0]},
}


def _run(t, g):
    return t.update(g, t.init(g), g)[0]


def naive_clip(grads, C, mode, group=None):
    """One Python float at a time: layers, norms, factors, products."""
    layer_of = {n: (group(n) if group else n) for n in grads}
    layers = list(dict.fromkeys(layer_of.values()))
    flat = {n: [float(v) for v in g.reshape(-1)] for n, g in grads.items()}
    sq = {lay: 0.0 for lay in layers}
    size = {lay: 0 for lay in layers}
    for n, vals in flat.items():
        for v in vals:
            sq[layer_of[n]] += v * v
        size[layer_of[n]] += len(vals)
    norm = {lay: math.sqrt(s) for lay, s in sq.items()}
    total = math.sqrt(sum(sq.values()))
    D = sum(size.values())
    factor = {}
    for lay in layers:
        if mode == "per_tensor":
            factor[lay] = 1.0 if norm[lay] <= C else C / norm[lay]
        elif mode == "global":
            factor[lay] = 1.0 if total <= C else C / total
        elif total < C or norm[lay] == 0:
            factor[lay] = 1.0
        elif mode == "uniform":
            factor[lay] = C / math.sqrt(len(layers)) / norm[lay]
        else:
            factor[lay] = C * math.sqrt(size[lay] / D) / norm[lay]
    return {n: torch.tensor([v * factor[layer_of[n]] for v in vals]).reshape(grads[n].shape)
            for n, vals in flat.items()}


@pytest.mark.parametrize("mode", CLIP_MODES)
def test_golden_values(mode):
    out = _run(clip_per_layer(C=2.0, mode=mode), _fixed())
    for name, expected in GOLDEN[mode].items():
        torch.testing.assert_close(out[name].reshape(-1), torch.tensor(expected), rtol=1e-6, atol=1e-7)
    assert torch.equal(out["c"], torch.zeros(4))  # a zero layer stays zero in every mode


@pytest.mark.parametrize("mode", CLIP_MODES)
@pytest.mark.parametrize("C", [0.05, 1.0, 100.0])
@pytest.mark.parametrize("grouped", [False, True])
def test_matches_naive_loop(mode, C, grouped):
    gen = torch.Generator().manual_seed(1)
    grads = {
        "l0.weight": torch.randn(4, 3, generator=gen),
        "l0.bias": torch.randn(4, generator=gen) * 0.01,
        "l1.weight": torch.randn(2, 4, generator=gen) * 3,
        "l1.bias": torch.randn(2, generator=gen),
    }
    group = by_module if grouped else None
    out = _run(clip_per_layer(C=C, mode=mode, group=group), grads)
    expected = naive_clip(grads, C, mode, group)
    for n in grads:
        torch.testing.assert_close(out[n], expected[n], rtol=1e-5, atol=1e-7)


def test_global_matches_clip_grad_norm_():
    params = [torch.nn.Parameter(torch.zeros(5, 3)), torch.nn.Parameter(torch.zeros(7))]
    for p in params:
        p.grad = torch.randn(p.shape) * 4
    grads = {str(i): p.grad.clone() for i, p in enumerate(params)}
    torch.nn.utils.clip_grad_norm_(params, max_norm=1.5)
    out = _run(clip_per_layer(C=1.5, mode="global"), grads)
    for i, p in enumerate(params):
        torch.testing.assert_close(out[str(i)], p.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["uniform", "per_dimension"])
def test_normalising_modes_set_global_norm_to_C_and_leave_small_gradients(mode):
    grads = {"a": torch.randn(10) * 5, "b": torch.randn(3, 3) * 1e-3, "c": torch.randn(2)}
    out = _run(clip_per_layer(C=1.0, mode=mode), grads)
    total = torch.sqrt(sum(g.square().sum() for g in out.values()))
    assert total.item() == pytest.approx(1.0, rel=1e-5)
    assert out["b"].norm() > grads["b"].norm()  # small layers are amplified
    small = {k: v * 1e-4 for k, v in grads.items()}
    out = _run(clip_per_layer(C=1.0, mode=mode), small)
    assert all(torch.equal(out[k], small[k]) for k in small)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        clip_per_layer(1.0, mode="nope")
    with pytest.raises(ValueError, match="> 0"):
        clip_per_layer(0.0)
    assert _run(clip_per_layer(), {}) == {}


def test_normalize_per_layer_unit_norm_and_trust_ratio():
    grads = {"l.weight": torch.randn(3, 3) * 7, "l.bias": torch.randn(3) * 1e-3, "z": torch.zeros(2)}
    out = _run(normalize_per_layer(scale=0.5), grads)
    assert [round(out[k].norm().item(), 5) for k in grads] == [0.5, 0.5, 0.0]
    w_out, w_in = out["l.weight"], grads["l.weight"]
    torch.testing.assert_close(w_out / w_out.norm(), w_in / w_in.norm())  # direction kept
    grouped = _run(normalize_per_layer(group=by_module), grads)
    both = torch.cat([grouped["l.weight"].reshape(-1), grouped["l.bias"]])
    assert both.norm().item() == pytest.approx(1.0, rel=1e-6)
    params = {"l.weight": torch.full((3, 3), 2.0), "l.bias": torch.zeros(3), "z": torch.ones(2)}
    t = normalize_per_layer(trust_ratio=True)
    out, _ = t.update(grads, t.init(params), params)
    assert out["l.weight"].norm().item() == pytest.approx(6.0, rel=1e-5)  # ||w|| = 2 * 3
    assert out["l.bias"].norm().item() == pytest.approx(1.0, rel=1e-5)  # zero weights: ratio 1


def test_one_transform_handles_changing_gradient_sets():
    t = clip_per_layer(C=0.3, mode="per_dimension", group=by_module)
    full = {"l.weight": torch.randn(3, 2), "l.bias": torch.randn(3), "m.weight": torch.randn(4)}
    subset = {"m.weight": full["m.weight"], "l.bias": full["l.bias"]}  # l.weight lost its gradient
    for grads in (full, subset, full):
        out, _ = t.update(grads, {}, grads)
        expected = naive_clip(grads, 0.3, "per_dimension", by_module)
        for n in grads:
            torch.testing.assert_close(out[n], expected[n], rtol=1e-5, atol=1e-7)
