"""dann at its tiny size: the reversal layer acts only in the DANN arm, on the paper's schedule."""

import numpy as np
import pyarrow.compute as pc

from layerwise import RunLog
from layerwise.studies import get_study, run_study
from layerwise.studies.dann import DANNConfig


def _series(run_dir, metric: str, layer: str) -> np.ndarray:
    table = RunLog.read(run_dir)
    rows = table.filter(pc.and_(pc.equal(table["metric"], metric), pc.equal(table["layer"], layer)))
    order = np.argsort(rows["step"].to_numpy())
    return rows["value"].to_numpy(zero_copy_only=False)[order]


def test_reversal_schedule_and_domain_head_gradients(tmp_path):
    """DANN: lambda rises from 0 on the paper's schedule; source-only: the domain head gets no gradient."""
    verdict = run_study("dann", size="tiny", out=tmp_path, progress=False, report=False)
    lam = _series(tmp_path / "runs" / "dann-s0", "grl_lambda", "")
    assert lam[0] == 0.0 and (lam[1:] > lam[:-1]).all() and lam[-1] > 0.9
    assert _series(tmp_path / "runs" / "dann-s0", "grad_norm", "domain_head")[1:].min() > 0
    assert _series(tmp_path / "runs" / "source-only-s0", "grad_norm", "domain_head").max() == 0.0
    for arm in ("source-only", "dann"):
        for key in ("target_acc", "source_acc", "domain_probe_features", "domain_probe_input"):
            assert 0.0 <= verdict.details[key][arm] <= 1.0
    # the input probe sees the same fresh samples in both arms: the arms are paired
    probe = verdict.details["domain_probe_input"]
    assert probe["dann"] == probe["source-only"]


def test_arms_are_deltas_and_full_is_the_spec():
    study = get_study("dann")
    cfg = study.config("full")
    assert cfg == DANNConfig()
    assert (cfg.n_source, cfg.angle_deg, cfg.hidden, cfg.steps) == (300, 35.0, 15, 2000)
    assert study.config("full", arm="source-only").domain_weight == 0.0
    assert study.config("full", arm="dann").domain_weight == 1.0
    assert study.seeds["full"] == 20
    assert study.rule.treatment == "dann" and study.rule.baseline == "source-only"
