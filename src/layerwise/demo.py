"""The summary ``layerwise demo`` prints after running the curse-of-depth study."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_summary(verdict: dict, out: Path, console: Console) -> None:
    """Validation loss of each arm and how much the deep layers get compared with the shallow ones."""
    details = verdict.get("details", {})
    table = Table("arm", "val loss (nats/byte)", "grad norm: last third / first third",
                  "residual RMS: last block / first", title="curse-of-depth (smoke size)")
    for arm, stats in verdict["arms"].items():
        table.add_row(arm, f"{stats['mean']:.4f}",
                      f"{details.get('deep_shallow_grad', {}).get(arm, float('nan')):.3f}",
                      f"{details.get('rms_growth', {}).get(arm, float('nan')):.2f}")
    console.print(table)
    console.print(
        "LayerNorm Scaling (Sun et al., 2025, arXiv 2502.05795) should keep the residual RMS from "
        "growing with depth and send more gradient to deep layers. "
        f"verdict: {verdict['verdict']} ({verdict['mode']} size, {verdict['seeds']} seed(s); "
        "`layerwise run curse-of-depth --size full` judges it, `layerwise claims` shows the committed "
        "result)."
    )
    console.print(f"report: {out / 'report.html'}   verdict: {out / 'verdict.json'}")
