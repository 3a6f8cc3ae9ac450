"""dann study: verdict structure at a tiny size, and the reversal layer acts only in the DANN arm."""

import json

import pandas as pd

from layerwise import RunLog
from layerwise.studies import run_study
from layerwise.studies.dann import ARMS, NAME, RECIPE, DANNConfig

TINY = dict(steps="30", n_source="64", n_target="64", n_eval="200", every="1")


def test_smoke_run_writes_verdict_probe_and_runlogs(tmp_path):
    verdict = run_study(RECIPE, out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == NAME and saved["arxiv"] == "1505.07818"
    assert saved["verdict"] == "not-judged" and saved["metric"] == "target_acc"
    assert set(saved["arms"]) == set(ARMS) and saved["baseline"] == "source-only"
    for arm in ARMS:
        (acc,) = saved["arms"][arm]["values"]
        assert 0.0 <= acc <= 1.0
        for key in ("domain_probe_features", "domain_probe_input", "source_acc"):
            assert 0.0 <= verdict["details"][key][arm] <= 1.0
    layers = set(RunLog.read(tmp_path / "runs" / "dann-s0").column("layer").to_pylist())
    assert {"features.0", "label_head", "domain_head"} <= layers


def _rows(table: pd.DataFrame, metric: str, layer: str) -> pd.Series:
    return table[(table.metric == metric) & (table.layer == layer)].sort_values("step").value


def test_reversal_schedule_and_domain_head_gradients(tmp_path):
    """DANN: lambda rises from 0 on the paper's schedule; source-only: the domain head gets no gradient."""
    from layerwise.studies.dann import run

    cfg = RECIPE.make_config("smoke", {k: v for k, v in TINY.items()})
    for arm in ARMS:
        run(cfg, arm, 0, tmp_path / arm)
    dann = RunLog.read(tmp_path / "dann").to_pandas()
    lam = _rows(dann, "grl_lambda", "").to_numpy()
    assert lam[0] == 0.0 and (lam[1:] > lam[:-1]).all() and lam[-1] > 0.9
    assert _rows(dann, "grad_norm", "domain_head").iloc[1:].min() > 0
    plain = RunLog.read(tmp_path / "source-only").to_pandas()
    assert _rows(plain, "grad_norm", "domain_head").max() == 0.0


def test_defaults_follow_the_spec():
    cfg = RECIPE.make_config("full")
    assert cfg == DANNConfig()
    assert (cfg.n_source, cfg.angle_deg, cfg.hidden) == (300, 35.0, 15)
