"""LayerwiseCallback in a real Lightning Trainer on CPU, with validation between steps."""

import pytest
import torch
from torch import nn

from layerwise import RunLog

lightning = pytest.importorskip("lightning")


class Tiny(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(8, 8), nn.Tanh()) for _ in range(3)])
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def training_step(self, batch, _):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader(n, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 8, generator=g), torch.randint(0, 2, (n,), generator=g)
    data = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(data, batch_size=4)


@pytest.mark.parametrize("accumulate", [1, 2])
def test_every_optimizer_step_is_recorded_and_validation_is_not(tmp_path, accumulate):
    from layerwise.integrations.lightning import LayerwiseCallback

    torch.manual_seed(0)
    trainer = lightning.Trainer(max_steps=4, accelerator="cpu", devices=1, logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, val_check_interval=2,
                                accumulate_grad_batches=accumulate,
                                callbacks=[LayerwiseCallback(tmp_path / "run")])
    trainer.fit(Tiny(), _loader(64, 0), _loader(8, 1))
    rows = RunLog.read(tmp_path / "run").to_pylist()
    steps = lambda metric: sorted({r["step"] for r in rows if r["metric"] == metric})  # noqa: E731
    assert steps("grad_norm") == steps("update_ratio") == steps("act_grad_norm") == [0, 1, 2, 3]
    assert {r["layer"] for r in rows if r["metric"] == "act_rms"} == {"blocks.0", "blocks.1", "blocks.2"}
    assert "train_loss" in {r["metric"] for r in rows if r["layer"] == ""}
