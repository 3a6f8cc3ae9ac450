"""RDP accountant for the sampled Gaussian mechanism (the privacy ledger of DP-SGD).

Renyi Differential Privacy of the Sampled Gaussian Mechanism (Mironov, Talwar & Zhang, 2019,
arXiv 1908.10530). One DP-SGD step samples each example with probability ``q`` and adds
N(0, sigma^2 C^2) to the sum of clipped gradients. Its Renyi divergence of order ``alpha`` is
``log(A_alpha) / (alpha - 1)`` with ``A_alpha = E_{z ~ N(0, s^2)}[((1 - q) + q * r(z))^alpha]`` and
``r(z) = exp((2z - 1) / (2 s^2))``. For integer alpha the binomial expansion is a finite sum; for
fractional alpha the integral is split at ``z0 = s^2 log(1/q - 1) + 1/2`` and each half is expanded
in the smaller term (the paper's section 3.3), giving two convergent series with ``erfc`` weights.
RDP composes additively over steps; epsilon at ``delta`` is the minimum over the alpha grid of the
conversion of Balle et al., 2020 (arXiv 1905.09982, Theorem 21), the one Opacus and TF Privacy use::

    eps = rdp + log((alpha - 1) / alpha) - (log(delta) + log(alpha)) / (alpha - 1)

(``conversion="classic"`` gives Mironov 2017's ``rdp + log(1/delta) / (alpha - 1)``).

Example::

    >>> from layerwise.transforms.accountant import RDPAccountant, epsilon
    >>> round(epsilon(q=0.01, sigma=1.0, steps=1000, delta=1e-5), 3)
    2.101
    >>> acc = RDPAccountant()
    >>> acc.step(q=0.01, sigma=1.0, steps=1000)
    >>> round(acc.epsilon(1e-5), 3)
    2.101
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln, log_ndtr

from layerwise._registry import register

#: The usual alpha grid: 1.1 to 10.9 in steps of 0.1, then the integers 12 to 63.
DEFAULT_ALPHAS: tuple[float, ...] = tuple([1 + x / 10 for x in range(1, 100)] + list(range(12, 64)))

_SERIES_CUTOFF = -30.0  # stop a series once a term is below e^-30 relative to A_alpha ~ 1
_MAX_TERMS = 100_000


def _log_binom(alpha: float, k: int) -> tuple[float, float]:
    """log|C(alpha, k)| and its sign, for real alpha > 0 and integer k >= 0."""
    if float(alpha).is_integer() and k > alpha:
        return -math.inf, 0.0
    # C(alpha, k) = Gamma(alpha+1) / (Gamma(k+1) Gamma(alpha-k+1)); Gamma of a negative argument
    # alternates in sign: Gamma(x) < 0 when x is in (-2m-1, -2m) for m >= 0.
    x = alpha - k + 1
    sign = 1.0
    if x <= 0:
        sign = -1.0 if math.floor(x) % 2 != 0 else 1.0
    return float(gammaln(alpha + 1) - gammaln(k + 1) - gammaln(x)), sign


def _signed_logsumexp(logs: list[float], signs: list[float]) -> float:
    logs_a, signs_a = np.asarray(logs), np.asarray(signs)
    m = logs_a.max()
    total = float(np.sum(signs_a * np.exp(logs_a - m)))
    if total <= 0:
        raise ArithmeticError("series for A_alpha lost all precision; use a coarser alpha grid")
    return float(m + math.log(total))


def _log_a_int(q: float, sigma: float, alpha: int) -> float:
    logs = [
        _log_binom(alpha, k)[0]
        + (alpha - k) * math.log1p(-q)
        + k * math.log(q)
        + (k * k - k) / (2 * sigma**2)
        for k in range(alpha + 1)
    ]
    return _signed_logsumexp(logs, [1.0] * len(logs))


def _log_a_frac(q: float, sigma: float, alpha: float) -> float:
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    logs: list[float] = []
    signs: list[float] = []
    for k in range(_MAX_TERMS):
        lb, sign = _log_binom(alpha, k)
        j = alpha - k
        # Left of z0: (1-q)^(alpha-k) q^k E[r^k; z <= z0], where that mean is e^{(k^2-k)/2s^2} Phi((z0-k)/s).
        left = lb + j * math.log1p(-q) + k * math.log(q) + (k * k - k) / (2 * sigma**2)
        left += float(log_ndtr((z0 - k) / sigma))
        # Right of z0: (1-q)^k q^(alpha-k) E[r^(alpha-k); z > z0].
        right = lb + k * math.log1p(-q) + j * math.log(q) + (j * j - j) / (2 * sigma**2)
        right += float(log_ndtr((j - z0) / sigma))
        logs += [left, right]
        signs += [sign, sign]
        if k > alpha and max(left, right) < _SERIES_CUTOFF:
            break
    return _signed_logsumexp(logs, signs)


def rdp_sampled_gaussian(q: float, sigma: float, alpha: float) -> float:
    """Renyi DP of order ``alpha`` of one step of the sampled Gaussian mechanism."""
    if not 0 <= q <= 1:
        raise ValueError(f"sampling rate q must be in [0, 1], got {q}")
    if alpha <= 1:
        raise ValueError(f"alpha must be > 1, got {alpha}")
    if q == 0:
        return 0.0
    if sigma <= 0:
        return math.inf
    if q == 1.0:
        return alpha / (2 * sigma**2)
    if math.isinf(alpha):
        return math.inf
    log_a = _log_a_int(q, sigma, int(alpha)) if float(alpha).is_integer() else _log_a_frac(q, sigma, alpha)
    return log_a / (alpha - 1)


@functools.lru_cache(maxsize=256)
def _rdp_one_step(q: float, sigma: float, alphas: tuple[float, ...]) -> np.ndarray:
    out = np.array([rdp_sampled_gaussian(q, sigma, a) for a in alphas], dtype=np.float64)
    out.setflags(write=False)
    return out


def rdp(q: float, sigma: float, steps: int, alphas: Sequence[float] = DEFAULT_ALPHAS) -> np.ndarray:
    """RDP at each alpha after ``steps`` compositions of the sampled Gaussian mechanism (cached)."""
    return steps * _rdp_one_step(float(q), float(sigma), tuple(float(a) for a in alphas))


def rdp_to_epsilon(
    rdp_values: np.ndarray,
    delta: float,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    *,
    conversion: str = "balle",
) -> tuple[float, float]:
    """(epsilon, best alpha) at ``delta`` from RDP values on the grid ``alphas``."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    a = np.asarray(alphas, dtype=np.float64)
    r = np.asarray(rdp_values, dtype=np.float64)
    if conversion == "balle":
        eps = r + np.log1p(-1 / a) - (math.log(delta) + np.log(a)) / (a - 1)
    elif conversion == "classic":
        eps = r - math.log(delta) / (a - 1)
    else:
        raise ValueError(f"conversion must be 'balle' or 'classic', got {conversion!r}")
    eps = np.where(np.isnan(eps), np.inf, eps)
    i = int(np.argmin(eps))
    return max(float(eps[i]), 0.0), float(a[i])


def epsilon(
    *, q: float, sigma: float, steps: int, delta: float, alphas: Sequence[float] = DEFAULT_ALPHAS
) -> float:
    """Epsilon of ``steps`` DP-SGD steps with sampling rate ``q`` and noise multiplier ``sigma``."""
    return rdp_to_epsilon(rdp(q, sigma, steps, alphas), delta, alphas)[0]


@register(
    "rdp_accountant",
    kind="transform",
    paper="Renyi Differential Privacy of the Sampled Gaussian Mechanism (Mironov, Talwar & Zhang, 2019)",
    arxiv="1908.10530",
)
class RDPAccountant:
    """Tracks the RDP spent by DP-SGD steps, possibly with changing (q, sigma); see the module doc."""

    def __init__(self, alphas: Sequence[float] = DEFAULT_ALPHAS) -> None:
        self.alphas = tuple(alphas)
        self.history: list[tuple[float, float, int]] = []
        self._rdp = np.zeros(len(self.alphas))

    def step(self, *, q: float, sigma: float, steps: int = 1) -> None:
        """Record ``steps`` steps at sampling rate ``q`` and noise multiplier ``sigma``."""
        if self.history and self.history[-1][:2] == (q, sigma):
            self.history[-1] = (q, sigma, self.history[-1][2] + steps)
        else:
            self.history.append((q, sigma, steps))
        self._rdp = self._rdp + rdp(q, sigma, steps, self.alphas)

    def epsilon(self, delta: float) -> float:
        """Epsilon spent so far at ``delta``."""
        return rdp_to_epsilon(self._rdp, delta, self.alphas)[0]

    def best_alpha(self, delta: float) -> float:
        """The alpha at which the epsilon bound is tightest."""
        return rdp_to_epsilon(self._rdp, delta, self.alphas)[1]
