"""Study ``reversal-curse``: a next-token GPT against a ConceptJEPA on reversed facts it never saw.

Is the Reversal Curse a Binding Problem? (Boshi Wang, Huan Sun, 2025, arXiv 2504.01928). A model
trained on "h r t" does not answer "t r_inv h" (the reversal curse, Berglund et al., 2023). The
paper traces this to inconsistent concept representations (an entity as an input is not the
entity as an output) and claims that a JEPA-style model, whose one concept encoder gives both the
predictor's inputs and the targets it is scored against by contrastive loss, breaks the curse
without data augmentation: trained on the reversal rule for group-A entities and on one direction
of group-B facts, it answers the other direction of group-B facts well above chance.

Reproduction (shared/papers/SPECS-A.md, paper 14, tiny reproduction), shrunk to train on one CPU
thread: :func:`~layerwise.data.entity_facts` with 600 single-token entities (400 in group A, 200
in group B; the spec's 3000, and the paper's 80k, would not train in the time budget), 2 relation
pairs (800 x 2 group-A facts in both directions, 400 atomic group-B facts; 400 reversed test
facts), a new draw of the facts per seed. Arms: (a) ``gpt``, a 4-block GPT with tied embeddings
(d 64, not the spec's 128: the same capacity per fact at a fifth of the entities), next-token
cross-entropy on the object token of "h r t"; (b) ``jepa``, :class:`~layerwise.models.ConceptJEPA`
with 1 encoder and 3 predictor blocks (d 64), trained by InfoNCE against the batch's distinct
targets (in-batch negatives, as the official ``run_jepa.sh`` trains; all 600 entities are scored
at evaluation, its ``--eval_full_negatives``). The spec's tiny reproduction says "over all entity
encodings"; in calibration both trained the train facts to MRR 1.0 and in-batch negatives gave the
higher test MRR (0.083 against 0.065), so the claim is tested on its better variant.
Both: AdamW lr 3e-3 (the spec's 1e-3 did not memorise the train facts in the budget), weight decay
0.1, batch 256, 800 steps, linear warm-up over 50 steps then a constant lr (the paper's schedule).
Deviation: the JEPA's token embeddings start at std 1 instead of 0.02: the encoder's pre-LN
rescales tiny embeddings, so each Adam step turned them by a large angle, and in calibration the
JEPA at std 0.02 reached train MRR 0.12 after 800 steps (1.0 at std 1); the GPT keeps 0.02. The
paper's MSE auxiliary loss and the optional sparse memory layer are left out.

Metric: MRR of the object among all 600 entities, on the train facts, the atomic facts and the
reversed test facts (chance H_600/600 = 0.0116, about 1/86; ``chance``). Learning curves: the
three MRRs every ``eval_every`` steps. Diagnostic: :func:`~layerwise.analysis.concept_consistency`
of each model's subject and object representations (1 for the JEPA by construction).

Rule, declared before the full run: the JEPA's test MRR exceeds the GPT's by at least 0.05 (paired
over seeds). 0.05 is about four times chance at 600 entities, the size of the gap the spec calls
"clearly above chance": the correct entity moves from a typical rank near 300 into the top 20 on a
meaningful share of the test facts. Secondary: the JEPA's test MRR exceeds chance by at least 0.05
(the spec's pass criterion for arm b). Gate: each arm learns its train facts, train MRR above
chance + 0.4 (35 times chance; the GPT reached 0.64 in calibration).

Calibration (seed 0 of the data, before the rule was fixed, on this machine, 800 steps): the GPT
reached train MRR 0.64 and test MRR 0.058 (0.09 at its peak, step 400); the JEPA train MRR 1.0 and
test MRR 0.083 (in-batch negatives; 0.065 with all negatives). A JEPA over 2000 entities was too
slow to finish in the budget. So the claim may well not hold at this scale, which the spec
anticipates (the paper trained up to 3M steps): the learning curves are in the results.

Cost of the full size: 5 seeds x 2 arms. A first full run with 3 seeds (the seed count was cut on
a calibration under heavy load) took 153 s of wall time and was inconclusive (+0.008 [-0.069,
0.085]); its cost reason did not hold, so the study went back to the standard 5 seeds, with the
rule, effect and every other setting unchanged (disclosed here because adding seeds after a
look is optional stopping). One trial is 20-30 s of CPU at one thread, 4-8 minutes of wall time
for the full size depending on the load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from layerwise.analysis import concept_consistency, reciprocal_ranks, role_representations
from layerwise.data import EntityFacts, entity_facts
from layerwise.models import GPT, ConceptJEPA
from layerwise.studies._rules import Descriptive, Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

SPLITS = ("train", "atomic", "test")


@dataclass(frozen=True)
class ReversalCurseConfig:
    """Full size: 600 entities (a third in group B), 2 relation pairs, d 64, 800 AdamW steps.

    ``model`` is what the arms set (``"gpt"`` or ``"jepa"``); ``emb_std`` is the JEPA's token
    embedding init; ``eval_every``: the learning-curve cadence.
    """

    model: str = "gpt"
    n_entities: int = field(default=600, metadata={"min": 4})
    group_b_fraction: float = field(default=1 / 3, metadata={"max": 0.99})
    relations: tuple[str, ...] = ("parent", "teacher")
    d_model: int = 64
    n_head: int = 4
    gpt_layers: int = 4
    encoder_layers: int = 1
    predictor_layers: int = 3
    emb_std: float = 1.0
    negatives: str = "batch"
    steps: int = 800
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup: int = 50
    eval_every: int = 100


def build(cfg: ReversalCurseConfig, facts: EntityFacts) -> nn.Module:
    if cfg.model == "gpt":
        return GPT(n_layer=cfg.gpt_layers, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=2,
                   vocab_size=facts.vocab_size, tie_weights=True)
    if cfg.model == "jepa":
        model = ConceptJEPA(vocab_size=facts.vocab_size, d_model=cfg.d_model, n_head=cfg.n_head,
                            encoder_layers=cfg.encoder_layers, predictor_layers=cfg.predictor_layers,
                            patch_len=1, max_concepts=2)
        nn.init.normal_(model.tok_emb.weight, std=cfg.emb_std)
        return model
    raise ValueError(f"model must be 'gpt' or 'jepa', got {cfg.model!r}")


def scores(model: nn.Module, triples: torch.Tensor, entities: torch.Tensor) -> torch.Tensor:
    """(M, n_entities): each candidate object's score for the prompts "h r" of ``triples``."""
    if isinstance(model, ConceptJEPA):
        return model.scores(triples[:, :2, None], entities[:, None])
    return model(triples[:, :2])[:, -1][:, entities]


def loss(model: nn.Module, cfg: ReversalCurseConfig, triples: torch.Tensor,
         entities: torch.Tensor) -> torch.Tensor:
    target = triples[:, 2] - entities[0]
    if isinstance(model, ConceptJEPA):
        return model.loss(triples[:, :2, None], entities[:, None], target, negatives=cfg.negatives)
    return F.cross_entropy(model(triples[:, :2])[:, -1], triples[:, 2])


@torch.no_grad()
def mrr(model: nn.Module, triples: torch.Tensor, entities: torch.Tensor) -> float:
    model.eval()
    ranks = torch.cat([reciprocal_ranks(scores(model, chunk, entities), chunk[:, 2] - entities[0])
                       for chunk in triples.split(1024)])
    model.train()
    return float(ranks.mean())


def chance_mrr(n: int) -> float:
    """Expected reciprocal rank of a uniformly random ranking of ``n`` candidates, H_n / n."""
    return sum(1.0 / k for k in range(1, n + 1)) / n


class ReversalCurse(Study):
    """Next-token GPT vs ConceptJEPA: MRR on reversed group-B facts never trained."""

    name = "reversal-curse"
    paper = "Is the Reversal Curse a Binding Problem? (Wang, Sun, 2025)"
    arxiv = "2504.01928"
    claim = ("a ConceptJEPA (one encoder for inputs and contrastive targets) answers reversed facts "
             "it never saw better than a next-token GPT: test MRR at least 0.05 higher (600 "
             "entities, chance 0.0116)")
    Config = ReversalCurseConfig
    arms = {"gpt": {"model": "gpt"}, "jepa": {"model": "jepa"}}
    rule = Superiority("test_mrr", "higher", treatment="jepa", baseline="gpt", min_effect=0.05,
                       worst="chance")
    also = (Descriptive("test_mrr_over_chance", "higher", null=0.0, min_effect=0.05, arm="jepa",
                        worst=0.0),)
    gates = (Gate("train_mrr", above="chance", margin=0.4),)
    sizes = {
        "tiny": dict(n_entities=24, d_model=16, n_head=2, gpt_layers=2, predictor_layers=1, steps=6,
                     batch_size=32, warmup=2, eval_every=3),
        "smoke": dict(n_entities=150, steps=200, batch_size=128, eval_every=50),
    }

    def sections(self, cfg: ReversalCurseConfig, results: dict[str, list[dict]], out_dir: Any) -> list:
        """Learning curves: each arm's train, atomic and test MRR at every evaluation (seed mean)."""
        from html import escape

        from layerwise.report import Section

        arms = [arm for arm, rows in results.items() if rows]
        if not arms:
            return []
        head = "".join(f"<th>{escape(arm)} {s}</th>" for arm in arms for s in SPLITS)
        means = {(arm, s): np.nanmean([r[f"{s}_mrr_curve"] for r in results[arm]], axis=0)
                 for arm in arms for s in SPLITS}
        body = "".join(f"<tr><td>{int(step)}</td>" + "".join(
            f"<td>{means[arm, s][i]:.4f}</td>" for arm in arms for s in SPLITS) + "</tr>"
            for i, step in enumerate(results[arms[0]][0]["curve_steps"]))
        html = f"<table class=\"lw-table\"><tr><th>step</th>{head}</tr>{body}</table>"
        text = (f"MRR among all {cfg.n_entities} entities (chance {chance_mrr(cfg.n_entities):.4f}), "
                "mean over seeds; test = reversed group-B facts, never trained.")
        return [Section("Learning curves", html=html, text=text)]

    def trial(self, cfg: ReversalCurseConfig, t: Trial) -> dict[str, Any]:
        facts = entity_facts(n_entities=cfg.n_entities, group_b_fraction=cfg.group_b_fraction,
                             relations=cfg.relations, seed=t.seed)
        data = {s: facts.triples(s) for s in SPLITS}
        entities = facts.entity_tokens()
        model = build(cfg, facts)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup))
        g = t.generator()
        curves: dict[str, list[float]] = {s: [] for s in SPLITS}
        with t.runlog("curves") as log:
            for step in range(cfg.steps):
                batch = data["train"][torch.randint(len(data["train"]), (cfg.batch_size,), generator=g)]
                value = loss(model, cfg, batch, entities)
                value.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                sched.step()
                if (step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1:
                    now = {s: mrr(model, data[s], entities) for s in SPLITS}
                    for s in SPLITS:
                        curves[s].append(now[s])
                    log.log_scalars(step + 1, loss=value.item(), **{f"{s}_mrr": now[s] for s in SPLITS})
                    t.progress(step + 1, cfg.steps)
        diverged = not math.isfinite(value.item())
        final = {f"{s}_mrr": math.nan if diverged else curves[s][-1] for s in SPLITS}
        consistency = concept_consistency(*role_representations(model, entities))
        chance = chance_mrr(cfg.n_entities)
        return {**final, "chance": chance, "test_mrr_over_chance": final["test_mrr"] - chance,
                "chance_group_b": chance_mrr(int(facts.group_b.sum())),
                **{f"{s}_mrr_curve": curves[s] for s in SPLITS},
                "curve_steps": [float(min(cfg.steps, k * cfg.eval_every))
                                for k in range(1, len(curves["test"]) + 1)],
                "consistency_cosine": consistency.cosine, "consistency_gap": consistency.gap,
                "consistency_mrr": consistency.mrr, "diverged": float(diverged)}
