"""gcond at a tiny size (verdict, budget, conflict logs) and SSIM against a naive reference."""

import json
import math

import torch

from layerwise import RunLog
from layerwise.studies import run_study
from layerwise.studies.gcond import RECIPE, gaussian_window, ssim, task_targets

TINY = dict(budget="16", accumulation="4", batch_size="8", width="16", code="8", every="1")


def test_smoke_run_spends_the_same_budget_in_every_arm(tmp_path):
    verdict = run_study(RECIPE, out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["verdict"] == "not-judged" and saved["treatment"] == "gcond-stochastic"
    assert set(saved["arms"]) == {"sum", "gcond-classical", "gcond-stochastic"}
    for arm in saved["arms"]:
        (value,) = saved["arms"][arm]["values"]
        assert 3.0 < value < 40.0  # PSNR in dB of an 8x8 reconstruction in [0, 1]
        assert verdict["details"]["backward_passes"][arm] == 16  # equal budget, all of it used
    table = RunLog.read(tmp_path / "runs" / "gcond-stochastic-s0").to_pandas()
    assert {"net.1", "net.3", "net.5", "net.7"} <= set(table.layer)
    assert (table.metric == "cos/l1-ssim").sum() == 4 * 4  # 4 GCond steps x 4 layers
    assert {"conflict_freq", "gms/l1-ssim", "min_cos"} <= set(table.metric)


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


def test_conflict_variant_inverts_the_lower_half_only():
    clean = torch.rand(2, 1, 8, 8)
    ta, tb = task_targets(clean, "conflict")
    assert torch.equal(ta, clean) and torch.equal(tb[..., :4, :], clean[..., :4, :])
    assert torch.allclose(tb[..., 4:, :], 1 - clean[..., 4:, :])
