import pytest
import torch
from torch import nn


class Block(nn.Module):
    """Linear -> ReLU, the unit of the test MLP."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.lin(x))


class TinyMLP(nn.Module):
    def __init__(self, depth: int = 4, width: int = 8, d_in: int = 5, d_out: int = 3) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [Block(d_in if i == 0 else width, width) for i in range(depth)]
        )
        self.head = nn.Linear(width, d_out)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return TinyMLP()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)
