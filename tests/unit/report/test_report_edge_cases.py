"""Odd runs still give a report: one step, all-NaN metrics, mathtext-like names, many layers."""

import math

from layerwise import RunLog
from layerwise.report import load_run, write_report


def test_odd_runs_render(tmp_path):
    with RunLog(tmp_path / "odd", meta={"monitor": "not a dict", "config": [1, 2]}) as log:
        log.log_many(3, ["$\\frac{a}{$", "x_{1}$", "$"], ["grad_norm"] * 3, [1.0, 0.0, -0.0])
        log.log_many(3, ["$\\frac{a}{$", "x_{1}$"], ["all_nan"] * 2, [math.nan, -math.inf])
        log.log(3, "$", "brand_new_metric", 5.0)
        log.log(3, "$", "<b>m</b>", 5.0)
        log.log_scalars(3, loss=math.inf)
    with RunLog(tmp_path / "deep") as log:
        for step in range(3):
            layers = [f"blocks.{i}.mlp" for i in range(60)]
            log.log_many(step, layers, ["act_rms"] * 60, [10.0 ** -(i / 6) for i in range(60)])
    with RunLog(tmp_path / "scalars") as log:
        log.log_scalars(0, loss=1.0)
    html = write_report([tmp_path / "odd", tmp_path / "deep", tmp_path / "scalars"],
                        tmp_path / "r.html").read_text()
    assert "<b>m</b>" not in html and 'data-metric="&lt;b&gt;m&lt;/b&gt;"' in html
    assert html.count('data-kind="layers"') == 5 and html.count('data-kind="comparison"') == 0
    assert 'data-metric="brand_new_metric"' in html and 'data-metric="all_nan"' in html
    assert "2 of 2 cells" in html  # the NaN and the -inf
    only_scalars = write_report([tmp_path / "scalars"], tmp_path / "s.html").read_text()
    assert "hold no per-layer records" in only_scalars


def test_lexicographic_writer_order_is_repaired(tmp_path):
    with RunLog(tmp_path / "r") as log:
        log.log_many(0, ["b.1", "b.10", "b.2"], ["m"] * 3, [1.0, 10.0, 2.0])
    run = load_run(tmp_path / "r", name="named")
    assert run.name == "named" and run.layers == ["b.1", "b.2", "b.10"]
    assert run.matrices["m"].values[:, 0].tolist() == [1.0, 2.0, 10.0]
