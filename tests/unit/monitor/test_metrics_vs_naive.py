"""Every Monitor metric equals its naive definition computed without hooks."""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from layerwise import Monitor
from layerwise.metrics import activations as A
from layerwise.metrics import gradients as G
from layerwise.metrics import noise as N
from layerwise.metrics import resolve
from layerwise.monitor import stacks
from layerwise.monitor.layout import build_layout
from layerwise.monitor.snapshot import WeightSnapshot

# How layer outputs are reduced: one by one in the hook, in chunks of 3 (16 layers leave a partial
# chunk), or all layers of a shape in one chunk.
PATHS = {"per-layer": 0, "chunks-of-3": None, "one-chunk": 1 << 30}


@pytest.fixture(params=list(PATHS))
def reduction_path(request, monkeypatch):
    """Set CHUNK_BYTES for the path; chunks-of-3 is sized from the test MLP's output (8 x 8 floats)."""
    chunk = PATHS[request.param]
    monkeypatch.setattr(stacks, "CHUNK_BYTES", 3 * 8 * 8 * 4 if chunk is None else chunk)
    return request.param


def run_one_step(model, x, y, lr=0.1, metrics="all"):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with Monitor(model, metrics=metrics, optimizer=opt) as mon:
        with mon.step(0):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            mon.log(loss=loss)
        opt.step()
        table = mon.table().to_pylist()
    return {(r["layer"], r["metric"]): r["value"] for r in table}


def naive_block_outputs(model, x):
    outs, h = [], x
    for block in model.blocks:
        h = block(h)
        h.retain_grad()
        outs.append(h)
    return outs, model.head(h)


def test_forward_and_backward_metrics_match_naive(mlp, batch, reduction_path):
    x, y = batch
    ref = copy.deepcopy(mlp)
    got = run_one_step(mlp, x, y)
    outs, logits = naive_block_outputs(ref, x)
    F.cross_entropy(logits, y).backward()
    for i, h in enumerate(outs):
        name = f"blocks.{i}"
        assert got[(name, "act_rms")] == pytest.approx(A.act_rms(h).item(), rel=1e-5)
        assert got[(name, "act_mean")] == pytest.approx(A.act_mean(h).item(), rel=1e-5, abs=1e-7)
        assert got[(name, "act_max")] == pytest.approx(A.act_max(h).item(), rel=1e-6)
        expected = A.act_max_median(h).item()
        if expected == expected:  # NaN when every entry is zero
            assert got[(name, "act_max_median")] == pytest.approx(expected, rel=1e-5)
        assert got[(name, "dead_fraction")] == pytest.approx(A.dead_fraction(h).item())
        assert got[(name, "bias_shift")] == pytest.approx(A.bias_shift(h).item(), rel=1e-5)
        assert got[(name, "act_grad_norm")] == pytest.approx(G.act_grad_norm(h.grad).item(), rel=1e-5)
    assert got[("", "loss")] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)


@pytest.mark.parametrize("metrics", ["all", "economy"])
def test_parameter_metrics_match_naive(mlp, batch, metrics):
    """``all`` measures weight norms per tensor (effective LR needs them); ``economy`` takes them
    from the flat, layer-ordered weight snapshot."""
    x, y = batch
    ref = copy.deepcopy(mlp)
    lr = 0.1
    got = run_one_step(mlp, x, y, lr=lr, metrics=metrics)
    F.cross_entropy(ref(x), y).backward()
    for i, block in enumerate(ref.blocks):
        name = f"blocks.{i}"
        params = list(block.parameters())
        before = [p.detach().clone() for p in params]
        after = [p.detach() - lr * p.grad for p in params]
        grads = [p.grad for p in params]
        assert got[(name, "grad_norm")] == pytest.approx(G.grad_norm(grads).item(), rel=1e-5)
        assert got[(name, "weight_norm")] == pytest.approx(G.weight_norm(before).item(), rel=1e-5)
        assert got[(name, "update_ratio")] == pytest.approx(G.update_ratio(before, after).item(), rel=1e-4)
        if metrics == "all":
            assert got[(name, "eff_lr")] == pytest.approx(G.eff_lr(lr, [block.lin.weight]).item(), rel=1e-5)


def test_nested_layers_share_parameters_and_still_match_naive(mlp, batch):
    """A parameter inside two selected layers (a block and its Linear) rules out the flat
    snapshot; the per-tensor snapshot must give both layers their exact values."""
    x, y = batch
    ref = copy.deepcopy(mlp)
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    with Monitor(mlp, layers=["blocks.1", "blocks.1.lin"], metrics="economy", optimizer=opt) as mon:
        assert not WeightSnapshot.supports(mon._collector.layout)
        with mon.step(0):
            F.cross_entropy(mlp(x), y).backward()
        opt.step()
        got = {(r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist()}
    F.cross_entropy(ref(x), y).backward()
    params = list(ref.blocks[1].lin.parameters())
    before = [p.detach().clone() for p in params]
    after = [p.detach() - 0.1 * p.grad for p in params]
    want = G.update_ratio(before, after).item()
    assert got[("blocks.1", "update_ratio")] == pytest.approx(want, rel=1e-4)
    assert got[("blocks.1.lin", "update_ratio")] == pytest.approx(want, rel=1e-4)


def test_flat_snapshot_needs_one_dtype():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3).double())
    specs = resolve("economy")
    assert not WeightSnapshot.supports(build_layout(model, ["0", "1"], specs))
    assert WeightSnapshot.supports(build_layout(model, ["0"], specs))


def per_sample_grads(model, block, x, y, reduction_scale):
    """Gradients of each sample's own loss w.r.t. the block's Linear weight and bias, by a loop."""
    rows = []
    for i in range(x.shape[0]):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        rows.append(torch.cat([block.lin.weight.grad.reshape(-1), block.lin.bias.grad]))
    return torch.stack(rows) * reduction_scale


def test_gradient_noise_matches_per_sample_loop(mlp, batch):
    x, y = batch
    ref = copy.deepcopy(mlp)
    got = run_one_step(mlp, x, y, metrics=["grad_noise", "grad_snr"])
    for i, block in enumerate(ref.blocks):
        samples = per_sample_grads(ref, block, x, y, 1.0)
        assert got[(f"blocks.{i}", "grad_noise")] == pytest.approx(N.grad_noise(samples).item(), rel=1e-4)
        assert got[(f"blocks.{i}", "grad_snr")] == pytest.approx(N.grad_snr(samples).item(), rel=1e-4)


class SeqBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, d)

    def forward(self, x):
        return x + torch.tanh(self.lin(x))


def test_gradient_noise_on_sequences_and_sum_reduction():
    torch.manual_seed(3)
    model = nn.Sequential(SeqBlock(6), SeqBlock(6))
    x = torch.randn(5, 7, 6)
    target = torch.randn(5, 7, 6)
    ref = copy.deepcopy(model)
    with Monitor(model, metrics=["grad_noise", "grad_snr"], loss_reduction="sum") as mon:
        with mon.step(0):
            ((model(x) - target) ** 2).sum().backward()
        got = {(r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist()}
    for i, block in enumerate(ref):
        rows = []
        for s in range(5):
            ref.zero_grad()
            ((ref(x[s : s + 1]) - target[s : s + 1]) ** 2).sum().backward()
            rows.append(torch.cat([block.lin.weight.grad.reshape(-1), block.lin.bias.grad]))
        samples = torch.stack(rows)
        assert got[(str(i), "grad_noise")] == pytest.approx(N.grad_noise(samples).item(), rel=1e-4)
        assert got[(str(i), "grad_snr")] == pytest.approx(N.grad_snr(samples).item(), rel=1e-4)


def test_activation_stats_on_conv_units_and_noncontiguous():
    h = torch.randn(4, 3, 5, 5).relu().transpose(2, 3)  # non-contiguous, channels at dim 1
    assert not h.is_contiguous()
    names = ("act_rms", "dead_fraction", "bias_shift")
    got = A.activation_stats(h, names, unit_dim=1)
    want = [A.act_rms(h), A.dead_fraction(h, 1), A.bias_shift(h, 1)]
    torch.testing.assert_close(got.double(), torch.stack(want).double(), rtol=1e-5, atol=1e-7)


def test_dead_fraction_counts_units_that_never_fire():
    h = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 3.0]])
    assert A.dead_fraction(h).item() == pytest.approx(0.5)
    assert A.activation_stats(h, ("dead_fraction",)).item() == pytest.approx(0.5)


def test_dead_fraction_is_kept_for_layers_whose_units_can_die():
    """A ReLU (or a LeakyReLU of slope 0) zeroes the gradient of a unit that never fires; a leaky,
    parametric or randomised one keeps a slope there, so none of its units is dead."""
    acts = [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.0), nn.LeakyReLU(0.01), nn.PReLU(), nn.RReLU(), nn.Tanh()]
    model = nn.Sequential(*[nn.Sequential(nn.Linear(3, 3), act) for act in acts])
    with Monitor(model, metrics=["dead_fraction"]) as mon:
        missing = [k.split(":")[0] for k in mon.unmonitored if k.endswith(":dead_fraction")]
    assert missing == ["3", "4", "5", "6"]
    assert "cannot die" in mon.unmonitored["3:dead_fraction"]


def test_max_median_ratio_flags_a_massive_activation():
    h = torch.ones(1000)
    h[7] = 500.0
    assert A.activation_stats(h, ("act_max_median",)).item() == pytest.approx(500.0)


def test_layers_of_different_widths_are_batched_exactly(reduction_path):
    """Layers of different widths share one batched reduction (padded): values stay exact."""
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in ((5, 3), (3, 9), (9, 4))])
    x = torch.randn(6, 5) * 3
    with Monitor(model, metrics=["act_rms", "act_mean", "act_max", "dead_fraction", "bias_shift",
                                 "act_max_median"]) as mon:
        with mon.step(0):
            model(x).sum().backward()
        got = {(r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist()}
    h = x
    for i, block in enumerate(model):
        h = block(h).detach()
        for name, fn in (("act_rms", A.act_rms), ("act_mean", A.act_mean), ("act_max", A.act_max),
                         ("dead_fraction", A.dead_fraction), ("bias_shift", A.bias_shift)):
            assert got[(str(i), name)] == pytest.approx(fn(h).item(), rel=1e-5, abs=1e-7), (i, name)
        expected = A.act_max_median(h).item()
        assert got[(str(i), "act_max_median")] == pytest.approx(expected, rel=1e-5, nan_ok=True)


def test_noise_of_a_layer_with_a_reused_linear_is_withheld_not_partial():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return self.b(torch.tanh(self.a(self.a(x))))  # `a` runs twice: per-sample norms invalid

    model = nn.Sequential(Twice(), nn.Sequential(nn.Linear(4, 4)))
    with Monitor(model, metrics=["grad_noise"]) as mon:
        with mon.step(0):
            model(torch.randn(6, 4)).sum().backward()
        layers = {r["layer"] for r in mon.table().to_pylist() if r["layer"]}
    assert layers == {"1"} and "ran more than once" in mon.unmonitored["0:grad_noise"]


def test_overlapping_selections_keep_noise_for_every_layer(mlp, batch):
    """A block and the Linear inside it both selected: one hook per Linear feeds both layers,
    and both equal the per-sample loop (the UX review found the inner one dropped)."""
    x, y = batch
    ref = copy.deepcopy(mlp)
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    with Monitor(mlp, metrics=["grad_noise"], optimizer=opt,
                 layers=["blocks.*", "blocks.*.lin"]) as mon:
        with mon.step(0):
            F.cross_entropy(mlp(x), y).backward()
        opt.step()
        got = {(r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist()}
        assert not [k for k in mon.unmonitored if k.endswith(":grad_noise")], mon.unmonitored
    for i, block in enumerate(ref.blocks):
        want = N.grad_noise(per_sample_grads(ref, block, x, y, 1.0)).item()
        for layer in (f"blocks.{i}", f"blocks.{i}.lin"):
            assert got[(layer, "grad_noise")] == pytest.approx(want, rel=1e-4), layer


@pytest.mark.parametrize("depth", [1, 3, 7])
def test_chunked_reduction_matches_one_output_at_a_time(depth, monkeypatch):
    """Chunks of 3 over 1, 3 or 7 layers (full, partial and mixed chunks) give each layer's values."""
    monkeypatch.setattr(stacks, "CHUNK_BYTES", 3 * 4 * 6 * 4)
    torch.manual_seed(depth)
    outs = [torch.randn(4, 6) * (i + 1) for i in range(depth)]
    names = A.FORWARD
    group = stacks.OutputStacks()
    for i, h in enumerate(outs):
        assert group.fits(h)
        group.add(i, h, names, -1)
    [(members, _, pieces)] = group.pieces()
    assert members == list(range(depth))
    done = A.finish_activation_stats(pieces, names)
    for i, h in enumerate(outs):
        want = A.activation_stats(h, names)
        torch.testing.assert_close(torch.stack([done[n][i] for n in names]), want, rtol=1e-5, atol=1e-7)


def test_outputs_edited_in_place_later_are_measured_as_the_layer_produced_them(reduction_path):
    """A later in-place op (ReLU(inplace=True), x.mul_) must not change what the Monitor saw."""

    class Doubler(nn.Module):
        def forward(self, x):
            return x.mul_(2.0)  # edits the previous layer's output in place

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), Doubler(), nn.Linear(6, 2))
    x = torch.randn(4, 5)
    with Monitor(model, layers=["0"], metrics=["act_rms", "act_max"]) as mon:
        with mon.step(0), torch.no_grad():
            model(x)
        got = {r["metric"]: r["value"] for r in mon.table().to_pylist()}
    h = model[0](x).detach()
    assert got["act_rms"] == pytest.approx(A.act_rms(h).item(), rel=1e-5)
    assert got["act_max"] == pytest.approx(A.act_max(h).item(), rel=1e-6)


def test_conv_layers_reduce_over_channels_on_every_path(reduction_path):
    """Conv outputs (N, C, H, W): units are channels, on the hook path and the stacked one."""
    torch.manual_seed(1)
    model = nn.Sequential(*[nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU()) for c in (2, 4, 4)])
    x = torch.randn(3, 2, 5, 5)
    names = ["act_rms", "act_mean", "act_max", "dead_fraction", "bias_shift"]
    with Monitor(model, metrics=names) as mon:
        with mon.step(0), torch.no_grad():
            model(x)
        got = {(r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist()}
    h = x
    for i, block in enumerate(model):
        h = block(h).detach()
        want = {"act_rms": A.act_rms(h), "act_mean": A.act_mean(h), "act_max": A.act_max(h),
                "dead_fraction": A.dead_fraction(h, 1), "bias_shift": A.bias_shift(h, 1)}
        for name, value in want.items():
            assert got[(str(i), name)] == pytest.approx(value.item(), rel=1e-5, abs=1e-7), (i, name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("names", [A.FORWARD, ("act_rms", "act_mean", "act_max"), ("act_max_median",)])
def test_every_float_dtype_and_metric_subset_matches_the_float64_definition(dtype, names):
    """Half-precision outputs are reduced with float32 accumulation (no upcast copy); subsets
    without per-unit metrics take whole-output reductions; all agree with the definitions."""
    torch.manual_seed(5)
    h = (torch.randn(3, 40, 24) * 2 + 0.3).relu().to(dtype)
    got = A.activation_stats(h, names)
    reference = {"act_rms": A.act_rms, "act_mean": A.act_mean, "act_max": A.act_max,
                 "act_max_median": A.act_max_median, "dead_fraction": A.dead_fraction,
                 "bias_shift": A.bias_shift}
    want = torch.stack([reference[n](h) for n in names]).float()
    torch.testing.assert_close(got.float(), want, rtol=1e-4, atol=1e-6)


def test_dead_fraction_of_a_non_finite_output_is_nan_not_zero():
    from layerwise.metrics import activations as A

    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU())
    x = torch.randn(5, 4)
    x[0, 0] = float("nan")
    with Monitor(model, metrics=["dead_fraction"], on_nonfinite="record") as mon:
        with mon.step(0):
            model(x).sum().backward()
        got = {r["layer"]: r["value"] for r in mon.table().to_pylist() if r["metric"] == "dead_fraction"}
    assert got and all(v != v for v in got.values()), got  # NaN everywhere downstream of the NaN
    assert A.dead_fraction(torch.tensor([[float("nan"), 1.0]])).isnan()
    assert A.dead_fraction(torch.tensor([[0.0, 1.0]])).item() == 0.5


def test_a_pooled_relu_block_reports_the_dead_fraction_of_its_relu():
    from layerwise.models import CNN

    torch.manual_seed(0)
    model = CNN(in_channels=1, num_classes=3, channels=(4, 6), image_size=8)
    with torch.no_grad():
        model.blocks[1].bn.bias[:2] = -50.0  # 2 of block 1's 6 channels never fire
    x = torch.randn(16, 1, 8, 8)
    with Monitor(model, metrics=["dead_fraction"]) as mon:
        with mon.step(0):
            model(x).sum().backward()
        got = {r["layer"]: r["value"] for r in mon.table().to_pylist() if r["metric"] == "dead_fraction"}
    relu_out = model.blocks[1].act(model.blocks[1].bn(model.blocks[1].conv(model.blocks[0](x))))
    assert got["blocks.1"] == pytest.approx(A.dead_fraction(relu_out, 1).item()) == pytest.approx(2 / 6)
    assert "blocks.0" in got and "head" not in got  # a Linear head is not ReLU-family


def test_layers_ending_in_a_bounded_activation_record_its_range_in_meta(tmp_path):
    from layerwise.monitor.runlog import RunLog

    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()),
                          nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Flatten()),
                          nn.Sequential(nn.Linear(4, 4), nn.Hardtanh(-2.0, 3.0)),
                          nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Dropout(0.5)),
                          nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    with Monitor(model, layers=["0", "1", "2", "3", "4"], log=tmp_path / "run") as mon, mon.step(0):
        model(torch.randn(2, 4)).sum().backward()
    ranges = RunLog.read_meta(tmp_path / "run")["monitor"]["output_range"]
    # dropout rescales its input in training, so its layer's range is unknown; ReLU is unbounded
    assert ranges == {"0": [0.0, 1.0], "1": [-1.0, 1.0], "2": [-2.0, 3.0]}
