"""Prescriptions fitted to the run: the activation swap names one the model has, the
learning-rate change is bounded, and the Monitor records what activations a model has."""

from __future__ import annotations

from torch import nn

from layerwise.doctor._prescribe import FACTOR_RANGE, fit_to_model, learning_rate_first, prescriptions
from layerwise.models import MLP
from layerwise.monitor import model_summary


def components(ranked) -> list[tuple[str, str | None]]:
    return [(p.component, p.settings.get("old")) for p in ranked]


def test_an_unknown_model_keeps_the_usual_ranking():
    usual = prescriptions("dead units")
    assert fit_to_model(usual, "dead units", None) == usual
    assert fit_to_model(usual, "dead units", {"relu": 4}) == usual


def test_a_swap_the_model_cannot_take_is_dropped():
    fitted = fit_to_model(prescriptions("dead units"), "dead units", {"gelu": 4})
    assert "replace_activations" not in [c for c, _ in components(fitted)]
    assert len(fitted) == len(prescriptions("dead units")) - 1


def test_vanishing_through_sigmoid_swaps_the_sigmoid_first():
    fitted = fit_to_model(prescriptions("vanishing gradients"), "vanishing gradients", {"sigmoid": 10})
    assert components(fitted)[0] == ("replace_activations", "sigmoid")
    assert fitted[0].settings["new_factory"] == "elu"
    relu = fit_to_model(prescriptions("vanishing gradients"), "vanishing gradients", {"relu": 10})
    assert components(relu)[0] == ("init", None)  # a ReLU net keeps the init first
    tanh = fit_to_model(prescriptions("vanishing gradients"), "vanishing gradients", {"tanh": 10})
    assert components(tanh)[0] == ("init", None)  # tanh passes slope 1 at 0: the redraw first
    assert ("replace_activations", "tanh") in components(tanh)  # the swap is still offered, later


def test_a_symptom_from_the_first_step_adds_a_redraw_where_the_calibration_put_it():
    dead = prescriptions("dead units", from_start=True)
    assert dead[0].component == "init" and dead[1:] == prescriptions("dead units")
    saturated = prescriptions("saturation", from_start=True)
    assert [p.component for p in saturated[:2]] == ["insert_norm_before_activations", "init"]
    assert saturated[1].settings == {"scheme": "xavier"}
    assert prescriptions("saturation") == saturated[:1] + saturated[2:]
    assert prescriptions("massive activations")[0].component == "layernorm_scaling"


def test_saturation_names_the_saturating_activation():
    fitted = fit_to_model(prescriptions("saturation"), "saturation", {"sigmoid": 4})
    assert ("replace_activations", "sigmoid") in components(fitted)
    assert ("replace_activations", "tanh") not in components(fitted)


def test_learning_rate_first_bounds_the_factor():
    ranked = learning_rate_first(prescriptions("update too small"), 1e9, "why")
    assert ranked[0].settings["factor"] == FACTOR_RANGE[1]
    assert [p.component for p in ranked].count("learning_rate") == 1
    assert learning_rate_first((), 1e-9, "why")[0].settings["factor"] == FACTOR_RANGE[0]


def test_model_summary_counts_activation_modules():
    model = MLP(in_dim=4, out_dim=2, depth=3, width=8, act="tanh")
    assert model_summary(model)["activations"] == {"tanh": 3}
    assert model_summary(nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.ReLU(), nn.Sigmoid()))[
        "activations"] == {"sigmoid": 2, "relu": 1}
