import pytest
from torch import nn

from layerwise import select_layers
from layerwise.layers import block_names


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.blocks = nn.ModuleList(
            [nn.Sequential(nn.Linear(4, 4), nn.ReLU()) for _ in range(4)]
        )
        self.head = nn.Linear(4, 2)


def test_default_selects_blocks():
    assert select_layers(Net()) == [f"blocks.{i}" for i in range(4)]


def test_names_globs_types_indices_predicates_and_lists():
    net = Net()
    assert select_layers(net, "head") == ["head"]
    assert select_layers(net, "blocks.*.0") == [f"blocks.{i}.0" for i in range(4)]
    assert select_layers(net, nn.ReLU) == [f"blocks.{i}.1" for i in range(4)]
    assert select_layers(net, -1) == ["blocks.3"]
    assert select_layers(net, slice(1, 3)) == ["blocks.1", "blocks.2"]
    assert select_layers(net, lambda n, m: n.startswith("emb")) == ["embed"]
    # a list is a union, returned in model order without duplicates
    assert select_layers(net, ["head", 0, "blocks.0"]) == ["blocks.0", "head"]


def test_empty_match_lists_nearest_names():
    with pytest.raises(LookupError, match=r"'blocks\.9\.mlp' matched no module.*blocks\."):
        select_layers(Net(), "blocks.9.mlp")
    with pytest.raises(LookupError, match="out of range: the model has 4 blocks"):
        select_layers(Net(), 7)
    with pytest.raises(TypeError, match="cannot select layers"):
        select_layers(Net(), 3.5)


def test_block_names_of_a_plain_sequential():
    assert block_names(nn.Sequential(nn.Linear(2, 2), nn.ReLU())) == ["0", "1"]
    assert block_names(nn.Linear(2, 2)) == []
