"""The doctor's rules, one file each; importing this package registers them in order of severity."""

from layerwise.doctor.rules import (  # noqa: F401
    attention_entropy,
    attention_logits,
    dead_units,
    exploding,
    gradient_conflict,
    loss_spike,
    massive_activations,
    nonfinite,
    rank_collapse,
    saturation,
    stalled,
    unused_depth,
    update_size,
    vanishing,
)
