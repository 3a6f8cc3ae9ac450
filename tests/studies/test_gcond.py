"""gcond: equal steps and samples, half the passes in stochastic mode, SSIM against a naive reference."""

import math

import torch

from layerwise import RunLog
from layerwise.analysis.ssim import gaussian_window
from layerwise.studies import get_study, run_study
from layerwise.studies.gcond import (
    GcondConfig,
    autoencoder,
    l1_loss,
    scores,
    ssim,
    ssim_loss,
    task_targets,
)


def test_arms_take_equal_steps_and_samples_and_stochastic_halves_the_passes(tmp_path):
    verdict = run_study("gcond", size="tiny", out=tmp_path, progress=False, report=False)
    cfg = get_study("gcond").config("tiny")  # 3 steps of K=4 batches of 8
    passes, samples = verdict.details["backward_passes"], verdict.details["samples"]
    assert samples == {arm: 3 * 4 * 8 for arm in verdict.arms}
    assert passes["sum"] == passes["gcond-stochastic"] == cfg.steps * cfg.accumulation
    assert passes["gcond-classical"] == 2 * passes["gcond-stochastic"]
    d = verdict.details
    for arm in verdict.arms:
        assert math.isclose(d["val_loss_db"][arm], 10 * math.log10(d["val_l1"][arm] + d["val_dssim"][arm]))
    table = RunLog.read(tmp_path / "runs" / "gcond-stochastic-s0")
    metric = table.column("metric").to_pylist()
    assert {"net.1", "net.3", "net.5", "net.7"} <= set(table.column("layer").to_pylist())
    assert metric.count("cos/l1-ssim") == 3 * 4  # 3 GCond steps x 4 layers
    assert {"conflict_freq", "gms/l1-ssim", "min_cos"} <= set(metric)


def test_the_sum_arms_one_batch_equals_accumulating_its_k_batches():
    torch.manual_seed(0)
    model = autoencoder(GcondConfig(width=16, code=8)).double()
    g = torch.Generator().manual_seed(0)
    parts = [torch.rand(6, 1, 8, 8, generator=g, dtype=torch.float64) for _ in range(4)]
    targets = [task_targets(p, "conflict") for p in parts]

    def grad(x, y):
        out = model(x)
        return torch.autograd.grad(l1_loss(out, y) + ssim_loss(out, y), list(model.parameters()))

    joined = grad(torch.cat(parts), tuple(torch.cat([t[i] for t in targets]) for i in range(2)))
    accumulated = [sum(gs) / 4 for gs in zip(*(grad(p, t) for p, t in zip(parts, targets, strict=True)),
                                             strict=True)]
    for a, b in zip(joined, accumulated, strict=True):
        torch.testing.assert_close(a, b)


def test_the_conflict_variant_inverts_the_lower_half_only_and_the_defaults_are_the_full_size():
    clean = torch.rand(2, 1, 8, 8)
    ta, tb = task_targets(clean, "conflict")
    assert torch.equal(ta, clean) and torch.equal(tb[..., :4, :], clean[..., :4, :])
    assert torch.allclose(tb[..., 4:, :], 1 - clean[..., 4:, :])
    study = get_study("gcond")
    assert study.config("full") == GcondConfig() and GcondConfig().variant == "conflict"
    assert GcondConfig().steps * GcondConfig().accumulation >= 12_000  # stochastic passes


def test_a_perfect_fit_of_one_task_is_penalised_by_the_other():
    clean = torch.rand(4, 1, 8, 8)
    targets = task_targets(clean, "conflict")
    fit_l1 = scores(clean, targets)
    assert fit_l1["val_l1"] == 0 and fit_l1["val_dssim"] > 0.5  # the SSIM task is far off
    assert fit_l1["psnr"] > 50  # while the mean PSNR rewards it: why it is reported, not judged


def _naive_ssim(a, b, w):
    vals = []
    for n in range(a.shape[0]):
        for i in range(a.shape[2] - 2):
            for j in range(a.shape[3] - 2):
                pa, pb = a[n, 0, i:i + 3, j:j + 3], b[n, 0, i:i + 3, j:j + 3]
                ma, mb = (w * pa).sum(), (w * pb).sum()
                va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
                cov = (w * (pa - ma) * (pb - mb)).sum()
                c1, c2 = 0.01**2, 0.03**2
                vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return torch.stack(vals).mean()


def test_ssim_matches_a_naive_windowed_reference():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64), torch.rand(3, 1, 8, 8, generator=g,
                                                                                dtype=torch.float64)
    w = gaussian_window().double()
    w = w / w.sum()  # exactly normalised in float64, so both variance formulas agree
    assert math.isclose(float(ssim(a, b, w)), float(_naive_ssim(a, b, w[0, 0])), rel_tol=1e-6)
    assert math.isclose(float(ssim(a, a, w)), 1.0, rel_tol=1e-9)
    assert float(ssim(a, 1 - a, w)) < 0  # inverted contrast correlates negatively
