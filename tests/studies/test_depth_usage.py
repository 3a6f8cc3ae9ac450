"""depth-usage at a size that runs in seconds: verdict structure, depth rows, and the LNS arm."""

import json
import math

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study

TINY = dict(n_layer="4", shallow_layers="2", d_model="32", n_head="2", seq_len="32", batch_size="4",
            steps="10", warmup="2", eval_every="5", eval_batches="1", max_bytes="300000", corpus="pydoc",
            every="5", probe_seqs="4", map_tokens="100")


def test_smoke_run_writes_verdict_and_depth_rows(tmp_path):
    # report=False: the shared report's per-metric panels take ~20 s on the loaded machine
    verdict = run_study("depth-usage", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "depth-usage" and saved["verdict"] == "not-judged"
    assert set(saved["arms"]) == {"pre-ln", "lns"} and saved["metric"] == "second_first_ratio"
    details = verdict["details"]
    for arm in ("pre-ln", "lns"):
        (ratio,) = saved["arms"][arm]["values"]
        assert math.isfinite(ratio) and 0.01 < ratio < 100
        assert 0.0 <= details["skip_future_first_half_share"][arm] <= 1.0
        assert 0.0 <= details["map_rel_depth_err"][arm] <= 1.0
    table = RunLog.read(tmp_path / "runs" / "lns-s0")
    rows = {(la, me) for st, la, me in zip(table["step"].to_pylist(), table["layer"].to_pylist(),
                                           table["metric"].to_pylist(), strict=True) if st == 10}
    assert {(f"blocks.{i}", "block_contrib") for i in range(4)} <= rows
    assert ("blocks.3", "removal_delta_loss") in rows
    # the last block cannot change future positions: its skip output effect is exactly zero
    skip_last = [v for la, me, v in zip(table["layer"].to_pylist(), table["metric"].to_pylist(),
                                        table["value"].to_pylist(), strict=True)
                 if la == "blocks.3" and me == "skip_output_effect"]
    assert skip_last == [0.0]
    from layerwise.studies.depth_usage import sections

    recipe = get_recipe("depth-usage")
    (section,) = sections(recipe.make_config("smoke", TINY), {"pre-ln": [], "lns": []}, tmp_path)
    assert section.title == "Depth profile" and "lns" in section.html and len(section.figures) == 1


def test_recipe_sizes():
    from layerwise.studies.depth_usage import DepthUsageConfig

    recipe = get_recipe("depth-usage")
    assert recipe.baseline == "pre-ln" and recipe.treatment_arm == "lns" and recipe.better == "higher"
    assert recipe.make_config("full") == DepthUsageConfig()
    assert recipe.make_config("smoke").n_layer == 12
