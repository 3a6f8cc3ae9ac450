import pytest
import torch

from layerwise.transforms import (
    GradientTransform,
    add_noise,
    chain,
    clip_per_layer,
    identity,
    param_matches,
    partition,
    stateless,
)


def _scale(factor, name="scale"):
    return stateless(lambda g, p: {k: v * factor for k, v in g.items()}, name)


def _counter():
    def init(params):
        return {"n": 0}

    def update(grads, state, params):
        return dict(grads), {"n": state["n"] + 1}

    return GradientTransform(init, update, "counter")


def _apply(t, grads, state=None):
    state = t.init(grads) if state is None else state
    return t.update(grads, state, grads)


def test_identity_and_empty_chain_return_the_gradients():
    g = {"a": torch.randn(3), "b": torch.randn(2, 2)}
    for t in (identity(), chain()):
        out, _ = _apply(t, g)
        assert out.keys() == g.keys() and all(torch.equal(out[k], g[k]) for k in g)


def test_chain_applies_left_to_right_and_keeps_one_state_per_transform():
    add_one = stateless(lambda g, p: {k: v + 1 for k, v in g.items()}, "add_one")
    g = {"w": torch.tensor([1.0])}
    assert _apply(chain(add_one, _scale(3.0)), g)[0]["w"].item() == 6.0  # (1 + 1) * 3
    assert _apply(chain(_scale(3.0), add_one), g)[0]["w"].item() == 4.0  # 1 * 3 + 1
    t = chain(_counter(), identity(), _counter())
    state = t.init(g)
    for _ in range(3):
        _, state = t.update(g, state, g)
    assert state == [{"n": 3}, {}, {"n": 3}]


def test_clip_then_noise_differs_from_noise_then_clip():
    g = {"w": torch.full((1000,), 0.1)}
    clip, noise = clip_per_layer(C=1.0, mode="per_tensor"), add_noise(eta=1.0, seed=3)
    clip_noise, _ = _apply(chain(clip, noise), g)
    noise_clip, _ = _apply(chain(noise, clip), g)
    assert noise_clip["w"].norm().item() <= 1.0 + 1e-5  # clipping last bounds the result
    assert clip_noise["w"].norm().item() > 10.0  # noise last is unbounded (~sqrt(1000))


def test_chain_rejects_non_transforms_and_bad_state():
    with pytest.raises(TypeError, match="init/update"):
        chain(identity(), lambda g: g)
    t = chain(identity(), identity())
    with pytest.raises(ValueError, match="length"):
        t.update({}, [{}], {})


def test_param_matches_name_prefix_glob_and_predicate():
    name = "blocks.1.attn.qkv.weight"
    assert param_matches(name, name)
    assert param_matches(name, "blocks.1")  # module prefix
    assert not param_matches(name, "blocks.1.at")  # not a whole component
    assert param_matches(name, "blocks.*.attn.*")
    assert not param_matches(name, "head.*")
    assert param_matches(name, lambda n: n.endswith("weight"))
    with pytest.raises(TypeError, match="glob"):
        param_matches(name, 3)


def test_partition_routes_by_selector_first_match_wins():
    g = {"blocks.0.w": torch.ones(2), "blocks.1.w": torch.ones(2), "head.w": torch.ones(2)}
    t = partition({"blocks.0": _scale(2.0), "blocks.*": _scale(3.0)}, default=_scale(5.0))
    out, state = _apply(t, g)
    assert [out[k][0].item() for k in g] == [2.0, 3.0, 5.0]
    assert list(out) == list(g) and set(state) == {"0", "1", "default"}


def test_partition_by_label_function_and_per_route_state():
    g = {"enc.w": torch.ones(1), "dec.w": torch.ones(1), "other.w": torch.ones(1)}
    t = partition({"enc": _counter(), "dec": _scale(-1.0)}, label_fn=lambda n: n.split(".")[0])
    out, state = _apply(t, g)
    assert [out[k].item() for k in g] == [1.0, -1.0, 1.0]  # "other" has no rule: identity
    assert state["0"] == {"n": 1}


def test_partition_group_norm_is_per_group():
    g = {"a.w": torch.tensor([3.0, 4.0]), "b.w": torch.tensor([3.0, 4.0])}
    t = partition([("a.*", clip_per_layer(C=1.0, mode="global"))])
    out, _ = _apply(t, g)
    assert out["a.w"].norm().item() == pytest.approx(1.0, rel=1e-6)
    assert torch.equal(out["b.w"], g["b.w"])
