"""Level Set Traversal: the source confidence stays within pthresh at every iterate, exact geometry on
a linear model, the batch-mean adversarial term, refusals; SSIM against a naive formula."""

import doctest
import importlib

import pytest
import torch
from torch import nn

import layerwise.analysis.level_set as level_set_module
from layerwise import list_methods
from layerwise.analysis import level_set_traversal, path_confidence, ssim, triangle_confidence
from layerwise.analysis.level_set import confidence

ssim_module = importlib.import_module("layerwise.analysis.ssim")  # the package's `ssim` is the function


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3)).double()


def _pairs(model, n=6):
    """Sources and targets of different predicted classes (rows of random images in [0, 1])."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(200, 16, generator=g, dtype=torch.float64)
    pred = model(x).argmax(1)
    src = torch.nonzero(pred == pred[0]).flatten()[:n]
    tgt = torch.nonzero(pred != pred[0]).flatten()[:n]
    return x[src], pred[src], x[tgt], pred[tgt]


def test_source_confidence_stays_within_pthresh_at_every_iterate_and_the_walk_nears_the_target():
    model = _mlp()
    xs, ys, xt, yt = _pairs(model)
    out = level_set_traversal(model, xs, ys, xt, y_target=yt, step=0.05, iters=60, pthresh=0.05,
                              generator=torch.Generator().manual_seed(0))
    assert out.trace.shape == (out.iterations + 1, len(xs))
    assert torch.allclose(out.initial, confidence(model, xs, ys))
    assert (out.initial[None] - out.trace < 0.05).all()  # every iterate, the start included
    assert torch.allclose(out.final_confidence, confidence(model, out.final, ys))
    assert (out.accepted > 0).all()
    before, after = (xs - xt).norm(dim=1), (out.final - xt).norm(dim=1)
    assert (after < 0.8 * before).all()  # every row got at least 20% closer to its target
    assert out.final.min() >= 0 and out.final.max() <= 1


def test_on_a_two_class_linear_model_the_level_set_is_a_hyperplane_walked_exactly():
    """p_y depends only on (w1 - w0) . x: the step removes that component, so the confidence is
    constant and the rest of x - x_t shrinks by (1 - step) per iteration (no noise, no adversarial
    term, points well inside the box so that nothing is clipped)."""
    torch.manual_seed(0)
    model = nn.Linear(4, 2).double()
    g = torch.Generator().manual_seed(2)
    xs, xt = 0.4 + 0.2 * torch.rand(3, 4, generator=g, dtype=torch.float64), \
        0.4 + 0.2 * torch.rand(3, 4, generator=g, dtype=torch.float64)
    ys = torch.zeros(3, dtype=torch.long)
    out = level_set_traversal(model, xs, ys, xt, y_target=1 - ys, step=0.1, iters=10, adv_step=0.0,
                              noise=0.0)
    assert out.iterations == 10 and (out.accepted == 10).all()
    assert torch.allclose(out.trace, out.initial.expand_as(out.trace), atol=1e-12)
    u = (model.weight[1] - model.weight[0]) / (model.weight[1] - model.weight[0]).norm()
    d0, d = xs - xt, out.final - xt
    assert torch.allclose(d @ u, d0 @ u, atol=1e-12)  # the along-gradient part is untouched
    perp0, perp = d0 - (d0 @ u)[:, None] * u, d - (d @ u)[:, None] * u
    assert torch.allclose(perp, 0.9**10 * perp0, atol=1e-12)


def test_the_adversarial_term_uses_the_batch_mean_gradient():
    """As in the official code: duplicating a row halves its adversarial term, never its null step."""
    model = _mlp()
    xs, ys, xt, yt = _pairs(model, n=1)

    def run(copies, adv_step):
        out = level_set_traversal(model, xs.repeat(copies, 1), ys.repeat(copies), xt.repeat(copies, 1),
                                  y_target=yt.repeat(copies), step=0.05, iters=5, adv_step=adv_step,
                                  noise=0.0, pthresh=1.0)
        return out.final[0]

    assert torch.allclose(run(1, 0.0), run(2, 0.0), atol=1e-12)
    assert not torch.allclose(run(1, 0.05), run(2, 0.05), atol=1e-9)


def test_same_class_targets_empty_inputs_and_bad_settings_are_refused():
    model = _mlp()
    xs, ys, xt, yt = _pairs(model, n=2)
    with pytest.raises(ValueError, match="y_target must differ from y_source in every row: row 1"):
        level_set_traversal(model, xs, ys, xt, y_target=torch.stack([yt[0], ys[1]]))
    with pytest.raises(ValueError, match="y_target must differ"):  # default: the predicted class
        level_set_traversal(model, xs, ys, xs.flip(0))
    with pytest.raises(ValueError, match="non-empty batch"):
        level_set_traversal(model, xs[:0], ys[:0], xt[:0])
    with pytest.raises(ValueError, match=r"x_target must lie in \[0, 1\]"):
        level_set_traversal(model, xs, ys, xt + 2)
    with pytest.raises(ValueError, match="x_target must have the shape"):
        level_set_traversal(model, xs, ys, xt[:1])
    for bad, match in [({"step": 0.0}, r"step must be in \(0, 1\]"),
                       ({"pthresh": 1.5}, r"pthresh must be in \(0, 1\]"),
                       ({"iters": 0}, "iters must be an int >= 1"),
                       ({"adv_step": -1e-3}, r"adv_step must be in \[0, 1\]")]:
        with pytest.raises(ValueError, match=match):
            level_set_traversal(model, xs, ys, xt, y_target=yt, **bad)


def test_path_and_triangle_confidence_read_the_endpoints_and_count_the_grid():
    model = _mlp()
    xs, ys, xt, _ = _pairs(model, n=3)
    path = path_confidence(model, xs, xt, ys, points=5)
    assert path.shape == (5, 3)
    assert torch.allclose(path[0], confidence(model, xs, ys))
    assert torch.allclose(path[-1], confidence(model, xt, ys))
    tri = triangle_confidence(model, xs, xt, xt.flip(0), ys, grid=10)
    assert tri.shape == (66, 3)  # (10 + 1)(10 + 2) / 2 barycentric points
    assert torch.allclose(tri[0], confidence(model, xs, ys))  # i = j = 0 is the source


def _naive_ssim(a, b, w):
    """Per-image SSIM by explicit loops over channels and window positions."""
    k = w.shape[0]
    out = []
    for n in range(a.shape[0]):
        vals = []
        for c in range(a.shape[1]):
            for i in range(a.shape[2] - k + 1):
                for j in range(a.shape[3] - k + 1):
                    pa, pb = a[n, c, i:i + k, j:j + k], b[n, c, i:i + k, j:j + k]
                    ma, mb = (w * pa).sum(), (w * pb).sum()
                    va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
                    cov = (w * (pa - ma) * (pb - mb)).sum()
                    vals.append((2 * ma * mb + 1e-4) * (2 * cov + 9e-4)
                                / ((ma**2 + mb**2 + 1e-4) * (va + vb + 9e-4)))
        out.append(torch.stack(vals).mean())
    return torch.stack(out)


def test_ssim_is_one_on_equal_images_and_matches_a_naive_formula_per_image():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 2, 6, 6, generator=g, dtype=torch.float64)
    b = (a + 0.3 * torch.rand(3, 2, 6, 6, generator=g, dtype=torch.float64)).clamp(0, 1)
    w = ssim_module.gaussian_window().double()
    w = w / w.sum()
    assert torch.allclose(ssim(a, a, w, per_image=True), torch.ones(3, dtype=torch.float64), atol=1e-12)
    per = ssim(a, b, w, per_image=True)
    assert torch.allclose(per, _naive_ssim(a, b, w[0, 0]), rtol=1e-9)
    assert float(ssim(a, b, w)) == pytest.approx(float(per.mean()), rel=1e-12)
    assert (per < 1).all() and float(ssim(a[:, 0], 1 - a[:, 0], w)) < 0
    with pytest.raises(ValueError, match="one shape"):
        ssim(a, b[:2])
    with pytest.raises(ValueError, match="larger than the images"):
        ssim(a[..., :2, :2], b[..., :2, :2])


def test_registered_and_the_examples_run():
    names = {e.name for e in list_methods(kind="diagnostic")}
    assert {"level_set_traversal", "ssim"} <= names
    assert doctest.testmod(level_set_module).failed == 0
    assert doctest.testmod(ssim_module).failed == 0
