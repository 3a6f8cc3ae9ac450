"""Study ``convergent-learning``: do independently trained CNNs learn the same units, layer by layer?

Convergent Learning: Do Different Neural Networks Learn the Same Representations? (Li, Yosinski,
Clune, Lipson, Hopcroft, ICLR 2016, arXiv 1511.07543). The paper trains AlexNet-style nets from
different seeds and matches their units by the correlation of activations: bipartite (one-to-one,
Hungarian) and semi-matching (each unit to its best partner, many-to-one allowed). It finds that
early layers match well one-to-one, deeper layers less so, and that there semi-matching exceeds
bipartite matching by more: deep units often have no one-to-one partner.

Tiny reproduction (shared/papers/SPECS-B.md, section 10): ``n_nets`` CNNs (conv 16-32-64 + linear
head) on scikit-learn digits upsampled to 16x16 (or ``dataset="mnist1d"``), all inside one run,
since the claim is about pairs of networks. For every pair and every conv block's output (spatial
positions count as samples, as in the paper) we compute the unit correlation matrix and the mean
matched correlation of both kinds. Semi >= bipartite holds by construction at every layer, so the
arms compare the *depth drop* of the matched correlation (first block minus last block): the
"bipartite" arm (baseline) measures it with one-to-one matching, the "semi" arm (treatment) with
semi-matching. A smaller drop under semi-matching means the semi-bipartite gap grows with depth,
the paper's many-to-one finding; it can fail (a constant or shrinking gap). Both arms train the
same seeded networks, so their per-layer profiles are logged in both runs.

Example::

    layerwise run convergent-learning --full --seeds 3 epochs=10
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.nn import functional as F

from layerwise.analysis import match_units, unit_correlation
from layerwise.data import Split, digits, mnist1d
from layerwise.models import CNN
from layerwise.monitor import Monitor, RunLog
from layerwise.report import Section
from layerwise.report.render import add_axes, fmt, new_figure, style
from layerwise.studies.recipe import Recipe, study

METHODS = ("bipartite", "semi")
CORR_FILE = "unit_corr.npz"


@dataclass(frozen=True)
class ConvergentLearningConfig:
    """Paper-10 sizes: 4 CNNs (conv 16-32-64, BatchNorm, ReLU, max-pool, global pool, linear head) on
    digits upsampled to 16x16, 30 epochs of Adam each (about 20 s per run on 2 CPU cores); matching
    on ``max_samples`` validation images, every spatial position a sample. Smoke trains 5 epochs."""

    dataset: str = "digits"
    n_nets: int = 4
    channels: tuple[int, ...] = (16, 32, 64)
    image_size: int = 16
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    max_samples: int = 359
    threshold: float = 0.9
    every: int = 5


def load_data(cfg: ConvergentLearningConfig) -> tuple[Split, int]:
    """The dataset as a Split and the CNN's ``dim`` (digits are upsampled to ``image_size``)."""
    if cfg.dataset == "mnist1d":
        return mnist1d(), 1
    if cfg.dataset != "digits":
        raise ValueError(f"dataset must be 'digits' or 'mnist1d', got {cfg.dataset!r}")
    data = digits()
    if cfg.image_size == 8:
        return data, 2

    def up(x: Tensor) -> Tensor:
        return F.interpolate(x, size=(cfg.image_size, cfg.image_size), mode="bilinear", align_corners=False)

    return dataclasses.replace(data, x_train=up(data.x_train), x_val=up(data.x_val)), 2


def make_net(cfg: ConvergentLearningConfig, dim: int, seed: int) -> CNN:
    torch.manual_seed(seed)
    size = cfg.image_size if dim == 2 else None
    return CNN(channels=cfg.channels, dim=dim, image_size=size)


def train_net(model: nn.Module, data: Split, cfg: ConvergentLearningConfig, seed: int,
              run_dir: Path | None = None, meta: dict | None = None) -> float:
    """Adam on cross-entropy for ``cfg.epochs``; Monitor-logged when ``run_dir``; returns val accuracy."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    mon = Monitor(model, optimizer=opt, every=cfg.every, log=run_dir, meta=meta) if run_dir else None
    with mon or contextlib.nullcontext():
        batches = (b for epoch in range(cfg.epochs)
                   for b in data.loader(cfg.batch_size, seed=seed * 10_007 + epoch))
        for step, (x, y) in enumerate(batches):
            with mon.step(step) if mon else contextlib.nullcontext():
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                if mon:
                    mon.log(loss=loss)
            opt.step()
            opt.zero_grad(set_to_none=True)
        acc = accuracy(model, data)
        if mon:
            mon.log_scalars(step + 1, val_acc=acc)
    return acc


@torch.no_grad()
def accuracy(model: nn.Module, data: Split) -> float:
    model.eval()
    x, y = data.tensors("val")
    return float((model(x).argmax(-1) == y).double().mean())


@torch.no_grad()
def block_activations(model: CNN, x: Tensor) -> dict[str, Tensor]:
    """Output of every conv block (``blocks.i``), (N, C, ...), from one eval-mode forward pass."""
    model.eval()
    acts: dict[str, Tensor] = {}

    def keep(name: str):
        return lambda _module, _args, out: acts.__setitem__(name, out)

    handles = [block.register_forward_hook(keep(f"blocks.{i}")) for i, block in enumerate(model.blocks)]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return acts


def pair_scores(acts_a: dict[str, Tensor], acts_b: dict[str, Tensor],
                threshold: float) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Per layer: mean matched correlation (bipartite, semi) and the share of units whose one-to-one
    partner correlates above ``threshold``; also the correlation matrices."""
    scores, corrs = {}, {}
    for layer in acts_a:
        corr = unit_correlation(acts_a[layer], acts_b[layer], unit_dim=1)
        bip, semi = match_units(corr, "bipartite"), match_units(corr, "semi")
        scores[layer] = {"bipartite": bip.mean, "semi": semi.mean,
                         "above": float(np.nanmean(bip.corr > threshold))}
        corrs[layer] = corr
    return scores, corrs


def layer_means(per_pair: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Average the per-pair scores over the pairs, layer by layer."""
    layers = list(per_pair[0])
    keys = list(per_pair[0][layers[0]])
    return {la: {k: float(np.mean([p[la][k] for p in per_pair])) for k in keys} for la in layers}


def _log_layers(run_dir: Path, step: int, profile: dict[str, dict[str, float]], arm: str) -> None:
    with RunLog(run_dir) as log:
        for layer, s in profile.items():
            log.log(step, layer, "matched_corr", s[arm])
            log.log(step, layer, "matched_corr_bipartite", s["bipartite"])
            log.log(step, layer, "matched_corr_semi", s["semi"])
            log.log(step, layer, "semi_bipartite_gap", s["semi"] - s["bipartite"])
            log.log(step, layer, "frac_matched_above", s["above"])


def run(cfg: ConvergentLearningConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train ``n_nets`` CNNs (net 0 monitored), match every pair's units per block with ``arm``."""
    torch.set_num_threads(1)
    if arm not in METHODS or cfg.n_nets < 2:
        raise ValueError(f"arm must be one of {METHODS} and n_nets >= 2, got {arm!r}, {cfg.n_nets}")
    data, dim = load_data(cfg)
    meta = {"study": "convergent-learning", "arm": arm, "seed": seed, "config": dataclasses.asdict(cfg)}
    nets, accs = [], []
    for k in range(cfg.n_nets):
        net = make_net(cfg, dim, seed * cfg.n_nets + k)
        accs.append(train_net(net, data, cfg, seed * cfg.n_nets + k, run_dir if k == 0 else None, meta))
        nets.append(net)
    x = data.x_val[: cfg.max_samples]
    acts = [block_activations(net, x) for net in nets]
    per_pair, first_corrs = [], {}
    for a, b in itertools.combinations(range(cfg.n_nets), 2):
        scores, corrs = pair_scores(acts[a], acts[b], cfg.threshold)
        per_pair.append(scores)
        first_corrs = first_corrs or corrs
    profile = layer_means(per_pair)
    steps = cfg.epochs * -(-len(data.y_train) // cfg.batch_size)
    _log_layers(run_dir, steps, profile, arm)
    np.savez(run_dir / CORR_FILE, **first_corrs)
    return _result(profile, arm, accs)


def _result(profile: dict[str, dict[str, float]], arm: str, accs: list[float]) -> dict[str, float]:
    layers = list(profile)
    first, last = profile[layers[0]], profile[layers[-1]]
    mean = float(np.mean([s[arm] for s in profile.values()]))
    out = {"depth_drop": first[arm] - last[arm], "matched_corr": mean,
           "first_layer": first[arm], "last_layer": last[arm], "val_acc": float(np.mean(accs)),
           "gap_first": first["semi"] - first["bipartite"], "gap_last": last["semi"] - last["bipartite"],
           "early_matches_better": float(first[arm] > last[arm])}
    for layer, s in profile.items():
        for key, value in s.items():
            out[f"{key}@{layer}"] = value
    return out


def summarize(cfg: ConvergentLearningConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of every number; the per-layer profile and the gap's growth with depth."""
    keys = [k for k in results[next(iter(results))][0] if "@" not in k]
    out = {k: {arm: float(np.mean([r[k] for r in rows])) for arm, rows in results.items()} for k in keys}
    rows = results[next(iter(results))]
    layers = list(dict.fromkeys(k.split("@", 1)[1] for k in rows[0] if "@" in k))
    out["profile"] = {la: {m: float(np.mean([r[f"{m}@{la}"] for r in rows])) for m in (*METHODS, "above")}
                      for la in layers}
    out["gap_grows_with_depth"] = bool(out["gap_last"]["semi"] > out["gap_first"]["semi"])
    return out


def _profile_figure(profile: dict[str, dict[str, float]]) -> Figure:
    fig = new_figure(4.6, 2.6)
    ax = add_axes(fig, left=0.6, bottom=0.5)
    xs = np.arange(len(profile))
    for method in METHODS:
        ax.plot(xs, [s[method] for s in profile.values()], marker="o", label=method)
    ax.set_xticks(xs, list(profile))
    ax.set_ylabel("mean matched correlation")
    ax.set_title("matched correlation per block (mean over pairs and seeds)")
    ax.grid(True, alpha=0.3, linewidth=0.5)
    ax.legend(fontsize=6)
    return fig


def _heatmap_figure(corrs: dict[str, np.ndarray]) -> Figure:
    """Each block's correlation matrix, net 0's units (rows, best-matched first) against net 1's
    units reordered by the bipartite matching, so one-to-one partners sit on the diagonal."""
    fig = new_figure(3.0 * len(corrs) + 0.6, 3.0)
    image = None
    for i, (layer, corr) in enumerate(corrs.items()):
        matching = match_units(corr, "bipartite")
        rows = np.argsort(-np.nan_to_num(matching.corr, nan=-2.0))
        cols = matching.partner[rows]
        shown = np.concatenate([cols[cols >= 0], np.setdiff1d(np.arange(corr.shape[1]), cols)])
        ax = fig.add_axes((0.05 + i * 0.9 / len(corrs), 0.12, 0.72 / len(corrs), 0.72))
        image = ax.imshow(corr[rows][:, shown], vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
        ax.set_title(f"{layer}: net 0 vs net 1", fontsize=8)
        ax.set_xlabel("net 1 unit (matched order)")
    if image is not None:
        fig.colorbar(image, ax=fig.axes, fraction=0.03, label="correlation")
    return fig


def sections(cfg: ConvergentLearningConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
    """Per-layer matched-correlation profile, and the unit correlation heatmaps of one pair of nets."""
    profile = summarize(cfg, results)["profile"]
    rows = "".join(f"<tr><td>{escape(la)}</td><td>{fmt(s['bipartite'])}</td><td>{fmt(s['semi'])}</td>"
                   f"<td>{fmt(s['semi'] - s['bipartite'])}</td><td>{fmt(s['above'])}</td></tr>"
                   for la, s in profile.items())
    html = ("<table class=\"lw-table\"><tr><th>block</th><th>bipartite</th><th>semi</th><th>gap</th>"
            f"<th>share of units matched above {fmt(cfg.threshold)}</th></tr>{rows}</table>")
    with style():
        figures = [_profile_figure(profile)]
        saved = out_dir / "runs" / f"{METHODS[0]}-s0" / CORR_FILE
        if saved.exists():
            with np.load(saved) as data:
                figures.append(_heatmap_figure({k: data[k] for k in data.files}))
    return [Section("Unit matching across networks", html=html, figures=tuple(figures),
                    text="Mean matched correlation of every pair of independently trained nets per conv "
                         "block, one-to-one (bipartite) and best-partner (semi) matching (Li et al., 2016, "
                         "arXiv 1511.07543); heatmaps: seed 0, nets 0 and 1.")]


RECIPE = study(Recipe(
    name="convergent-learning",
    paper="Convergent Learning: Do Different Neural Networks Learn the Same Representations? "
          "(Li, Yosinski, Clune, Lipson, Hopcroft, 2016)",
    arxiv="1511.07543",
    claim="Independently trained nets share early-layer units one-to-one, while deep units often lack a "
          "one-to-one partner, so semi-matching beats bipartite matching by more in deep layers. Semi >= "
          "bipartite holds by construction; we test on 4 seeded CNNs on digits whether the drop of the mean "
          "matched correlation from the first to the last conv block is smaller under semi-matching than "
          "under bipartite matching (the gap grows with depth), and report whether early layers match better",
    metric="depth_drop",
    better="lower",
    arms=METHODS,
    config=ConvergentLearningConfig,
    run=run,
    summarize=summarize,
    sections=sections,
    smoke=dict(epochs=5),
    full={},
    seeds=3,
    smoke_seeds=1,
))
