"""projection-head at its tiny size: two trainings, pre/post probes of the head arm, the arms' deltas."""

from pathlib import Path

from layerwise import RunLog
from layerwise.studies import Trial, get_study, run_study
from layerwise.studies.projection_head import ProjectionHeadConfig


def test_head_arm_probes_before_and_after_its_head(tmp_path):
    verdict = run_study("projection-head", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    for arm in ("no-head", "head"):
        assert 0.2 < d["pre_fine_acc"][arm] <= 1.0  # fine labels are 10 classes: chance is 0.1
    assert d["pre_minus_post"]["head"] == d["pre_fine_acc"]["head"] - d["post_fine_acc"]["head"]
    assert d["pre_minus_post"]["no-head"] == 0.0  # no head: the post-head features are the encoder's
    def layers(arm):
        return set(RunLog.read(tmp_path / "runs" / f"{arm}-s0").column("layer").to_pylist())

    assert {"layers.0.0", "layers.1.0", "layers.2.fc1", "layers.2.fc2", "layers.3"} <= layers("head")
    assert "layers.2.fc1" not in layers("no-head")  # the no-head arm trains without the MLP head


def test_arms_are_two_trainings_with_the_same_encoder_start():
    study = get_study("projection-head")
    assert study.config("full") == ProjectionHeadConfig()
    assert study.config("full", arm="no-head").head == "none"
    assert study.config("full", arm="head").head == "mlp"
    assert study.rule.treatment == "head" and study.rule.baseline == "no-head"


def test_reweight_head_ties_pre_and_post_under_a_z_scored_probe(tmp_path):
    study = get_study("projection-head")
    cfg = study.config("tiny", {"head": "reweight", "kappa": 1.5, "epochs": 1})
    result = study.trial(cfg, Trial("projection-head", "head", 0, Path(tmp_path) / "rw", cfg, "tiny"))
    assert abs(result["pre_minus_post"]) < 0.02
