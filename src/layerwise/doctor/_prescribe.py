"""Ranked remedies for each symptom: layerwise components with settings, each for a reason
that its paper (or plain practice) gives.

The order follows the papers, corrected where paired re-runs of every remedy on the fault
benchmark's calibration splits contradicted it (``bench/faults/calibrate.py``, counts in
``bench/results/remedy-calibration.json``; the newest held-out split stays out): saturation
takes a norm before the activation first even from the first step (confirmed in 3 of 5 cases, a
Glorot redraw in 2: inputs and biases saturate too); vanishing gradients put an activation swap
first only through a sigmoid (its slope of at most 1/4 caps what any init passes back; tanh has
slope 1 at 0, and a redraw fixed the tanh case where the swap did not); massive activations try
LayerNorm Scaling before Peri-LN (neither was confirmed in 5 cases; Peri-LN made the held-out
loss worse in 2 and LayerNorm Scaling in none).
"""

from __future__ import annotations

from layerwise.doctor._finding import Prescription as P

PRESCRIPTIONS: dict[str, tuple[P, ...]] = {
    "non-finite values": (
        P("skip_nonfinite", {}, "skips any step whose gradients hold NaN or Inf, as dynamic loss "
          "scaling does (Micikevicius et al. 2018), so one bad batch or overflow cannot poison the "
          "weights; no earlier growth explains this one"),
        P("clip_per_layer", {"C": 1.0, "mode": "per_tensor"},
          "bounds every layer's step, so one bad batch cannot blow up the weights"),
        P("learning_rate", {"factor": 0.1}, "a NaN usually follows an update that was too large"),
        P("norm_placement", {"placement": "peri"},
          "Peri-LN (Kim et al. 2025) normalises each block's output and keeps activations bounded"),
    ),
    "transient non-finite values": (
        P("skip_nonfinite", {}, "the run recovered, so its steps were skipped or the NaN never "
          "reached the weights: keep the guard, and look at the batches of the listed steps"),
    ),
    "exploding gradients": (
        P("clip_per_layer", {"C": 1.0, "mode": "per_tensor"},
          "caps the gradient of each layer at its own scale"),
        P("learning_rate", {"factor": 0.1}, "growth compounds across steps when the step is too large"),
        P("layernorm_scaling", {}, "LayerNorm Scaling (Sun et al. 2025) damps the deep layers' variance"),
    ),
    "vanishing gradients": (
        P("init", {"scheme": "kaiming"}, "variance-preserving init keeps the signal alive with depth"),
        P("insert_norm_before_activations", {"norm": "layer"},
          "normalised pre-activations keep gradients at a usable scale"),
        P("replace_activations", {"old": "relu", "new_factory": "elu"},
          "ELU (Clevert et al. 2016) passes gradient for negative inputs and removes bias shift"),
        P("add_noise", {"eta": 0.01, "gamma": 0.55},
          "annealed gradient noise (Neelakantan et al. 2015) helps very deep nets start learning"),
    ),
    "dead units": (
        P("replace_activations", {"old": "relu", "new_factory": "leaky_relu"},
          "a negative slope lets dead units recover"),
        P("learning_rate", {"factor": 0.3}, "large steps push pre-activations below zero for good"),
        P("project_to_init_norm", {}, "NaP (Lyle et al. 2024) keeps weight norms, and with them "
          "the effective learning rate, from drifting"),
    ),
    "loss spike": (
        P("clip_per_layer", {"C": 1.0, "mode": "per_tensor"}, "stops one batch's gradient "
          "from throwing the weights off"),
        P("learning_rate", {"factor": 0.3}, "spikes come from steps the curvature cannot take"),
        P("norm_placement", {"placement": "peri"}, "Peri-LN bounds the residual stream that "
          "large activations grow in"),
        P("skip_batches", {}, "rewind to before the spike and skip the batches around it, as PaLM "
          "did (Chowdhery et al. 2022, sec. 5.1): the window is set from the spike by the rule"),
    ),
    "massive activations": (
        P("layernorm_scaling", {}, "scales deep norms by 1/sqrt(l) (Sun et al. 2025), damping the "
          "residual stream's growth with depth; the milder change of the two"),
        P("norm_placement", {"placement": "peri"}, "Peri-LN (Kim et al. 2025) normalises block "
          "outputs, where massive activations build up under Pre-LN"),
    ),
    "update too large": (
        P("learning_rate", {"factor": 0.1}, "an update over 10% of the weight norm per step "
          "overwrites what was learned"),
        P("clip_per_layer", {"C": 1.0, "mode": "per_tensor"}, "bounds each layer's step"),
    ),
    "update too small": (
        P("learning_rate", {"factor": 10.0}, "updates below 1e-5 of the weight norm barely move "
          "the weights"),
        P("noise_adaptive_muon", {}, "per-layer learning rates that follow each layer's "
          "gradient noise (Muon with noise-adaptive rates)"),
    ),
    "saturation": (
        P("insert_norm_before_activations", {"norm": "layer"}, "normalised pre-activations stay in "
          "the bounded activation's sloped range"),
        P("learning_rate", {"factor": 0.3}, "large steps drive pre-activations to the flat ends"),
        P("replace_activations", {"old": "tanh", "new_factory": "elu"}, "ELU (Clevert et al. 2016) "
          "does not saturate for positive inputs (unbounded: keep the weights' scale in check)"),
    ),
    "gradient conflict": (
        P("pcgrad", {}, "projects each loss's gradient off the ones it conflicts with (Yu et al. 2020)"),
        P("samgs", {}, "rebalances loss gradients by their magnitude similarity (SAM-GS, 2025)"),
        P("gcond", {}, "accumulates gradients before resolving conflicts (GCond, 2025)"),
    ),
    "attention-logit growth": (
        P("qk_norm", {}, "QK-norm (Dehghani et al. 2023) bounds every logit by sqrt(d_head)"),
        P("learning_rate", {"factor": 0.3}, "logits grow fastest at high learning rates "
          "(Wortsman et al. 2023)"),
    ),
    "attention-entropy collapse": (
        P("qk_norm", {}, "normalised queries and keys keep the logits, and the entropy, in range"),
        P("learning_rate", {"factor": 0.3}, "entropy collapses under steps too large for the "
          "attention logits (Zhai et al. 2023)"),
    ),
    "rank collapse": (
        P("norm_placement", {"placement": "peri"}, "output norms keep each branch's update in scale "
          "with the residual that carries token identity (Kim et al. 2025)"),
        P("learning_rate", {"factor": 0.3}, "a smaller step keeps attention from averaging the "
          "tokens into one"),
    ),
    "unused depth": (
        P("layernorm_scaling", {}, "LayerNorm Scaling (Sun et al. 2025) keeps deep Pre-LN blocks "
          "from becoming identities"),
        P("norm_placement", {"placement": "peri"}, "Peri-LN keeps every block's contribution in "
          "scale with the stream"),
    ),
    "no progress": (
        P("learning_rate", {"factor": 3.0}, "a flat loss with finite gradients suggests a step too small"),
        P("init", {"scheme": "kaiming"}, "a poorly scaled init can stall the start"),
        P("project_to_init_norm", {}, "NaP restores plasticity lost as weight norms grow"),
    ),
}


# a symptom present from the first logged step points at the initialisation: a redraw, at the
# given place in the usual ranking (first for dead units; after the norm for saturation)
FROM_START: dict[str, tuple[int, P]] = {
    "dead units": (0, P("init", {"scheme": "kaiming"}, "units dead from the first step were "
                        "initialised dead (biases or scale): redraw the weights, zero the biases")),
    "saturation": (1, P("init", {"scheme": "xavier"}, "saturated from the first step: the initial "
                        "weights may be too large for a bounded activation; Glorot init keeps "
                        "pre-activations near unit scale")),
}


def prescriptions(symptom: str, *, from_start: bool = False) -> tuple[P, ...]:
    """The ranked remedies for ``symptom``; ``from_start``: it showed from the first logged step."""
    usual = PRESCRIPTIONS.get(symptom, ())
    if not from_start or symptom not in FROM_START:
        return usual
    at, redraw = FROM_START[symptom]
    return (*usual[:at], redraw, *usual[at:])


FACTOR_RANGE = (1e-3, 1e3)  # the most a prescribed learning-rate change scales by


def learning_rate_first(ranked: tuple[P, ...], factor: float, why: str) -> tuple[P, ...]:
    """``ranked`` with a learning-rate change by ``factor`` (within FACTOR_RANGE, 2 digits) first."""
    lo, hi = FACTOR_RANGE
    factor = float(f"{min(max(factor, lo), hi):.2g}")
    lr = P("learning_rate", {"factor": factor}, f"{why}: scale the learning rate by {factor:g}")
    return (lr, *(q for q in ranked if q.component != "learning_rate"))


SATURATING = ("sigmoid", "tanh")


def fit_to_model(ranked: tuple[P, ...], symptom: str, activations: dict[str, int] | None) -> tuple[P, ...]:
    """``ranked`` fitted to the activations the run's model has (``meta.json`` ``model.activations``;
    unknown: unchanged): an activation swap names one the model has, or is dropped; vanishing
    gradients through a sigmoid put the swap first, since its slope is at most 1/4 whatever the
    init (Glorot & Bengio 2010), while tanh, of slope 1 at 0, keeps the redraw first."""
    if not activations:
        return ranked
    saturating = [a for a in SATURATING if a in activations]
    fitted = []
    for p in ranked:
        if p.component != "replace_activations" or p.settings["old"] in activations:
            fitted.append(p)
        elif symptom in ("vanishing gradients", "saturation") and saturating:
            fitted.append(P("replace_activations", {"old": saturating[0], "new_factory": "elu"},
                            f"the model's {saturating[0]} saturates; ELU (Clevert et al. 2016) keeps a unit "
                            "slope for positive inputs"))
    if symptom == "vanishing gradients" and "sigmoid" in activations:
        fitted.sort(key=lambda p: p.component != "replace_activations")
    return tuple(fitted)
