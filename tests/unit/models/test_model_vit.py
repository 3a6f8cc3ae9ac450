"""ViT reference model: shapes, parameter count, shared block, non-causal attention, training."""

import pytest
import torch

from layerwise._registry import get
from layerwise.layers import block_names
from layerwise.models import ViT
from layerwise.models.gpt import GPT


def vit_params(*, image_size, patch_size, in_channels, num_classes, n_layer, d_model):
    """Closed form: patch conv + cls + positions + blocks (as GPT's) + ln_f + head."""
    d, n = d_model, (image_size // patch_size) ** 2
    patch = in_channels * patch_size**2 * d + d
    block = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 2 * 2 * d
    return patch + d + (n + 1) * d + n_layer * block + 2 * d + d * num_classes + num_classes


def test_parameter_count():
    kw = dict(image_size=8, patch_size=2, in_channels=3, num_classes=7, n_layer=2, d_model=16)
    assert sum(p.numel() for p in ViT(**kw, n_head=2).parameters()) == vit_params(**kw)


@pytest.mark.parametrize("shape", [(5, 1, 8, 8), (5, 8, 8)])
def test_shapes_on_digits(shape, no_activation_refs):
    model = ViT()
    assert model(torch.randn(shape)).shape == (5, 10)
    no_activation_refs(model)
    assert block_names(model) == [f"blocks.{i}" for i in range(4)]


def test_same_block_class_as_gpt_but_not_causal():
    vit = ViT(init_std=0.2).eval()
    gpt = GPT(n_layer=1, d_model=16, n_head=2, seq_len=4, vocab_size=8)
    assert type(vit.blocks[0]) is type(gpt.blocks[0])
    assert not vit.blocks[0].attn.causal
    x = torch.randn(2, 1, 8, 8)
    logits, probs = vit(x, return_attn=True)
    torch.testing.assert_close(logits, vit(x), atol=1e-5, rtol=0)
    assert probs[0].shape == (2, 4, 17, 17)
    assert probs[0].triu(1).sum() > 0  # attends to later tokens too


def test_placements_and_bad_input():
    assert isinstance(ViT(placement="post").ln_f, torch.nn.Identity)
    assert hasattr(ViT(placement="peri").blocks[0], "ln2_out")
    with pytest.raises(ValueError, match="placement"):
        ViT(placement="middle")
    with pytest.raises(ValueError, match="multiple"):
        ViT(image_size=9)
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        ViT()(torch.randn(2, 1, 28, 28))


def test_loss_falls_on_a_fixed_batch(fit):
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 4, (8,))
    first, last = fit(ViT(num_classes=4, n_layer=2, d_model=32), x, y, steps=20, lr=3e-3)
    assert last < 0.5 * first


def test_registered():
    assert get("vit").arxiv == "2010.11929"
