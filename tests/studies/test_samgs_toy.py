"""samgs-toy: the vectorised methods equal the library's, the Pareto criterion, the paired test."""

import math

import torch

from layerwise import RunLog
from layerwise.multiloss import SAMGS, PCGrad
from layerwise.studies import get_study, run_study
from layerwise.studies.samgs_toy import (
    FIXED_STARTS,
    BatchedSAMGS,
    SamgsToyConfig,
    batched_pcgrad,
    mcnemar_p,
    objectives,
    pareto_gap,
    reached,
    starts,
)


def test_batched_samgs_equals_the_library_start_by_start():
    g = torch.Generator().manual_seed(0)
    n, steps = 5, 6
    scale = torch.ones(n, 2, 1)
    scale[1, 0] = 0.01  # start 1: a x100 magnitude gap (GMS ~0.02 < gamma: equalise); others modulate
    seq = [torch.randn(n, 2, 2, generator=g) * scale for _ in range(steps)]
    batched = BatchedSAMGS(gamma=0.1, beta1=0.9, beta2=0.9)
    single = [SAMGS(gamma=0.1, beta1=0.9, beta2=0.9) for _ in range(n)]
    branches = set()
    for grads in seq:
        out = batched(grads)
        for i, agg in enumerate(single):
            torch.testing.assert_close(out[i], agg(grads[i]), rtol=1e-5, atol=1e-6)
            branches.add(agg.last_branch)
    assert branches == {"equalise", "momentum"}


def test_batched_pcgrad_equals_the_library():
    g = torch.Generator().manual_seed(1)
    grads = torch.randn(8, 2, 2, generator=g)
    out = batched_pcgrad(grads)
    for i in range(8):
        torch.testing.assert_close(out[i], PCGrad()(grads[i]), rtol=1e-5, atol=1e-6)


def test_pareto_gap_is_the_min_norm_point_of_the_two_gradients():
    x = torch.tensor([[2.0, -3.0], [-5.0, -7.0], [1.0, 4.0]])
    xd = x.double().requires_grad_(True)
    f1, f2 = objectives(xd)
    g1 = torch.autograd.grad(f1.sum(), xd, retain_graph=True)[0]
    g2 = torch.autograd.grad(f2.sum(), xd)[0]
    alphas = torch.linspace(0, 1, 100_001, dtype=torch.float64)[:, None, None]
    naive = (alphas * g1 + (1 - alphas) * g2).norm(dim=2).min(0).values  # brute force over the segment
    torch.testing.assert_close(pareto_gap(x), naive, rtol=1e-4, atol=1e-6)


def test_pareto_criterion_separates_the_segment_from_the_plateau():
    # On the lower basin's Pareto set (x2 ~ -8, -7 < x1 < 7) the gradients are opposed and cancel.
    on_set = torch.tensor([[0.0, -8.0], [3.0, -8.0], [-6.5, -8.0]])
    assert bool(reached(on_set, 0.05).all())
    off = torch.tensor([[0.0, -4.0], [9.0, -8.0], [0.0, 3.0]])  # too high, outside the segment, upper half
    assert not bool(reached(off, 0.05).any())
    assert float(pareto_gap(torch.tensor([[9.0, -8.0]]))) > 0.1


def test_objectives_match_a_pointwise_formula():
    x1, x2 = 2.0, -3.0
    lower = math.tanh(-x2 / 2)
    want1 = lower * (((x1 - 7) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20)
    f1, f2 = objectives(torch.tensor([[x1, x2]]))
    assert math.isclose(float(f1), want1, rel_tol=1e-5) and float(f2) > float(f1)


def test_exact_mcnemar_p():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 0) == 1 / 32
    assert mcnemar_p(3, 1) == 5 / 16
    assert mcnemar_p(0, 4) == 1.0


def test_starts_are_the_fixed_points_then_a_grid_and_the_study_is_one_deterministic_run():
    x0 = starts(SamgsToyConfig())
    assert x0.shape == (7 + 64, 2) and torch.equal(x0[:7], torch.tensor(FIXED_STARTS))
    assert float(x0[7:].abs().max()) < 10 and len({tuple(r) for r in x0[7:].tolist()}) == 64
    study = get_study("samgs-toy")
    assert study.config("full") == SamgsToyConfig() and study.seeds["full"] == 1
    assert study.config("full", arm="sgd").optimizer == "sgd"


def test_tiny_run_logs_every_start_of_every_method(tmp_path):
    verdict = run_study("samgs-toy", size="tiny", out=tmp_path, progress=False, report=False)
    for arm in ("adam", "sgd"):
        assert verdict.details["starts"][arm] == 11  # 7 fixed + a 2 x 2 grid
        b, c = verdict.details["samgs_only"][arm], verdict.details["ls_only"][arm]
        assert verdict.details["mcnemar_p"][arm] == mcnemar_p(int(b), int(c))
    table = RunLog.read(tmp_path / "runs" / "adam-s0")
    assert {"ls.start0", "pcgrad.start10", "samgs.start3"} <= set(table.column("layer").to_pylist())
    assert {"cos/f1-f2", "gms/f1-f2", "pareto"} <= set(table.column("metric").to_pylist())
