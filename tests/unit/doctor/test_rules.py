"""Each doctor rule on synthetic rows: the fault is found (layers, onset) exactly at its threshold
and not just below it; a healthy history raises nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerwise.doctor import diagnose, from_rows

LAYERS = ["blocks.0", "blocks.1", "blocks.2", "blocks.3"]


def rows(per_layer: dict[str, np.ndarray] | None = None, scalars: dict[str, np.ndarray] | None = None,
         meta: dict | None = None, unlogged: dict[str, np.ndarray] | None = None):
    """Signals from ``metric -> (steps x layers)`` arrays and ``name -> (steps,)`` series; the
    cells of ``unlogged[metric]`` (a mask) get no row at all."""
    cols = {"step": [], "layer": [], "metric": [], "value": []}
    for metric, values in (per_layer or {}).items():
        skip = (unlogged or {}).get(metric, np.zeros(values.shape, dtype=bool))
        for i, row in enumerate(values):
            for j, (layer, v) in enumerate(zip(LAYERS, row, strict=True)):
                if skip[i, j]:
                    continue
                cols["step"].append(i), cols["layer"].append(layer)
                cols["metric"].append(metric), cols["value"].append(float(v))
    for name, series in (scalars or {}).items():
        for i, v in enumerate(series):
            cols["step"].append(i), cols["layer"].append("")
            cols["metric"].append(name), cols["value"].append(float(v))
    return from_rows(cols, LAYERS, meta)


def symptoms(signals) -> dict:
    return {f.symptom: f for f in diagnose(signals).findings}


def healthy(steps: int = 60) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    grad = np.exp(rng.normal(0, 0.2, (steps, 4))) * np.array([0.5, 0.8, 1.0, 1.2])
    return {"grad_norm": grad, "dead_fraction": np.full((steps, 4), 0.3),
            "act_max_median": np.full((steps, 4), 12.0), "update_ratio": np.full((steps, 4), 1e-3)}


def decaying_loss(steps: int = 60) -> np.ndarray:
    return 2.3 * np.exp(-np.arange(steps) / 20) + 0.1 + 0.01 * np.sin(np.arange(steps))


def test_a_healthy_run_raises_nothing():
    assert diagnose(rows(healthy(), {"loss": decaying_loss()})).findings == []


def test_nonfinite_names_the_first_step_and_layer():
    act = np.ones((10, 4))
    act[6, 2] = math.nan
    act[7:, 1:] = math.inf
    found = symptoms(rows({"act_max": act}))["non-finite values"]
    assert (found.onset_step, found.layers, found.severity) == (6, ("blocks.2",), "critical")


def test_nonfinite_a_run_finite_again_for_five_steps_is_transient():
    act, loss = np.ones((20, 4)), np.linspace(2.0, 1.0, 20)
    act[14, 0], loss[14] = math.nan, math.nan  # a NaN batch at step 14, steps 15..19 finite: 5 after it
    found = symptoms(rows({"act_max": act}, {"loss": loss}))
    assert "non-finite values" not in found
    t = found["transient non-finite values"]
    assert (t.onset_step, t.severity, t.evidence["steps"]) == (14, "low", [14])
    assert t.prescriptions[0].component == "skip_nonfinite"
    act[15, 0] = math.inf  # finite for only 4 steps after the last bad one: not recovered
    found = symptoms(rows({"act_max": act}, {"loss": loss}))
    assert found["non-finite values"].severity == "critical" and "transient non-finite values" not in found
    assert found["non-finite values"].prescriptions[0].component == "skip_nonfinite"


def test_exploding_at_100x_growth_for_two_steps():
    grad = np.tile([0.5, 0.8, 1.0, 1.2], (60, 1))
    grad[30:, 3] *= 100  # exactly 100x the early median, from step 30 on
    found = symptoms(rows({"grad_norm": grad}))["exploding gradients"]
    assert found.onset_step == 30 and found.layers == ("blocks.3",)
    grad[30:, 3] *= 0.99  # 99x: not an explosion
    assert "exploding gradients" not in symptoms(rows({"grad_norm": grad}))
    grad[40, 3] = 1e6  # one large value alone: not sustained
    assert "exploding gradients" not in symptoms(rows({"grad_norm": grad}))
    grad[51, 3], grad[52, 3] = math.inf, 1e9  # an infinite norm, then a huge one
    assert symptoms(rows({"grad_norm": grad}))["exploding gradients"].onset_step == 51


@pytest.mark.parametrize("calm_from, found", [(40, False), (41, True)])
def test_a_surge_that_settles_within_ten_steps_is_not_an_explosion(calm_from, found):
    grad = np.tile([0.5, 0.8, 1.0, 1.2], (60, 1))
    grad[30:calm_from] *= 150  # a bad shard: 150x from step 30, back to normal from calm_from
    assert ("exploding gradients" in symptoms(rows({"grad_norm": grad}))) is found
    grad[30:40] *= 2
    grad[57:, 2] *= 150  # a second surge near the end: fewer than 3 calm steps after it
    assert "exploding gradients" in symptoms(rows({"grad_norm": grad}))
    grad[57:] = np.tile([0.5, 0.8, 1.0, 1.2], (3, 1))
    grad[35, 0] = math.inf  # it went non-finite on the way: an explosion, whatever came after
    assert symptoms(rows({"grad_norm": grad}))["exploding gradients"].onset_step == 30


@pytest.mark.parametrize("rate, found", [(10.0, True), (9.9, False)])
def test_exploding_from_the_first_step_compounds_tenfold_per_step(rate, found):
    grad = np.tile([0.5, 0.8, 1.0, 1.2], (10, 1))
    grad[:, 1] = 100.0 * rate ** np.minimum(np.arange(10), 3)  # 1e2, x rate three times, then flat
    got = symptoms(rows({"grad_norm": grad}))
    assert ("exploding gradients" in got) is found
    if found:
        f = got["exploding gradients"]
        assert (f.onset_step, f.layers, f.evidence["criterion"]) == (1, ("blocks.1",), "10x per logged step")


@pytest.mark.parametrize(("first_update", "rows_before", "onset"), [(0.2, 0, 0), (0.1, 0, 1), (0.2, 9, 9)])
def test_an_explosion_after_an_oversized_first_step_dates_from_it(first_update, rows_before, onset):
    grad = np.tile([0.5, 0.8, 1.0, 1.2], (rows_before + 6, 1))
    grad[rows_before:, 0] = 0.5 * 10.0 ** np.arange(6)  # tenfold per step from row rows_before + 1 on
    ratio = np.full(grad.shape, 1e-3)
    ratio[0, 2] = first_update
    signals = rows({"grad_norm": grad, "update_ratio": ratio})
    f = symptoms(signals)["exploding gradients"]
    assert f.onset_step == (0 if onset == 0 else rows_before + 1)
    said = "since step 0 (criterion met at step 1)" in diagnose(signals).text()
    assert said is (onset == 0)
    if onset == 0:  # the first update was over 1e-1 and the blow-up came within 10 rows: no healthy phase
        assert f.evidence["detected_step"] == 1 and f.evidence["first_update_ratio"] == pytest.approx(0.2)
        first = f.prescriptions[0]
        assert (first.component, first.settings["factor"]) == ("learning_rate", 0.05)  # 0.2 -> 1e-2
    else:  # at the bound, or found on the 10th row or later: dated where it was found
        assert "detected_step" not in f.evidence and f.prescriptions[0].component == "clip_per_layer"


def test_vanishing_uses_autotrainers_two_thresholds_ten_times_looser():
    grad = np.tile([5e-4, 9.9e-3, 0.1, 1.0], (10, 1))  # first/last 5e-4 < 1e-2 and first < 1e-3
    found = symptoms(rows({"grad_norm": grad}))["vanishing gradients"]
    assert found.layers == ("blocks.0", "blocks.1") and found.onset_step == 0
    grad[:, 0] = 1e-3  # ratio 1e-3 < 1e-2 but the norm 1e-3 is not below 1e-3: not vanishing
    assert "vanishing gradients" not in symptoms(rows({"grad_norm": grad}))
    grad[:, 0], grad[:, 3] = 5e-4, 0.05  # first under 1e-3 but 1e-2 of the last: not vanishing
    assert "vanishing gradients" not in symptoms(rows({"grad_norm": grad}))


@pytest.mark.parametrize(("dead", "found"), [(0.70, True), (0.69, False)])
def test_dead_units_at_seventy_percent(dead, found):
    frac = np.full((12, 4), 0.2)
    frac[4:, 1] = dead
    got = symptoms(rows({"dead_fraction": frac}))
    assert ("dead units" in got) is found
    if found:
        assert got["dead units"].layers == ("blocks.1",) and got["dead units"].onset_step == 4
        assert got["dead units"].prescriptions[0].component == "replace_activations"  # died training


def test_a_loss_spike_needs_four_steps_above_twice_the_mean():
    loss = np.full(80, 1.0) + 0.01 * np.sin(np.arange(80))
    loss[50:53] = 2.5  # three steps: a blip
    assert "loss spike" not in symptoms(rows(scalars={"loss": loss}))
    loss[50:54] = 2.5  # four
    assert symptoms(rows(scalars={"loss": loss}))["loss spike"].onset_step == 50


def test_a_spike_on_a_falling_loss_is_read_against_its_step_noise():
    rng = np.random.default_rng(1)
    loss = 4.0 - 0.01 * np.arange(100) + rng.normal(0, 0.02, 100)  # a trend wider than the noise
    assert "loss spike" not in symptoms(rows(scalars={"loss": loss}))
    from layerwise.doctor.rules.loss_spike import step_noise

    noise = step_noise(loss[:60])
    assert 0.012 < noise < 0.03  # close to the 0.02 drawn; the plain sd would be ~0.17
    jumped = loss.copy()
    jumped[60:64] = np.median(loss[50:60]) + 8 * noise  # 8 sigma over the recent level, 4 steps
    found = symptoms(rows(scalars={"loss": jumped}))["loss spike"]
    assert found.onset_step == 60
    jumped[63] = loss[63]  # three steps above: a blip
    assert "loss spike" not in symptoms(rows(scalars={"loss": jumped}))


def _spike(update_jump: float):
    """A spike from step 50 (a lone spiking value at 47 before it) over steady gradients, with the
    update ratio multiplied by ``update_jump`` at step 46, just before the first sign."""
    loss = np.full(80, 1.0) + 0.01 * np.sin(np.arange(80))
    loss[47], loss[50:54] = 2.5, 2.5
    grad, ratio = np.full((80, 4), 0.5), np.full((80, 4), 1e-3)
    ratio[46, 1] *= update_jump
    return symptoms(rows({"grad_norm": grad, "update_ratio": ratio}, {"loss": loss}))["loss spike"]


def test_a_spike_after_ordinary_steps_skips_the_batches_around_its_first_sign():
    found = _spike(1.0)
    assert (found.onset_step, found.evidence["first_sign_step"], found.evidence["cause"]) == (50, 47, "data")
    first = found.prescriptions[0]
    assert (first.component, first.settings) == ("skip_batches", {"start": 43, "stop": 55})  # 47 - 4, 47 + 8
    assert "rose at step 47" in first.why and "skip batches 43-54" in first.why


def test_a_spike_after_a_tenfold_step_is_the_step_size_and_skips_nothing():
    found = _spike(10.0)  # the effective learning rate jumped 10x at step 46: the exploding rule's test
    assert found.evidence["cause"] == "step size" and found.evidence["effective_lr_jump"] == pytest.approx(10)
    assert "skip_batches" not in [p.component for p in found.prescriptions]
    assert _spike(9.0).evidence["cause"] == "data"  # just under the jump threshold


def test_the_spike_plot_shades_the_batches_to_skip():
    from layerwise.doctor import evidence_figure

    ax = evidence_figure(_spike(1.0), rows(scalars={"loss": np.ones(80)})).get_axes()[0]
    (span,) = [p for p in ax.patches if p.get_label().startswith("batches to skip")]
    assert span.get_label() == "batches to skip 43-54" and span.get_x() == 43 and span.get_width() == 11


def test_a_spike_without_update_rows_keeps_the_usual_order_and_says_why():
    loss = np.full(80, 1.0) + 0.01 * np.sin(np.arange(80))
    loss[50:54] = 2.5
    found = symptoms(rows(scalars={"loss": loss}))["loss spike"]
    assert found.evidence["cause"].startswith("unknown (needs update_ratio and grad_norm")
    assert [p.component for p in found.prescriptions][0] == "clip_per_layer"
    assert found.prescriptions[-1].settings == {"start": 46, "stop": 58}


def test_massive_activations_at_a_thousand_times_the_median():
    ratio = np.full((10, 4), 50.0)
    ratio[3:, 2] = 1000.0
    assert symptoms(rows({"act_max_median": ratio}))["massive activations"].layers == ("blocks.2",)
    ratio[3:, 2] = 999.0
    assert "massive activations" not in symptoms(rows({"act_max_median": ratio}))


def test_massive_activations_that_rise_tenfold_past_a_hundred_mid_run():
    ratio = np.full((40, 4), 5.0) + 0.1 * np.arange(4)
    ratio[20:, 1] = 100.0  # 20x its level, at the floor: found, from the first risen row
    found = symptoms(rows({"act_max_median": ratio}))["massive activations"]
    assert (found.layers, found.onset_step, found.evidence["level_before"]) == (("blocks.1",), 20, 5.1)
    ratio[20:, 1] = 99.0  # under the floor
    assert "massive activations" not in symptoms(rows({"act_max_median": ratio}))
    ratio[:, 1] = 20.0
    ratio[20:, 1] = 199.0  # 9.95x its level
    assert "massive activations" not in symptoms(rows({"act_max_median": ratio}))
    ratio[20:22, 1] = 200.0  # 10x, but on two rows only
    assert "massive activations" not in symptoms(rows({"act_max_median": ratio}))
    ratio[:, 1] = np.geomspace(5.0, 900.0, 40)  # a steady climb to 900 (1.14x a row) is no rise
    assert "massive activations" not in symptoms(rows({"act_max_median": ratio}))


@pytest.mark.parametrize(("value", "symptom"), [(0.2, "update too large"), (3e-6, "update too small")])
def test_update_size_outside_sagemakers_range(value, symptom):
    ratio = np.full((20, 4), 1e-3)
    ratio[:, 0] = value
    found = symptoms(rows({"update_ratio": ratio}))[symptom]
    assert found.layers == ("blocks.0",)
    lr = found.prescriptions[0]
    assert lr.component == "learning_rate"  # sized to bring the ratio a decade inside the bound
    target = 1e-2 if symptom == "update too large" else 1e-4
    assert lr.settings["factor"] == pytest.approx(target / value, rel=0.05)  # 2 significant digits


def test_steps_at_a_steady_few_percent_of_the_weights_are_too_large_under_the_bound():
    values = healthy(60)
    values["update_ratio"][10:, 1] = 0.04  # under 1e-1 throughout, at 0.04 from step 10 on
    f = symptoms(rows(values))["update too large"]
    assert (f.layers, f.onset_step, f.evidence["steady_bound"]) == (("blocks.1",), 10, 0.04)
    assert f.prescriptions[0].settings["factor"] == pytest.approx(0.25)  # to 1e-2
    values["update_ratio"][10:, 1] = 0.0399
    assert "update too large" not in symptoms(rows(values))
    values["update_ratio"][:, 1] = 1e-3
    values["update_ratio"][:31, 1] = 0.05  # a first half at 0.05, then 1e-3: the second half decides
    assert "update too large" not in symptoms(rows(values))


def test_exploding_after_a_step_size_jump_prescribes_undoing_it():
    grad = np.tile([0.5, 0.8, 1.0, 1.2], (60, 1))
    ratio = np.full((60, 4), 1e-3)
    ratio[29:, :] *= 40  # the learning rate went up 40x at step 29, the gradients 100x from step 30
    grad[30:, :] *= 100
    found = symptoms(rows({"grad_norm": grad, "update_ratio": ratio}))["exploding gradients"]
    assert found.evidence["effective_lr_jump"] == pytest.approx(40)
    first = found.prescriptions[0]
    assert (first.component, first.settings["factor"]) == ("learning_rate", 0.025)
    ratio[29:30, :] /= 40  # the same step size throughout, up only with the gradient: clip first
    ratio[30:, :] *= 100 / 40
    found = symptoms(rows({"grad_norm": grad, "update_ratio": ratio}))["exploding gradients"]
    assert "effective_lr_jump" not in found.evidence
    assert found.prescriptions[0].component == "clip_per_layer"


def _run_up(rise_to: float, what: str) -> dict[str, np.ndarray]:
    """Rows 0-39 where the step size (or the gradient) rises to ``rise_to`` x steadily, then
    gradients 1000x from row 40."""
    grad, ratio = np.tile([0.5, 0.8, 1.0, 1.2], (60, 1)), np.full((60, 4), 1e-3)
    rising = np.geomspace(1.0, rise_to, 40)[:, None]
    if what == "step size":
        ratio[:40] *= rising
        ratio[40:] *= rise_to
    else:
        grad[:40] *= rising
        grad[40:] *= rise_to
    grad[40:] *= 1000
    return {"grad_norm": grad, "update_ratio": ratio}


def test_an_explosion_after_a_steady_run_up_dates_from_the_first_step():
    found = symptoms(rows(_run_up(20.0, "step size")))["exploding gradients"]
    rise = np.geomspace(1.0, 20.0, 40)  # the effective learning rate over its first row
    assert found.onset_step == 0 and found.evidence["detected_step"] == 40
    assert found.evidence["run_up"] == "effective learning rate"
    assert found.evidence["run_up_factor"] == pytest.approx(np.median(rise[30:]), rel=1e-6)  # last quarter
    lr = found.prescriptions[0]  # to the first quarter's level: 0.0998, kept to 2 digits
    assert (lr.component, lr.settings["factor"]) == ("learning_rate", 0.1)
    grown = symptoms(rows(_run_up(30.0, "gradient")))["exploding gradients"]
    assert (grown.onset_step, grown.evidence["run_up"]) == (0, "gradient norm")
    assert grown.prescriptions[0].component == "clip_per_layer"


def test_a_gradient_compounding_from_the_first_row_dates_from_it_after_four_rows_not_two():
    def explosion(growth: list[float]) -> dict[str, np.ndarray]:
        grad = np.tile([0.5, 0.8, 1.0, 1.2], (20, 1))
        grad[:len(growth)] *= np.array(growth)[:, None]
        grad[len(growth):] = np.inf
        return {"grad_norm": grad}

    # a negated loss, maximised: 10x per row from row 5 (rows 0-4 before it rise quarter over quarter)
    found = symptoms(rows(explosion([1.0, 1.8, 4.1, 9.8, 37.5, 620.0, 4.9e6, 1e12])))["exploding gradients"]
    assert (found.onset_step, found.evidence["detected_step"]) == (0, 5)
    assert found.evidence["run_up"] == "gradient norm"
    found = symptoms(rows(explosion([1.0, 2.0, 37.5, 620.0, 4.9e6, 1e12])))["exploding gradients"]
    assert found.onset_step == 2 and "run_up" not in found.evidence  # 2 rows before it: no quarters to read


def test_a_rise_short_of_10x_or_not_steady_is_no_run_up():
    found = symptoms(rows(_run_up(8.0, "step size")))["exploding gradients"]  # last quarter 6.3x row 0
    assert found.onset_step == 40 and "run_up" not in found.evidence
    values = _run_up(20.0, "step size")
    values["update_ratio"][20:30] = 2e-3  # the third quarter falls back below the second
    found = symptoms(rows(values))["exploding gradients"]
    assert found.onset_step == 40 and "run_up" not in found.evidence


def test_a_layer_that_logged_no_gradient_on_a_step_is_neither_non_finite_nor_exploding():
    values = healthy(30)
    skipped = np.zeros((30, 4), dtype=bool)
    skipped[::3, 2] = True  # blocks.2 skipped every third step (stochastic depth): no gradient, no row
    signals = rows(values, {"loss": decaying_loss(30)}, unlogged={"grad_norm": skipped})
    assert not signals.metrics["grad_norm"].present[0, 2] and signals.metrics["grad_norm"].present[1, 2]
    assert diagnose(signals).findings == []
    values["grad_norm"][3, 2] = np.nan  # a logged NaN is non-finite (transient: the run went on finite)
    found = symptoms(rows(values, {"loss": decaying_loss(30)}))
    assert (found["transient non-finite values"].onset_step, found["transient non-finite values"].layers) == (
        3, ("blocks.2",))


def test_a_flat_loss_is_no_progress_and_a_falling_one_is_not():
    assert "no progress" in symptoms(rows(scalars={"loss": np.full(40, 2.3)}))
    assert "no progress" not in symptoms(rows(scalars={"loss": decaying_loss(40)}))


def test_a_dead_layer_is_named_and_the_layers_it_starves_are_downstream():
    frac = np.full((20, 4), 0.3)
    frac[5:, 1:] = 1.0  # blocks.1 dies, and blocks.2 and 3 above it with it
    f = symptoms(rows({"dead_fraction": frac}))["dead units"]
    assert f.layers == ("blocks.1",) and f.evidence["downstream"] == ["blocks.2", "blocks.3"]
    frac[5:, 1] = 0.3  # two separate dead runs: blocks.2-3 only
    frac[5:, 0] = 1.0
    assert symptoms(rows({"dead_fraction": frac}))["dead units"].layers == ("blocks.0", "blocks.2")


def test_units_dead_from_the_first_step_are_an_init_fault():
    frac = np.full((20, 4), 0.3)
    frac[:, 2] = 1.0
    found = symptoms(rows({"dead_fraction": frac}))["dead units"]
    assert found.onset_step == 0
    assert [p.component for p in found.prescriptions][:2] == ["init", "replace_activations"]


@pytest.mark.parametrize("median, found", [(-0.051, True), (-0.049, False)])
def test_gradient_conflict_needs_five_negative_steps_and_a_negative_median(median, found):
    steps = 40
    cos = np.full((steps, 4), 0.3)
    cos[:, 2] = median  # blocks.2: below 0 all along, median at the threshold's two sides
    cos[10:14, 1] = -0.9  # blocks.1: four negative steps, one short of a sustained conflict
    result = symptoms(rows(healthy(steps) | {"cos_min": cos}, {"loss": decaying_loss(steps)}))
    assert ("gradient conflict" in result) is found
    if found:
        f = result["gradient conflict"]
        assert f.layers == ("blocks.2",) and f.onset_step == 0
        assert f.prescriptions[0].component == "pcgrad"


def test_a_conflict_that_begins_mid_run_is_judged_from_where_it_began():
    steps = 40
    cos = np.full((steps, 4), 0.3)
    cos[:, 0] = 0.9
    cos[25:, 0] = -0.5  # blocks.0: agree for 25 steps, then conflict: the run's median is +0.9
    cos[3:8, 3] = -0.01  # blocks.3: five steps just below 0 early, then 0.3: no median below from there
    f = symptoms(rows(healthy(steps) | {"cos_min": cos}))["gradient conflict"]
    assert (f.layers, f.onset_step) == (("blocks.0",), 25)
    assert f.evidence["median_from_step"] == 25 and f.evidence["median_cos"] == {"blocks.0": -0.5}
    cos[25:, 0] = -0.04  # a conflict too mild: its median from step 25 is above -0.05
    assert "gradient conflict" not in symptoms(rows(healthy(steps) | {"cos_min": cos}))


def test_after_an_aggregator_the_conflict_left_in_the_update_is_read():
    steps = 40
    cos, update = np.full((steps, 4), 0.3), np.full((steps, 4), 0.2)
    cos[:, 2] = -0.6  # the losses still disagree in blocks.2 ...
    found = symptoms(rows(healthy(steps) | {"cos_min": cos, "cos_update_min": update}))
    assert "gradient conflict" not in found  # ... but the applied update goes against neither
    update[:, 1] = -0.2  # the update goes against one loss in blocks.1
    f = symptoms(rows(healthy(steps) | {"cos_min": cos, "cos_update_min": update}))["gradient conflict"]
    assert f.layers == ("blocks.1",) and f.evidence["metric"] == "cos_update_min"


def probe(values: dict[str, np.ndarray]):
    """Signals with transformer-probe rows every 10 steps next to a healthy economy tier."""
    steps = 10 * len(next(iter(values.values())))
    cols = rows(healthy(steps), {"loss": decaying_loss(steps)}).metrics
    signals = rows(values, {"loss": decaying_loss(steps)})
    for m in signals.metrics.values():
        m.steps = m.steps * 10
    signals.metrics.update(cols)
    return symptoms(signals)


@pytest.mark.parametrize("peak, found", [(20.0, True), (19.9, False)])
def test_attention_logit_growth_at_twenty_and_ten_times_the_start(peak, found):
    logits = np.full((8, 4), 1.5)
    logits[3:5, 0] = peak  # blocks.0, probes 3-4 (steps 30, 40)
    logits[:, 1] = 2.1  # blocks.1: 20 would be under 10x its start
    logits[3:5, 1] = 20.0
    logits[5:, 2] = 60.0  # blocks.2 crosses 20 on one probe at a time only
    logits[6, 2] = 1.5
    got = probe({"attn_logit_max": logits})
    assert ("attention-logit growth" in got) is found
    if found:
        f = got["attention-logit growth"]
        assert (f.layers, f.onset_step, f.prescriptions[0].component) == (("blocks.0",), 30, "qk_norm")
    started_high = np.full((8, 4), 60.0)  # large from the first probe on: no growth
    assert "attention-logit growth" not in probe({"attn_logit_max": started_high})


@pytest.mark.parametrize("low, found", [(0.399, True), (0.4, False)])
def test_attention_entropy_collapse_below_four_tenths_of_a_nat(low, found):
    entropy = np.full((6, 4), 5.0)  # a long context (e^5 = 148 keys): a fall to 0.4 is under a tenth
    entropy[2:, 3] = low
    got = probe({"attn_entropy": entropy})
    assert ("attention-entropy collapse" in got) is found
    if found:
        assert got["attention-entropy collapse"].layers == ("blocks.3",)
        assert got["attention-entropy collapse"].onset_step == 20


@pytest.mark.parametrize("spread, found", [(0.049, True), (0.05, False)])
def test_rank_collapse_when_tokens_differ_by_under_five_percent(spread, found):
    values = np.full((5, 4), 0.9)
    values[1:, 1:] = spread
    got = probe({"token_spread": values})
    assert ("rank collapse" in got) is found
    if found:
        assert got["rank collapse"].layers == ("blocks.1", "blocks.2", "blocks.3")


def test_rank_collapse_climbed_out_of_or_in_the_final_block_alone_is_not_reported():
    values = np.full((6, 4), 0.9)
    values[:3, :] = 0.01  # a near-collapsed start that training undid by the last probe
    assert "rank collapse" not in probe({"token_spread": values})
    values[5, :] = 0.01  # ... unless the tokens are collapsed again on the last probe
    assert probe({"token_spread": values})["rank collapse"].onset_step == 0
    values[:, :] = 0.9
    values[2:4, 1:] = 0.01  # set in mid-run (step 20), climbed out of by step 40: still reported
    assert probe({"token_spread": values})["rank collapse"].onset_step == 20
    values[:, :] = 0.9
    values[2:, 3] = 0.01  # the final block alone: a model predicting the label marginal
    assert "rank collapse" not in probe({"token_spread": values})
    values[2:, 2] = 0.01
    values[5, 2] = math.nan  # a last probe that read nothing: the one before it counts
    f = probe({"token_spread": values})["rank collapse"]
    assert (f.layers, f.onset_step) == (("blocks.2", "blocks.3"), 20)


def test_attention_entropy_collapsed_from_the_first_probe_is_a_collapse():
    entropy = np.full((6, 4), 2.0)
    entropy[:, 1] = 0.05  # one-hot from initialisation on (logits in the hundreds)
    f = probe({"attn_entropy": entropy})["attention-entropy collapse"]
    assert (f.layers, f.onset_step) == (("blocks.1",), 0)
    entropy[:, 1] = 0.38  # position biases at std 10: 94% on one key from the start
    assert probe({"attn_entropy": entropy})["attention-entropy collapse"].onset_step == 0
    entropy[:, 1] = 0.5
    entropy[2:, 1] = 0.09  # fell from 0.5 to 0.09: under the floor, not a tenth of the start
    assert "attention-entropy collapse" not in probe({"attn_entropy": entropy})


def test_unused_depth_needs_the_last_three_probes_under_one_percent():
    contrib = np.full((6, 4), 0.3)
    contrib[2:, 3] = 0.005  # idle from probe 2 (step 20) on
    contrib[3:, 2] = 0.005
    contrib[4, 2] = 0.02  # blocks.2 came back once within the last three probes
    f = probe({"block_contrib": contrib})["unused depth"]
    assert (f.layers, f.onset_step, f.severity) == (("blocks.3",), 20, "low")



def test_unused_depth_a_deep_layer_no_gradient_reaches():
    values = healthy(30)
    values["weight_norm"] = np.ones((30, 4))
    no_grad = np.zeros((30, 4), dtype=bool)
    no_grad[:, 2:] = True  # a head that reads blocks.1: blocks 2-3 trainable, never a gradient
    f = symptoms(rows(values, unlogged={"grad_norm": no_grad}))["unused depth"]
    assert (f.layers, f.onset_step, f.evidence["no_gradient"]) == (("blocks.2", "blocks.3"), 0,
                                                                    ["blocks.2", "blocks.3"])
    no_grad[29, 3] = False  # one logged gradient in the run: blocks.3 is reached after all
    f = symptoms(rows(values, unlogged={"grad_norm": no_grad}))["unused depth"]
    assert f.layers == ("blocks.2",)


def test_unused_depth_not_a_frozen_prefix_nor_a_run_without_gradients():
    values = healthy(30)
    values["weight_norm"] = np.ones((30, 4))
    frozen = np.zeros((30, 4), dtype=bool)
    frozen[:, :2] = True  # blocks 0-1 frozen: no trainable weights, so no rows of theirs; 2-3 train
    unlogged = dict.fromkeys(("grad_norm", "weight_norm", "update_ratio"), frozen)
    assert "unused depth" not in symptoms(rows(values, unlogged=unlogged))
    found = symptoms(rows(values, unlogged={"grad_norm": frozen}))
    assert "unused depth" not in found  # trainable, but shallower than every layer with a gradient
    found = symptoms(rows(values, unlogged={"grad_norm": np.ones((30, 4), dtype=bool)}))
    assert "unused depth" not in found  # no layer has a gradient: not one idle block


def test_logit_growth_explains_the_collapse_and_the_stall_that_follow():
    logits, entropy = np.full((8, 4), 1.0), np.full((8, 4), 2.0)
    logits[2:, 0], entropy[4:, 0] = 80.0, 0.01
    steps = 80
    signals = rows({"attn_logit_max": logits, "attn_entropy": entropy}, {"loss": np.full(steps, 4.0)})
    for m in signals.metrics.values():
        m.steps = m.steps * 10
    found = diagnose(signals).findings
    assert [(f.symptom, f.explained_by) for f in found] == [
        ("attention-logit growth", None), ("attention-entropy collapse", "attention-logit growth"),
        ("no progress", "attention-logit growth")]


@pytest.mark.parametrize("rms, peak, found", [(0.9, 1.0, True), (0.899, 1.0, False), (0.95, 1.01, False)])
def test_saturation_needs_bounded_outputs_with_rms_at_point_nine(rms, peak, found):
    values = healthy(30)
    values["act_rms"], values["act_max"] = np.full((30, 4), 0.5), np.full((30, 4), 0.99)
    values["act_rms"][5:, 0], values["act_max"][5:, 0] = rms, peak
    got = symptoms(rows(values))
    assert ("saturation" in got) is found
    if found:
        f = got["saturation"]
        assert (f.layers, f.onset_step) == (("blocks.0",), 5)
        assert f.prescriptions[0].component == "insert_norm_before_activations"  # saturated in training
        values["act_rms"][:, 0] = rms  # saturated from the first step: a Glorot redraw right after the norm
        ranked = symptoms(rows(values))["saturation"].prescriptions
        assert ranked[0].component == "insert_norm_before_activations"
        assert ranked[1].settings == {"scheme": "xavier"}


def test_saturation_reads_each_output_range_mapped_onto_plus_minus_one():
    values = healthy(30)
    p = 0.95  # a sigmoid with 95% of its outputs at 1 and 5% at 0: mean 0.95, mean square 0.95
    values["act_mean"], values["act_rms"] = np.full((30, 4), 0.5), np.full((30, 4), 0.6)
    values["act_mean"][5:, 2], values["act_rms"][5:, 2] = p, np.sqrt(p)
    values["act_max"] = np.full((30, 4), 1.0)
    meta = {"monitor": {"output_range": {"blocks.2": [0.0, 1.0], "blocks.3": [0.0, 1.0]}}}
    f = symptoms(rows(values, meta=meta))["saturation"]
    assert (f.layers, f.onset_step) == (("blocks.2",), 5)  # mapped: 2h - 1 is +-1 everywhere
    # a fraction f split evenly between 0 and 1, the rest at 0.5: mean 0.5, mapped mean square f
    values["act_mean"][5:, 2], values["act_rms"][5:, 2] = 0.5, np.sqrt(0.5 * 0.82 + 0.25 * 0.18)
    assert "saturation" in symptoms(rows(values, meta=meta))  # f = 0.82: mapped RMS 0.906
    values["act_rms"][5:, 2] = np.sqrt(0.5 * 0.8 + 0.25 * 0.2)  # f = 0.80: mapped RMS 0.894
    assert "saturation" not in symptoms(rows(values, meta=meta))
    assert "saturation" not in symptoms(rows(values))  # no recorded range: read as tanh, RMS 0.67
    values["act_rms"][5:, 2] = np.sqrt(0.5 * 0.82 + 0.25 * 0.18)
    for broken in ([1.0, 0.0], [0.0], "0..1", [0.0, float("inf")]):  # a hand-edited meta.json
        meta["monitor"]["output_range"]["blocks.2"] = broken
        assert "saturation" not in symptoms(rows(values, meta=meta))  # ignored, read as tanh-like


def test_the_evidence_plot_shows_the_row_the_rule_read():
    from layerwise.doctor import evidence_figure

    values = healthy(30)
    values["act_mean"], values["act_rms"] = np.full((30, 4), 0.5), np.full((30, 4), 0.6)
    values["act_mean"][5:, 2], values["act_rms"][5:, 2] = 0.95, np.sqrt(0.95)  # a pinned sigmoid
    values["act_max"] = np.full((30, 4), 1.0)
    signals = rows(values, meta={"monitor": {"output_range": {"blocks.2": [0.0, 1.0]}}})
    f = next(f for f in diagnose(signals).findings if f.symptom == "saturation")
    ax = evidence_figure(f, signals).get_axes()[0]
    assert ax.get_ylabel() == "act_rms mapped to [-1, 1]"
    line = next(line for line in ax.get_lines() if line.get_label() == "blocks.2")
    assert line.get_ydata()[-1] == pytest.approx(1.0)  # 2h - 1 is +-1: not the raw RMS 0.97
    cos, update = np.full((40, 4), 0.3), np.full((40, 4), 0.3)
    update[:, 1] = -0.2
    signals = rows(healthy(40) | {"cos_min": cos, "cos_update_min": update})
    f = next(f for f in diagnose(signals).findings if f.symptom == "gradient conflict")
    assert evidence_figure(f, signals).get_axes()[0].get_ylabel() == "cos_update_min"


def test_a_phase_of_huge_updates_is_too_large_even_when_it_decays():
    values = healthy(60)
    values["update_ratio"][5:8, 2] = 0.101  # three steps just over a tenth of the weight norm, then normal
    f = symptoms(rows(values))["update too large"]
    assert (f.layers, f.onset_step) == (("blocks.2",), 5)
    values["update_ratio"][4, 2] = 0.0101  # the step before, 10x its usual 1e-3: the phase began there
    assert symptoms(rows(values))["update too large"].onset_step == 4
    values["update_ratio"][4, 2] = 0.0099
    assert symptoms(rows(values))["update too large"].onset_step == 5
    values["update_ratio"][7, 2] = 0.1  # two such steps: not sustained
    values["update_ratio"][20:22, 1] = 5.0
    assert "update too large" not in symptoms(rows(values))


def test_units_killed_by_huge_steps_are_a_consequence_of_them():
    values = healthy(60)
    values["update_ratio"][:4] = [[0.25], [0.18], [0.14], [0.11]]  # Adam at a learning rate far too large
    values["dead_fraction"][5:, 0] = 0.8
    found = diagnose(rows(values)).findings
    assert [(f.symptom, f.explained_by) for f in found] == [("update too large", None),
                                                            ("dead units", "update too large")]


def test_a_stall_is_explained_by_a_cause_listed_after_it():
    values = healthy(40)
    values["update_ratio"] = np.full((40, 4), 1e-7)  # a learning rate far too small, from the start
    found = diagnose(rows(values, {"loss": np.full(40, 2.3)})).findings
    assert [(f.symptom, f.explained_by) for f in found] == [("update too small", None),
                                                             ("no progress", "update too small")]


def test_missing_metrics_are_listed_with_the_tier_that_records_them():
    result = diagnose(rows(scalars={"loss": decaying_loss()}))
    assert "dead_fraction [economy]" in result.skipped["dead_units"]
    assert "update_ratio [economy (needs optimizer=)]" in result.skipped["update_size"]


def test_findings_are_ranked_by_severity_then_onset():
    grad = healthy()["grad_norm"]
    grad[40:, 3] *= 1000
    frac = np.full((60, 4), 0.2)
    frac[10:, 0] = 0.9
    order = [f.symptom for f in diagnose(rows({"grad_norm": grad, "dead_fraction": frac})).findings]
    assert order == ["exploding gradients", "dead units"]


def test_a_consequence_is_marked_and_listed_after_its_cause():
    frac = np.full((20, 4), 0.2)
    frac[5:, 1] = 1.0  # blocks.1 dies at step 5 ...
    grad = np.tile([0.5, 0.8, 1.0, 1.2], (20, 1))
    grad[8:, :2] = 1e-6  # ... and the layers up to it lose their gradient from step 8
    result = diagnose(rows({"dead_fraction": frac, "grad_norm": grad}))
    assert [(f.symptom, f.explained_by) for f in result.findings] == [
        ("dead units", None), ("vanishing gradients", "dead units")]
    grad[:, :2] = 1e-6  # gradient gone before the units died: not explained by them
    result = diagnose(rows({"dead_fraction": frac, "grad_norm": grad}))
    assert {f.symptom: f.explained_by for f in result.findings}["vanishing gradients"] is None


def _finding(symptom, onset, severity="high", resolution=1):
    from layerwise.doctor import Finding

    return Finding(symptom, (), onset, {}, severity, "test", "test", resolution=resolution)


def test_a_probe_read_cause_may_have_begun_before_it_was_seen():
    from layerwise.doctor._diagnose import explain

    spike = _finding("loss spike", 51)
    logits = _finding("attention-logit growth", 60, resolution=10)  # probed at 50 and 60: began after 50
    explained = {f.symptom: f.explained_by for f in explain([spike, logits])}
    assert explained["loss spike"] == "attention-logit growth"
    late = _finding("attention-logit growth", 61, resolution=10)  # could not have begun by step 51
    assert all(f.explained_by is None for f in explain([spike, late]))
    every_step = _finding("attention-logit growth", 60)
    assert all(f.explained_by is None for f in explain([spike, every_step]))


def test_a_stall_of_a_multi_loss_run_is_explained_by_the_conflict_of_its_losses():
    from layerwise.doctor._diagnose import explain

    # the stall is judged over the whole run (onset 0); the conflict is first read at the first
    # probe, step 10, and ranks below it in severity: it still explains it
    found = explain([_finding("no progress", 0, "high"), _finding("gradient conflict", 10, "medium",
                                                                   resolution=10)])
    assert [(f.symptom, f.explained_by) for f in found] == [("gradient conflict", None),
                                                             ("no progress", "gradient conflict")]
    alone = explain([_finding("no progress", 0, "high")])
    assert alone[0].explained_by is None


def test_massive_activations_at_the_onset_of_a_gradient_surge_are_its_cause():
    from layerwise.doctor._diagnose import explain

    found = explain([_finding("exploding gradients", 30, "critical"),
                     _finding("massive activations", 30, "medium"),
                     _finding("rank collapse", 40, resolution=10)])
    assert [(f.symptom, f.explained_by) for f in found] == [
        ("massive activations", None), ("exploding gradients", "massive activations"),
        ("rank collapse", "massive activations")]


def test_a_cause_read_every_step_explains_a_probe_read_effect_in_the_window_it_was_seen_in():
    from layerwise.doctor._diagnose import explain

    rank = _finding("rank collapse", 30, resolution=10)  # probed at 20 and 30: began in 21..30
    for onset, cause in [(30, "massive activations"), (25, "massive activations"), (31, None)]:
        found = explain([rank, _finding("massive activations", onset, "medium")])
        assert {f.symptom: f.explained_by for f in found}["rank collapse"] == cause, onset
    found = explain([rank, _finding("exploding gradients", 30, "critical")])  # not a listed cause
    assert all(f.explained_by is None for f in found)
    mutual = explain([_finding("non-finite values", 30, resolution=10), _finding("exploding gradients", 30)])
    assert [(f.symptom, f.explained_by) for f in mutual] == [  # each lists the other: order decides
        ("non-finite values", None), ("exploding gradients", "non-finite values")]


def test_an_update_explains_only_what_shows_after_the_step_that_made_it():
    from layerwise.doctor._diagnose import explain

    same = explain([_finding("loss spike", 71), _finding("update too large", 71, "medium")])
    assert all(f.explained_by is None for f in same)  # a bad batch: its loss came before its update
    later = explain([_finding("loss spike", 72), _finding("update too large", 71, "medium")])
    assert {f.symptom: f.explained_by for f in later}["loss spike"] == "update too large"


def test_the_tie_break_order_puts_every_cause_before_what_it_brings_about():
    from layerwise.doctor._diagnose import CAUSAL_ORDER, CONSEQUENCES, causal_order, explain

    for a, effects in CONSEQUENCES.items():
        for b in effects & CONSEQUENCES.keys():
            mutual = a in CONSEQUENCES[b] and list(CONSEQUENCES).index(b) < list(CONSEQUENCES).index(a)
            assert (CAUSAL_ORDER[a] < CAUSAL_ORDER[b]) is not mutual, (a, b)
    found = explain([_finding("vanishing gradients", 0), _finding("saturation", 0)])
    assert [(f.symptom, f.explained_by) for f in found] == [("saturation", None),
                                                            ("vanishing gradients", "saturation")]
    with pytest.raises(ValueError, match="cycle"):
        causal_order({"a": {"b"}, "b": {"c"}, "c": {"a"}})


def test_at_one_onset_the_cause_is_the_symptom_listed_as_one_whatever_the_severity():
    from layerwise.doctor._diagnose import explain

    for given in ([_finding("loss spike", 61), _finding("massive activations", 61, "medium")],
                  [_finding("massive activations", 61, "medium"), _finding("loss spike", 61)]):
        found = explain(given)
        assert [(f.symptom, f.explained_by) for f in found] == [("massive activations", None),
                                                                ("loss spike", "massive activations")]
