"""NoProp-DT (Li, Teh, Pascanu, 2025, arXiv 2503.24322): T blocks, each trained alone to denoise a
noisy label embedding given the input; no gradient and no forward pass crosses blocks in training.

Label embedding ``W`` (C x d, one-hot or learned), ``u_y = W[y]``. The noising process has marginals
``q(z_t | y) = N(sqrt(abar_t) u_y, (1 - abar_t) I)`` for ``t = 0..T`` with ``abar`` increasing in t
(``abar_0 = 0``: ``z_0`` is pure noise; ``abar_T = alpha_bar_max``, near the clean label). Block t
maps ``(x, z_{t-1})`` to logits; its prediction is ``u_hat_t = softmax(logits) @ W``. One training
step for block t samples ``z_{t-1}`` from q (detached) and minimises the paper's per-minibatch loss
with t sampled uniformly,

    L_t = CE(head(z_T), y) + KL(q(z_0|y) || N(0, I)) + (T/2) eta (SNR(t) - SNR(t-1)) ||u_hat_t - u_y||^2

with ``SNR(t) = abar_t / (1 - abar_t)``, ``z_T ~ q(z_T|y)`` and a linear ``head`` (the paper's
theta_out): it updates block t, the head and (when learned) the embedding, nothing else.
Inference runs the chain ``z_t = a_t u_hat_t + b_t z_{t-1} + sqrt(c_t) eps`` with the Gaussian
posterior q(z_t | z_{t-1}, u) (derived here [D]; the paper's own a, b, c were not read):
``r = abar_{t-1}/abar_t, a_t = sqrt(abar_t)(1-r)/(1-abar_{t-1}), b_t = sqrt(r)(1-abar_t)/(1-abar_{t-1}),
c_t = (1-abar_t)(1-r)/(1-abar_{t-1})``. The schedule is the cosine one (Nichol & Dhariwal's
``cos^2``, offset 0.008) run from noise at t = 0 to signal at t = T, scaled to end at ``alpha_bar_max``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise._registry import register

NOPROP = ("NoProp: Training Neural Networks without Back-propagation or Forward-propagation "
          "(Li, Teh, Pascanu, 2025)", "2503.24322")
EMBEDS = ("onehot", "learned")


def cosine_alpha_bar(T: int, *, alpha_bar_max: float = 0.999, offset: float = 0.008) -> Tensor:
    """``abar_0..abar_T`` (float64, strictly increasing from 0 to ``alpha_bar_max``)."""
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be an int >= 1, got {T!r}")
    if not 0.0 < alpha_bar_max < 1.0:
        raise ValueError(f"alpha_bar_max must be in (0, 1), got {alpha_bar_max}")
    s = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos(((1 - s) + offset) / (1 + offset) * math.pi / 2) ** 2
    f = (f / f[-1]).clamp(0.0, 1.0)
    f[0] = 0.0
    return alpha_bar_max * f


class NoPropBlock(nn.Module):
    """The spec's tiny block: MLP(x -> width) and MLP(z -> width), concatenated, MLP -> C logits."""

    def __init__(self, in_dim: int, num_classes: int, *, embed_dim: int | None = None, width: int = 128):
        super().__init__()
        for name, v in (("in_dim", in_dim), ("num_classes", num_classes), ("width", width)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        self.x_enc = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, width), nn.ReLU())
        self.z_enc = nn.Sequential(nn.Linear(embed_dim or num_classes, width), nn.ReLU())
        self.fuse = nn.Sequential(nn.Linear(2 * width, width), nn.ReLU(), nn.Linear(width, num_classes))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.fuse(torch.cat([self.x_enc(x), self.z_enc(z)], dim=1))


@register("noprop", kind="scheme", paper=NOPROP[0], arxiv=NOPROP[1])
class NoPropTrainer(nn.Module):
    """NoProp-DT over ``T`` blocks built by ``block_factory()``, each called as ``block(x, z)``.

    Paper: NoProp: Training Neural Networks without Back-propagation or Forward-propagation
    (Li, Teh, Pascanu, 2025, arXiv 2503.24322). ``train_step(x, y, t)`` (t in 1..T, the paper's
    index) updates block t (its own AdamW), the head and a learned embedding; ``predict`` runs the
    T-step chain and reads ``head(z_T)``. As an ``nn.Module``, ``forward(x)`` runs the deterministic
    chain with autograd on and returns the last block's logits, so the same blocks can also be
    trained end to end with backprop.

    Example::

        >>> import torch
        >>> from layerwise.train import NoPropBlock, NoPropTrainer
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
        >>> trainer = NoPropTrainer(lambda: NoPropBlock(8, 3, width=16), num_classes=3, T=4)
        >>> losses = trainer.fit(x, y, epochs=2, batch_size=16)
        >>> len(losses), trainer.predict(x).shape, trainer.readouts(x).shape
        (2, torch.Size([32]), torch.Size([4, 32, 3]))
    """

    def __init__(self, block_factory: Callable[[], nn.Module], num_classes: int, *, T: int = 10,
                 embed: str = "onehot", embed_dim: int | None = None, eta: float = 0.1,
                 lr: float = 1e-3, weight_decay: float = 1e-3, alpha_bar_max: float = 0.999) -> None:
        super().__init__()
        if not isinstance(T, int) or isinstance(T, bool) or T < 1:
            raise ValueError(f"T (number of blocks) must be an int >= 1, got {T!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if embed not in EMBEDS:
            raise ValueError(f"embed must be one of {EMBEDS}, got {embed!r}")
        d = num_classes if embed_dim is None else embed_dim
        if d < 1 or (embed == "onehot" and d != num_classes):
            raise ValueError(f"embed_dim must be >= 1 (and equal num_classes={num_classes} for one-hot), "
                             f"got {embed_dim}")
        for name, v, low in (("eta", eta, 0.0), ("lr", lr, 0.0)):
            if not v > low:
                raise ValueError(f"{name} must be > {low}, got {v}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.T, self.num_classes, self.eta = T, num_classes, eta
        self.blocks = nn.ModuleList(block_factory() for _ in range(T))
        self.head = nn.Linear(d, num_classes)
        if embed == "onehot":
            self.register_buffer("embedding", torch.eye(num_classes))
        else:
            self.embedding = nn.Parameter(nn.init.orthogonal_(torch.empty(num_classes, d)))
        abar = cosine_alpha_bar(T, alpha_bar_max=alpha_bar_max)
        snr = abar / (1 - abar)
        prev, cur = abar[:-1], abar[1:]
        r = prev / cur
        coef = torch.stack([cur.sqrt() * (1 - r) / (1 - prev), r.sqrt() * (1 - cur) / (1 - prev),
                            (1 - cur) * (1 - r) / (1 - prev)])
        self.register_buffer("alpha_bar", abar.float())
        self.register_buffer("weight", (T / 2 * eta * (snr[1:] - snr[:-1])).float())  # t = 1..T
        self.register_buffer("coef", coef.float())  # rows a, b, c; column t-1
        shared = [*self.head.parameters()] + ([self.embedding] if embed == "learned" else [])
        self.block_opts = [torch.optim.AdamW(b.parameters(), lr=lr, weight_decay=weight_decay)
                           for b in self.blocks]
        self.shared_opt = torch.optim.AdamW(shared, lr=lr, weight_decay=weight_decay)

    def _check(self, x: Tensor, y: Tensor, t: int) -> None:
        if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= self.T:
            raise ValueError(f"t must be an int in [1, T={self.T}], got {t!r}")
        if y.dtype != torch.long or y.dim() != 1 or len(y) != len(x):
            raise TypeError(f"y must be int64 labels of shape ({len(x)},), got {y.dtype} {tuple(y.shape)}")
        if len(y) and not 0 <= int(y.min()) <= int(y.max()) < self.num_classes:
            raise ValueError(f"labels must be in [0, {self.num_classes - 1}]")

    def sample(self, y: Tensor, t: int, generator: torch.Generator | None = None) -> Tensor:
        """``z_t ~ q(z_t | y)`` (t in 0..T), detached from the embedding."""
        u = self.embedding.detach()[y]
        eps = torch.randn(u.shape, generator=generator, device=u.device, dtype=u.dtype)
        return self.alpha_bar[t].sqrt() * u + (1 - self.alpha_bar[t]).sqrt() * eps

    def _u_hat(self, t: int, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.blocks[t - 1](x, z)
        if logits.shape != (len(x), self.num_classes):
            raise ValueError(f"block {t} must return logits of shape ({len(x)}, {self.num_classes}), "
                             f"got {tuple(logits.shape)}")
        return logits, logits.softmax(-1) @ self.embedding

    def loss(self, x: Tensor, y: Tensor, t: int, generator: torch.Generator | None = None) -> Tensor:
        """The paper's loss for one minibatch with block ``t`` sampled (see the module docstring)."""
        self._check(x, y, t)
        u = self.embedding[y]
        _, u_hat = self._u_hat(t, x, self.sample(y, t - 1, generator))
        denoise = self.weight[t - 1] * (u_hat - u).pow(2).sum(-1).mean()
        ce = F.cross_entropy(self.head(self.sample(y, self.T, generator)), y)
        a0 = self.alpha_bar[0]
        kl = 0.5 * (a0 * u.pow(2).sum(-1) + u.shape[1] * (-a0 - torch.log1p(-a0))).mean()
        return denoise + ce + kl

    def train_step(self, x: Tensor, y: Tensor, t: int, generator: torch.Generator | None = None) -> Tensor:
        """One AdamW step of block ``t`` (and the head/embedding) on ``loss``; returns it detached."""
        loss = self.loss(x, y, t, generator)  # validates t first
        self.block_opts[t - 1].zero_grad(set_to_none=True)
        self.shared_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.block_opts[t - 1].step()
        self.shared_opt.step()
        return loss.detach()

    def fit(self, x: Tensor, y: Tensor, *, epochs: int = 1, batch_size: int = 128,
            generator: torch.Generator | None = None) -> list[float]:
        """Shuffled minibatches; every block takes one step on each. Returns each epoch's mean loss."""
        if epochs < 0 or batch_size < 1:
            raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
        self.train()
        out = []
        for _ in range(epochs):
            total = []
            for idx in torch.randperm(len(x), generator=generator).split(batch_size):
                total += [self.train_step(x[idx], y[idx], t, generator) for t in range(1, self.T + 1)]
            out.append(float(torch.stack(total).mean()))
        return out

    def chain(self, x: Tensor, *, noise: bool = False,
              generator: torch.Generator | None = None) -> tuple[Tensor, list[Tensor]]:
        """``z_T`` and every block's logits along the inference chain (autograd follows the caller)."""
        d = self.embedding.shape[1]
        z = (torch.randn((len(x), d), generator=generator, device=x.device) if noise
             else x.new_zeros(len(x), d))
        logits = []
        for t in range(1, self.T + 1):
            lt, u_hat = self._u_hat(t, x, z)
            a, b, c = self.coef[:, t - 1]
            z = a * u_hat + b * z
            if noise:
                z = z + c.sqrt() * torch.randn(z.shape, generator=generator, device=z.device)
            logits.append(lt)
        return z, logits

    def forward(self, x: Tensor) -> Tensor:
        """The last block's logits along the deterministic chain: what end-to-end training of the
        same blocks supervises (cross-entropy through ``head(z_T)`` instead stalls behind the
        chain's softmax bottlenecks: 38% on digits in a calibration run)."""
        return self.chain(x)[1][-1]

    @torch.no_grad()
    def readouts(self, x: Tensor) -> Tensor:
        """Every block's logits along the deterministic chain, shape (T, N, C), in eval mode."""
        mode = self.training
        self.eval()
        try:
            return torch.stack(self.chain(x)[1])
        finally:
            self.train(mode)

    @torch.no_grad()
    def predict(self, x: Tensor, *, stochastic: bool = False,
                generator: torch.Generator | None = None) -> Tensor:
        """Class labels from ``head(z_T)``; ``stochastic`` samples z_0 and the chain's noise."""
        mode = self.training
        self.eval()
        try:
            return self.head(self.chain(x, noise=stochastic, generator=generator)[0]).argmax(-1)
        finally:
            self.train(mode)
