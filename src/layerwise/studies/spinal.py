"""Study ``spinal``: does preference alignment (DPO) raise the contraction score of the final blocks?

SPINAL -- Scaling-law and Preference Integration in Neural Alignment Layers (Das et al., 2026,
arXiv 2601.06238): each checkpoint becomes a depth trace of the contraction score alpha_l (tail
slope of the singular-value spectrum of layer l's hidden states) and the transport score (Fisher-Rao
step between adjacent layers' logit-lens distributions). DPO alignment shows up mainly in the final
decoder blocks, where alpha rises and transport falls.

Tiny reproduction (shared/papers/SPECS-B.md, section 12): pretrain a 6-layer byte GPT on the
standard-library sources, keep a frozen reference copy, then run DPO (Direct Preference
Optimization, Rafailov et al., 2023, arXiv 2305.18290; beta = 0.1, 300 steps) on the *same* corpus.
A preference pair is a training window with two next tokens: the preferred one from a designated
class (a digit), the rejected one drawn from the corpus's own byte frequencies outside that class.
The pairs share everything up to the last token, so the sequence-level DPO margin is exactly the
last-token log-ratio margin: an output-only shift on the pretraining distribution (fine-tuning on
another corpus would change the input statistics and move the early blocks instead). The model's
unembedding is untied from its embedding, as in most 32-layer 7B-class models (the depth the
paper's "layers 21-30" points to): with tied weights, an update of the output layer would move
every block's input directly.

DPO runs at learning rate 2e-6, the pretraining rate / 500 (7B-class DPO uses about 5e-7 after
a 3e-4 pretraining peak): in a 300-step pretraining check it learned the preference (99% of
held-out pairs) while the policy stayed near its reference (KL 0.04 nats per position; the digit
mass went from 0.5% to 1%); at 1e-5 the preference was as well learned but the KL was 2.4 nats
per position, no longer an aligned copy of the pretrained model.

Both checkpoints are traced on fixed held-out windows. The claim is a within-run contrast, one value
per seed: ``delta_alpha_contrast`` = mean Delta-alpha over the final third of the blocks minus the
mean over the first third, claimed > 0 (min_effect 0: the paper reports where the change sits and
its direction, not its size; the traces are exact measurements, so the spread is the seeds').
Secondary rules: alpha rises in the final third; transport falls there; the contrast keeps its sign
with the alternative tail window ``alt_tail`` (the spec's robustness check of the fit range); the
relative parameter change is larger in the final third. The 6-layer model cannot test the paper's
"layers 21-30", only the weaker final-third localisation. What "learned" means: the pretrained
model beats the unigram entropy by 0.2 nats; the DPO model prefers the held-out preferred token
more than the reference does (implicit-reward accuracy) on at least 60% of held-out pairs (chance
is 50%); and it stays an aligned copy of its reference, KL(policy || reference) below 0.5 nats
per position.

Cost of the registered full size (d=64, context 64, batch 32; 1,000 pretraining and 300 DPO steps;
5 seeds): 300 pretraining steps took 24-26 CPU-s and 300 DPO steps 30-36 CPU-s at 1 thread, so
about 2.1 CPU-minutes a seed, about 11 CPU-minutes in all.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from layerwise.analysis import contraction_score, delta_cka, transport_score
from layerwise.data import text_corpus
from layerwise.depth import logit_lens
from layerwise.models import GPT
from layerwise.monitor import RunLog
from layerwise.studies._loops import train_lm, unigram_entropy, warmup_cosine
from layerwise.studies._rules import Descriptive, Gate
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

TRACES = ("alpha_before", "alpha_after", "delta_alpha", "delta_alpha_alt", "transport_before",
          "transport_after", "delta_transport", "delta_cka", "param_change")


@dataclass(frozen=True)
class SpinalConfig:
    """Full size: 6 layers, d=64, context 64, batch 32; 1,000 pretraining steps, 300 DPO steps."""

    n_layer: int = 6
    d_model: int = 64
    n_head: int = 4
    seq_len: int = 64
    batch_size: int = 32
    corpus: str = "stdlib"
    max_bytes: int | None = 3_000_000
    pretrain_steps: int = 1000
    lr: float = 1e-3
    warmup: int = 100
    eval_every: int = 500
    eval_batches: int = 10
    every: int = 10
    tie_weights: bool = False
    dpo_steps: int = 300
    dpo_lr: float = 2e-6
    beta: float = 0.1
    prefer: str = "0123456789"  # the designated token class of preferred continuations
    eval_pairs: int = 512
    probe_seqs: int = 32
    tail: tuple[float, ...] = (0.5, 0.95)
    alt_tail: tuple[float, ...] = (0.3, 0.9)


class PreferencePairs:
    """Windows of a corpus split with a preferred next token (from ``prefer``) and a rejected one
    (the split's byte frequencies, ``prefer`` excluded)."""

    def __init__(self, corpus, prefer: str, split: str) -> None:
        self.corpus, self.split = corpus, split
        self.chosen_ids = torch.tensor(sorted(set(prefer.encode())), dtype=torch.long)
        counts = torch.bincount(corpus.tokens(split).long(), minlength=corpus.vocab_size).double()
        counts[self.chosen_ids] = 0.0
        self.reject_probs = counts / counts.sum()

    def sample(self, n: int, seq_len: int, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        x, _ = self.corpus.batch(n, seq_len, split=self.split, generator=g)
        chosen = self.chosen_ids[torch.randint(len(self.chosen_ids), (n,), generator=g)]
        rejected = torch.multinomial(self.reject_probs, n, replacement=True, generator=g)
        return x, chosen, rejected


def _next_logp(model: GPT, x: Tensor, chosen: Tensor, rejected: Tensor) -> tuple[Tensor, Tensor]:
    """log p(chosen | x) and log p(rejected | x) at the last position."""
    logp = F.log_softmax(model(x)[:, -1].float(), dim=-1)
    return logp.gather(1, chosen[:, None])[:, 0], logp.gather(1, rejected[:, None])[:, 0]


def dpo_margin(policy: GPT, ref: GPT, x: Tensor, chosen: Tensor, rejected: Tensor) -> Tensor:
    """Per pair: (log pi - log ref)(chosen) - (log pi - log ref)(rejected), the implicit-reward
    margin over beta (the shared prefix cancels)."""
    w, l = _next_logp(policy, x, chosen, rejected)
    with torch.no_grad():
        w0, l0 = _next_logp(ref, x, chosen, rejected)
    return (w - w0) - (l - l0)


def dpo(policy: GPT, ref: GPT, pairs: PreferencePairs, cfg: SpinalConfig, t: Trial) -> float:
    """``dpo_steps`` AdamW steps of the DPO loss -log sigmoid(beta * margin); the last loss."""
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.dpo_lr, weight_decay=0.0, betas=(0.9, 0.95))
    warm = max(1, cfg.dpo_steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, total=cfg.dpo_steps, warmup=warm))
    g, loss_value = t.generator(1), math.nan
    with t.monitor(policy, metrics="economy", every=cfg.every, optimizer=opt) as mon:
        for step in range(cfg.dpo_steps):
            x, chosen, rejected = pairs.sample(cfg.batch_size, cfg.seq_len, g)
            with mon.step(step):
                margin = dpo_margin(policy, ref, x, chosen, rejected)
                loss = -F.logsigmoid(cfg.beta * margin).mean()
                loss.backward()
                mon.log(loss=loss, reward_margin=cfg.beta * margin.detach().mean())
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                break
    return loss_value


@torch.no_grad()
def _block_outputs(model: GPT, x: Tensor) -> list[Tensor]:
    outs: list[Tensor] = []
    handles = [b.register_forward_hook(lambda _m, _a, out: outs.append(out)) for b in model.blocks]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return outs


def _param_change(before: GPT, after: GPT) -> list[float]:
    out = []
    for b0, b1 in zip(before.blocks, after.blocks, strict=True):
        w0 = torch.cat([p.detach().flatten() for p in b0.parameters()])
        w1 = torch.cat([p.detach().flatten() for p in b1.parameters()])
        out.append(float((w1 - w0).norm() / w0.norm()))
    return out


@torch.no_grad()
def per_block(cfg: SpinalConfig, before: GPT, after: GPT, x: Tensor) -> dict[str, np.ndarray]:
    """The SPINAL traces of both checkpoints on ``x`` and their changes, one value per block
    (transport: the step from the previous residual into the block's output)."""
    h0, h1 = _block_outputs(before, x), _block_outputs(after, x)
    a0 = np.array([contraction_score(h, tail=cfg.tail) for h in h0])
    a1 = np.array([contraction_score(h, tail=cfg.tail) for h in h1])
    alt = np.array([contraction_score(b, tail=cfg.alt_tail) - contraction_score(a, tail=cfg.alt_tail)
                    for a, b in zip(h0, h1, strict=True)])
    t0 = transport_score(logit_lens(before, x).probs).steps
    t1 = transport_score(logit_lens(after, x).probs).steps
    cka = np.array([delta_cka(a.flatten(0, 1), b.flatten(0, 1)) for a, b in zip(h0, h1, strict=True)])
    return {"alpha_before": a0, "alpha_after": a1, "delta_alpha": a1 - a0, "delta_alpha_alt": alt,
            "transport_before": t0, "transport_after": t1, "delta_transport": t1 - t0,
            "delta_cka": cka, "param_change": np.array(_param_change(before, after))}


def thirds(traces: dict[str, np.ndarray], n_layer: int) -> dict[str, float]:
    """Per-third means and the final-minus-first contrasts the rules judge."""
    k = n_layer // 3
    first, final = slice(0, k), slice(n_layer - k, n_layer)
    out = {}
    for m in ("delta_alpha", "delta_alpha_alt", "delta_transport", "delta_cka", "param_change"):
        out[f"{m}_first"] = float(np.mean(traces[m][first]))
        out[f"{m}_final"] = float(np.mean(traces[m][final]))
    out["delta_alpha_contrast"] = out["delta_alpha_final"] - out["delta_alpha_first"]
    out["delta_alpha_contrast_alt"] = out["delta_alpha_alt_final"] - out["delta_alpha_alt_first"]
    a, b = out["param_change_final"], out["param_change_first"]
    out["param_change_log_ratio"] = math.log(a / b) if a > 0 and b > 0 else math.nan
    return out


@torch.no_grad()
def output_shift(policy: GPT, ref: GPT, pairs: PreferencePairs, cfg: SpinalConfig, x: Tensor,
                 g: torch.Generator) -> dict[str, float]:
    """Did DPO change the output? Held-out implicit-reward accuracy and margin, KL(policy || ref)
    and the probability mass on the preferred class, over every position of ``x``."""
    xe, chosen, rejected = pairs.sample(cfg.eval_pairs, cfg.seq_len, g)
    margin = dpo_margin(policy, ref, xe, chosen, rejected)
    lp, lr = F.log_softmax(policy(x).double(), -1), F.log_softmax(ref(x).double(), -1)
    ids = pairs.chosen_ids
    return {"pref_accuracy": float((margin > 0).double().mean()),
            "reward_margin": float(cfg.beta * margin.mean()),
            "kl_to_ref": float((lp.exp() * (lp - lr)).sum(-1).mean()),
            "class_mass_before": float(lr.exp()[..., ids].sum(-1).mean()),
            "class_mass_after": float(lp.exp()[..., ids].sum(-1).mean())}


class Spinal(Study):
    """DPO on the pretraining corpus: final-third minus first-third change of the contraction score."""

    name = "spinal"
    paper = "SPINAL: Scaling-law and Preference Integration in Neural Alignment Layers (Das et al., 2026)"
    arxiv = "2601.06238"
    claim = ("DPO alignment (beta 0.1, 300 steps, preferred next token from a designated class, same corpus "
             "as pretraining) of a 6-layer byte GPT raises the contraction score alpha more in the final "
             "third of the blocks than in the first third (contrast > 0, one-sample over seeds); "
             "secondary: alpha rises and transport falls in the final third, the contrast survives the "
             "alternative tail window, and parameters change most in the final third")
    Config = SpinalConfig
    arms = {"dpo": {}}
    rule = Descriptive("delta_alpha_contrast", "higher")
    also = (
        Descriptive("delta_alpha_final", "higher"),
        Descriptive("delta_transport_final", "lower"),
        Descriptive("delta_alpha_contrast_alt", "higher"),
        Descriptive("param_change_log_ratio", "higher"),
    )
    gates = (Gate("pretrain_val_loss", below="unigram_entropy", margin=0.2),
             Gate("pref_accuracy", above=0.5, margin=0.1), Gate("kl_to_ref", below=0.5))
    sizes = {
        "tiny": dict(n_layer=3, d_model=16, n_head=2, seq_len=16, batch_size=4, pretrain_steps=6, warmup=2,
                     dpo_steps=4, eval_every=6, eval_batches=1, corpus="pydoc", max_bytes=200_000,
                     eval_pairs=8, probe_seqs=4, every=2),
        "smoke": dict(batch_size=16, pretrain_steps=200, warmup=20, dpo_steps=100, eval_every=100,
                      eval_batches=4, probe_seqs=16, eval_pairs=256),
    }

    def trial(self, cfg: SpinalConfig, t: Trial) -> dict[str, float | list[float]]:
        corpus = text_corpus(cfg.corpus, max_bytes=cfg.max_bytes)
        policy = GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
                     vocab_size=corpus.vocab_size, placement="pre", tie_weights=cfg.tie_weights)
        pre = train_lm(policy, corpus, dataclasses.replace(t, run_dir=t.run_dir / "pretrain"),
                       steps=cfg.pretrain_steps, batch_size=cfg.batch_size, seq_len=cfg.seq_len, lr=cfg.lr,
                       warmup=cfg.warmup, every=cfg.every, eval_every=cfg.eval_every,
                       eval_batches=cfg.eval_batches)
        ref = GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
                  vocab_size=corpus.vocab_size, placement="pre", tie_weights=cfg.tie_weights)
        ref.load_state_dict(policy.state_dict())
        ref.eval().requires_grad_(False)
        dpo_loss = dpo(policy, ref, PreferencePairs(corpus, cfg.prefer, "train"), cfg, t)
        policy.eval()
        x, _ = corpus.batch(cfg.probe_seqs, cfg.seq_len, split="val",
                            generator=torch.Generator().manual_seed(1))  # the same probe text for every run
        traces = per_block(cfg, ref, policy, x)
        with RunLog(t.run_dir / "traces", meta=t.meta) as log:
            for metric, values in traces.items():
                for i, value in enumerate(values):
                    log.log(cfg.dpo_steps, f"blocks.{i}", metric, float(value))
        shift = output_shift(policy, ref, PreferencePairs(corpus, cfg.prefer, "val"), cfg, x, t.generator(2))
        return {"pretrain_val_loss": pre["val_loss"], "unigram_entropy": unigram_entropy(corpus),
                "dpo_loss": dpo_loss, **shift, **thirds(traces, cfg.n_layer),
                **{m: [float(v) for v in values] for m, values in traces.items()}}

    def sections(self, cfg: SpinalConfig, results: dict[str, list[dict]], out_dir) -> list:
        """The SPINAL depth traces before and after DPO, averaged over seeds."""
        from layerwise.report import Section
        from layerwise.report.render import new_figure, style

        rows = results["dpo"]
        if not rows:
            return []
        blocks = np.arange(cfg.n_layer)
        panels = ((("alpha_before", "alpha_after"), "contraction alpha"),
                  (("transport_before", "transport_after"), "transport step into block"),
                  (("delta_cka",), "Delta-CKA before/after"), (("param_change",), "||dW|| / ||W||"))
        with style():
            fig = new_figure(9.0, 2.4)
            for j, (metrics, title) in enumerate(panels):
                ax = fig.add_axes((0.05 + j * 0.245, 0.2, 0.19, 0.62))
                for metric in metrics:
                    ax.plot(blocks, np.nanmean([r[metric] for r in rows], axis=0), marker=".",
                            label=metric.split("_")[-1])
                ax.set_title(title, fontsize=8)
                ax.set_xlabel("block")
                ax.axvspan(cfg.n_layer - cfg.n_layer // 3 - 0.5, cfg.n_layer - 0.5, color="#f2d7a6",
                           alpha=0.4)
                if len(metrics) > 1:
                    ax.legend(fontsize=6)
        return [Section("SPINAL depth traces", figures=(fig,),
                        text="Per-block contraction and transport before and after DPO, representation "
                             "change (Delta-CKA) and parameter change, mean over seeds; the shaded band is "
                             "the final third (Das et al., 2026, arXiv 2601.06238).")]
