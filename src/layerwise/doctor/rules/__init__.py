"""The doctor's rules, one file each; importing this package registers them in order of severity."""

from layerwise.doctor.rules import (  # noqa: F401
    dead_units,
    exploding,
    loss_spike,
    massive_activations,
    nonfinite,
    stalled,
    update_size,
    vanishing,
)
