"""TensorBoard export: TensorBoard's own reader loads back every row with its step and value."""

import pytest
import torch
from torch import nn

from layerwise import Monitor, RunLog

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from layerwise.integrations import export_tensorboard  # noqa: E402


def test_every_row_reads_back_from_the_event_files(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Monitor(model, optimizer=opt, log=tmp_path / "run") as mon:
        for step in range(5):
            with mon.step(step):
                loss = model(torch.randn(8, 4)).pow(2).mean()
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad()
    events = export_tensorboard(tmp_path / "run")
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
    acc.Reload()
    table = RunLog.read(tmp_path / "run").to_pylist()
    tags = set(acc.Tags()["scalars"])
    assert {"loss", "grad_norm/0", "act_rms/2", "wall_time"} <= tags
    for row in table:
        tag = row["metric"] if not row["layer"] else f"{row['metric']}/{row['layer']}"
        (event,) = [e for e in acc.Scalars(tag) if e.step == row["step"]]
        assert event.value == pytest.approx(row["value"], rel=1e-6, abs=1e-30, nan_ok=True)
    walls = [e.wall_time for e in acc.Scalars("loss")]
    assert walls == sorted(walls) and walls[0] > 1.6e9  # seconds since the epoch, in step order


def test_export_command(tmp_path):
    from typer.testing import CliRunner

    from layerwise.cli import app

    with RunLog(tmp_path / "r") as log:
        log.log_scalars(0, loss=1.5)
    args = ["export", "tensorboard", str(tmp_path / "r"), "-o", str(tmp_path / "tb")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    missing = CliRunner().invoke(app, ["export", "tensorboard", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "nope" in missing.output
