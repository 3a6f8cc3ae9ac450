"""nap-plasticity at its tiny size: NaP pins weight norms and effective learning rates, LayerNorm
alone lets them drift, and the arms are pure config deltas."""

import numpy as np
import pyarrow.compute as pc

from layerwise import RunLog
from layerwise.studies import get_study, run_study
from layerwise.studies.nap_plasticity import NaPConfig


def test_nap_pins_norms_and_effective_lr_while_layernorm_drifts(tmp_path):
    verdict = run_study("nap-plasticity", size="tiny", overrides={"lr": 1e-2}, out=tmp_path,
                        progress=False, report=False)
    d = verdict.details
    assert abs(d["elr_drift"]["nap"] - 1) < 1e-4 and abs(d["norm_growth"]["nap"] - 1) < 1e-4
    assert abs(d["elr_drift"]["layernorm"] - 1) > 1e-2 and d["norm_growth"]["layernorm"] > 1
    assert d["norm_growth"]["ln-wd"] < d["norm_growth"]["layernorm"]  # decay holds the norms back
    for arm in verdict.arms:
        assert len(d["task_acc"][arm]) == 3
        assert d["late_task_acc"][arm] == d["task_acc"][arm][-1]  # window 1: the last task
        assert np.isclose(d["plasticity_loss"][arm], d["task_acc"][arm][0] - d["task_acc"][arm][-1])
    table = RunLog.read(tmp_path / "runs" / "nap-s0")
    rows = table.filter(pc.and_(pc.equal(table["metric"], "eff_lr"), pc.equal(table["layer"], "blocks.1")))
    assert set(rows["step"].to_pylist()) == set(range(24))  # every step of every task at every=1
    elr = rows["value"].to_numpy()  # lr / ||W_linear||^2, pinned by the projection
    assert elr.max() - elr.min() < 1e-4 * elr.mean()
    assert {"weight_norm", "task_acc"} <= set(table["metric"].to_pylist())


def test_arms_are_deltas_and_layernorm_is_the_baseline():
    study = get_study("nap-plasticity")
    assert study.config("full") == NaPConfig()
    assert list(study.arms)[0] == "layernorm"
    assert study.rule.treatment == "nap" and study.rule.baseline == "layernorm"
    nap, wd, mlp = (study.config("full", arm=a) for a in ("nap", "ln-wd", "mlp"))
    assert nap.project and nap.norm == "layer" and nap.weight_decay == 0
    assert wd.weight_decay > 0 and wd.norm == "layer" and not wd.project
    assert mlp.norm == "none" and not mlp.project
