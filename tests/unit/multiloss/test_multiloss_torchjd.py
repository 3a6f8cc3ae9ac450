"""Cross-checks with torchjd's aggregators on the same Jacobians (the optional [mtl] extra)."""

import pytest
import torch

from layerwise.multiloss import MGDA, PCGrad

aggregation = pytest.importorskip(
    "torchjd.aggregation", reason="torchjd is not installed (pip install 'layerwise[mtl]')"
)


@pytest.mark.parametrize("seed", range(5))
def test_pcgrad_agrees_with_torchjd_for_two_tasks(seed):
    j = torch.randn(2, 9, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(PCGrad()(j), aggregation.PCGrad()(j), rtol=1e-5, atol=1e-6)


def test_pcgrad_agrees_with_torchjd_when_order_cannot_matter():
    # three tasks where only tasks 0 and 1 conflict: every projection order gives the same result
    j = torch.tensor([[1.0, 0.0, 0.0, 0.0], [-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    torch.testing.assert_close(PCGrad()(j), aggregation.PCGrad()(j))


@pytest.mark.parametrize(("k", "seed"), [(2, 0), (2, 1), (3, 0), (4, 1)])
def test_mgda_agrees_with_torchjd(k, seed):
    j = torch.randn(k, 8, generator=torch.Generator().manual_seed(seed))
    ours = MGDA(max_iter=2000, tol=1e-10)(j)
    theirs = aggregation.MGDA(epsilon=1e-8, max_iters=2000)(j)
    torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=1e-3)
