"""Residual-stream variance over depth in a 12-layer d=128 GPT, by norm placement.

The variance of each ``blocks.N`` output (captured with forward hooks) is what the Monitor reads.

At init every placement but Post-LN grows *linearly* with depth: a pre-norm branch sees a
normalised input, so what it adds does not depend on the stream's scale. Pre-LN adds ~0.005 per
block (std-0.02 weights); LNS multiplies that by 1/l (The Curse of Depth in Large Language
Models, arXiv 2502.05795), so its growth is harmonic; Peri-LN adds ~2 per block (two unit-gain
output norms: Var(x_{l+1}) = Var(x_l) + beta_0, Peri-LN, arXiv 2502.02732). Pre-LN's runaway
growth and massive activations come with training, so Peri-LN's advantage is checked after a few
Adam steps instead of at init (at init, Peri and Pre both grow 11-15x from block 1 to block 12).
"""

import pytest
import torch
import torch.nn.functional as F

from layerwise.models import GPT

ARMS = {
    "pre": {},
    "lns": {"layernorm_scaling": True},
    "peri": {"placement": "peri"},
    "post": {"placement": "post"},
}
SEEDS = (0, 1, 2)


def _gpt(seed: int, seq_len: int, **kw) -> tuple[GPT, torch.Tensor]:
    torch.manual_seed(seed)
    model = GPT(n_layer=12, d_model=128, n_head=4, seq_len=seq_len, vocab_size=256, **kw)
    return model, torch.randint(0, 256, (8, seq_len + 1))


def _variances(model: GPT, idx: torch.Tensor) -> list[float]:
    """Variance of every block's output, from forward hooks on ``blocks.N``."""
    out: list[float] = []
    handles = [
        b.register_forward_hook(lambda _m, _i, o: out.append(o.detach().var().item())) for b in model.blocks
    ]
    try:
        with torch.no_grad():
            model(idx)
    finally:
        for h in handles:
            h.remove()
    return out


@pytest.fixture(scope="module")
def init_profiles() -> dict[str, list[list[float]]]:
    profiles = {}
    for arm, kw in ARMS.items():
        runs = [_gpt(seed, 32, **kw) for seed in SEEDS]
        profiles[arm] = [_variances(model, idx[:, :-1]) for model, idx in runs]
    return profiles


def _mean_ratio(profiles: list[list[float]]) -> float:
    """Last over first block-output variance, averaged over seeds."""
    return sum(v[-1] / v[0] for v in profiles) / len(profiles)


def test_pre_ln_variance_grows_with_depth_at_init(init_profiles):
    # measured (seeds 0-2, 8 x 32 tokens): ratios 13.5, 14.7, 12.8 (var 0.0036 -> 0.049)
    assert _mean_ratio(init_profiles["pre"]) > 5
    for v in init_profiles["pre"]:
        assert all(b > a for a, b in zip(v, v[1:], strict=False))  # monotone growth


def test_layernorm_scaling_flattens_the_growth(init_profiles):
    # measured: LNS 3.16, 3.14, 3.01 against Pre-LN 13.5, 14.7, 12.8 (ratio of means 0.23)
    assert _mean_ratio(init_profiles["lns"]) < 0.4 * _mean_ratio(init_profiles["pre"])


def test_peri_ln_adds_constant_variance_per_block(init_profiles):
    # measured mean increment per block: 1.97, 2.21, 1.71 (two unit-variance branch outputs);
    # last/first ratios 12.4, 13.8, 10.8: at init Peri-LN's depth ratio is close to Pre-LN's
    incs = [(v[-1] - v[0]) / (len(v) - 1) for v in init_profiles["peri"]]
    assert 1.5 < sum(incs) / len(incs) < 2.5


def test_post_ln_stream_stays_normalised(init_profiles):
    for v in init_profiles["post"]:
        assert v == pytest.approx([1.0] * 12, rel=0.01)


def _trained_growth(seed: int, **kw) -> float:
    """Last-block variance after 5 Adam steps (lr 1e-2) on one batch, over its value at init."""
    model, idx = _gpt(seed, 32, **kw)
    x, y = idx[:, :-1], idx[:, 1:]
    before = _variances(model, x)[-1]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return _variances(model, x)[-1] / before


def test_peri_ln_keeps_variance_bounded_in_training():
    # Peri-LN's output norms bound what each block adds; Pre-LN's branches are free to grow.
    # measured growth of the last block's variance: Pre-LN 7.2e4, 7.9e3, 4.0e4 (to 460-3500);
    # Peri-LN 18.7, 16.8, 21.8 (to ~450, from ~23 at init)
    pre = [_trained_growth(s) for s in SEEDS]
    peri = [_trained_growth(s, placement="peri") for s in SEEDS]
    assert max(peri) < 60
    assert min(pre) > 50 * max(peri)
