"""LoRA: identity at init, only A/B train, merge/unmerge exact, and a peft cross-check."""

import math

import pytest
import torch
from torch import nn

from layerwise.models import GPT
from layerwise.nn.lora import LoRALinear, inject_lora, lora_band, lora_parameters, merge_lora


def _net():
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


def test_init_leaves_outputs_unchanged_and_only_a_b_train():
    net = _net()
    x = torch.randn(5, 6)
    before = net(x)
    assert inject_lora(net, layers=["0", "4"], r=2, alpha=4) == ["0", "4"]
    assert torch.equal(net(x), before)
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable == ["0.lora_A", "0.lora_B", "4.lora_A", "4.lora_B"]
    frozen = {n: p.clone() for n, p in net.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD(lora_parameters(net), lr=0.5)
    for _ in range(2):
        net(x).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    assert all(torch.equal(p, frozen[n]) for n, p in net.named_parameters() if n in frozen)
    assert not torch.equal(net(x), before)


def test_forward_matches_naive_weight_update_and_merge_roundtrip():
    base = nn.Linear(4, 3).double()
    lora = LoRALinear(base, r=2, alpha=6)
    with torch.no_grad():
        lora.lora_B.normal_()
    w0 = base.weight.clone()
    x = torch.randn(5, 4, dtype=torch.float64)
    ref = x @ (w0 + 3.0 * lora.lora_B @ lora.lora_A).t() + base.bias
    torch.testing.assert_close(lora(x), ref)
    lora.merge()
    torch.testing.assert_close(lora(x), ref)
    lora.unmerge()
    torch.testing.assert_close(base.weight, w0, rtol=0, atol=1e-12)
    bound = 1 / math.sqrt(4)  # kaiming_uniform(a=sqrt 5) on fan_in 4
    assert lora.lora_A.abs().max() <= bound


def test_selector_on_gpt_blocks_and_band():
    gpt = GPT(n_layer=4, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    names = inject_lora(gpt, layers=lora_band(["blocks.1", "blocks.2"]), r=2)
    assert names and all(n.startswith(("blocks.1.", "blocks.2.")) for n in names)
    assert all(isinstance(dict(gpt.named_modules())[n], LoRALinear) for n in names)
    assert inject_lora(gpt, layers=slice(0, 1), r=2, freeze_rest=False)[0].startswith("blocks.0.")
    merge_lora(gpt)
    merge_lora(gpt, merged=False)
    with pytest.raises(ValueError):
        lora_band([])


def test_identical_to_peft_at_init_and_after_one_step():
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    ref_net, our_net = _net(), _net()
    our_net.load_state_dict(ref_net.state_dict())
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["0", "2"], lora_dropout=0.0)
    ref = peft.get_peft_model(ref_net, cfg)
    inject_lora(our_net, layers=["0", "2"], r=4, alpha=8)
    for name in ("0", "2"):  # same random A in both, B zero in both
        peft_layer = dict(ref.named_modules())[f"base_model.model.{name}"]
        ours = dict(our_net.named_modules())[name]
        assert torch.equal(peft_layer.lora_B["default"].weight, ours.lora_B)
        with torch.no_grad():
            ours.lora_A.copy_(peft_layer.lora_A["default"].weight)
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    torch.testing.assert_close(our_net(x), ref(x), rtol=0, atol=0)
    for model in (ref, our_net):
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        (model(x) - y).pow(2).mean().backward()
        opt.step()
    assert sum(p.requires_grad for p in ref.parameters()) == len(lora_parameters(our_net))
    torch.testing.assert_close(our_net(x), ref(x), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(our_net(x), _net_from(ref_net)(x))


def _net_from(wrapped):
    net = _net()
    state = {k.replace(".base_layer", ""): v for k, v in wrapped.state_dict().items() if "lora" not in k}
    net.load_state_dict(state)
    return net
