"""The doctor's rules, one file each; importing this package registers them in order of severity."""

from layerwise.doctor.rules import (  # noqa: F401
    dead_units,
    exploding,
    gradient_conflict,
    loss_spike,
    massive_activations,
    nonfinite,
    stalled,
    update_size,
    vanishing,
)
