"""A run the real Monitor wrote becomes a report (the format the report reads, end to end)."""

import torch
from torch import nn

from layerwise import Monitor
from layerwise.report import load_run, write_report


def test_report_of_a_monitored_run(tmp_path):
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    with Monitor(model, optimizer=opt, log=tmp_path / "run", layers=["0", "2", "4"]) as mon:
        for i in range(4):
            with mon.step(i):
                loss = nn.functional.mse_loss(model(x), y)
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad()
    run = load_run(tmp_path / "run")
    assert run.layers == ["0", "2", "4"] and "loss" in run.scalars and "grad_norm" in run.matrices
    html = write_report([tmp_path / "run"], tmp_path / "r.html", max_metrics=2).read_text()
    assert html.count('data-kind="layers"') == 2 and "Sequential" in html
