"""The case catalogue: injected faults with their ground truth, and healthy configurations.

Ground truth per case: the symptom (the doctor's vocabulary, :data:`layerwise.doctor.PRESCRIPTIONS`
keys), the layer band (block indices ``lo..hi``, or None for a model-level symptom), the onset
step, and the remedies (component names of ``layerwise.doctor._prescribe``) that address it.
The onset is the first step whose rows can show the fault: the injection step for a weight edit
or a corrupted batch (applied before that step's forward pass), the step after it for a
learning-rate change (the first update with the new rate lands after that step's rows).
``also`` lists symptoms accepted as the same diagnosis where one fault shows as two named
symptoms by construction (a learning rate of 0 *is* an update too small; a 30x learning-rate jump
goes non-finite within a step or two of exploding).

Split, declared before any run of this benchmark and not changed after: ``held_out`` marks
recipes no doctor rule was written or tuned on (14 of the first 45 injection recipes, mostly on
the CNN and the ViT, which no doctor example or test uses; the healthy CNN and ViT configurations
likewise);
``tuned`` marks the rest, including the recipes the doctor's examples and tests resemble
(a dead block from the start, a learning rate far too large, a hot GPT, a std-1 tanh MLP).
``held_out2``: 15 recipes added 2026-12-03 to reach 4 per class, declared held out before any
doctor run on them (60 injection recipes in all). Each was checked on its raw rows only (the
comment beside it says what seeds 0-2 showed); most are configurations from step 0 (an init, an
activation, a missing norm, an optimizer setting) that a remedy can change in a re-run.
``held_out3``: 15 recipes added 2026-12-03 (one per class) after the doctor's last change, declared
held out before any doctor run on them (75 injection recipes in all), each a mechanism its class
had not used (a frozen near-zero layer, a loss scale never undone, a zeroed batch-norm gain, Adam's
eps at 0 or 10, AdamW's decay mis-set, blank inputs, a softmax temperature, a bypassed block, ...);
checked on raw rows only, as the comment beside each says.
``held_out4``: 15 recipes added 2026-12-03 (one per class), declared held out before any doctor run
on them (90 injection recipes in all), each a mechanism its class had not used, mixed over the MLP,
CNN, GPT and ViT: SGD's coupled weight decay at 0.5, ``zero_grad`` left out, a sign-flipped weight
clamp, standardisation without an epsilon, a label-sorted data stretch, one outlier weight, momentum
0.99, a warmup that never ends, an optimizer on a stale copy of the model, raw pixel values into
tanh, missing pre-attention norms, a parameter group's learning-rate multiplier on the attention,
missing residual connections, a block left out of the optimizer, a mis-weighted logit penalty;
checked on raw rows only (seeds 0-2), as the comment beside each says. With them, 6 healthy
configurations (a 4-block CNN, 2-block GPT and ViT, an ELU MLP under momentum, and two runs with
two agreeing losses: label smoothing, a hinge loss), checked likewise.
``held_out5``: 15 recipes added 2026-12-03 (second session, one per class), declared held out before any
doctor run on them (105 injection recipes in all), each a mechanism its class had not used, mixed over
the MLP, CNN, GPT and ViT: a max-norm constraint at 0.25, a learning-rate range test left on, an L1
decay without its sign from step 50, a hand-written KL on one-hot targets, a transposed-image shard, a
missing-value sentinel pixel, gradients rescaled to a fixed norm, a per-epoch decay stepped every
batch, ``zero_grad`` between ``backward`` and ``step``, a sign-flipped weight decay under tanh, attention
without its ``1 / sqrt(d_head)``, a one-token attention window, tokens pooled before the blocks, a
decay of 100 on the last block's parameter group, distillation from an untrained teacher; checked on
raw rows only (seeds 0-2), as the comment beside each says. With them, 6 healthy configurations (a
wider 3-block CNN under momentum, a width-64 GPT and ViT, a GELU MLP under momentum, and two runs with
two agreeing losses: a focal loss, a Brier score), checked likewise.
``held_out6``: 15 recipes added 2026-12-03 (second session, later; one per class), declared held out before
any doctor run on them (120 injection recipes in all), each a mechanism its class had not used, mixed over
the MLP, CNN, GPT and ViT: a gradient-scaling layer at 1e-3 on the main path, images rescaled to 0-255 twice,
a mean subtracted in the wrong unit, a batch of padding alone, a shard in another vocabulary, one
patch-embedding channel x1e3, a sign update at SGD's learning rate, the loss divided by the data set's size,
an accumulation count beyond the run, batch-norm gains initialised to 10 before tanh, AdamW's decay with its
sign flipped, a relative-position attention bias at std 10, skip connections scaled by 0.1, residual gates
started at -10, an auxiliary loss subtracted instead of added; checked on raw rows only (seeds 0-2), as the
comment beside each says. With them, 6 healthy configurations (a 3-block CNN at SGD lr 0.1, a 6-block GPT and
a 5-block ViT at Adam 1e-3, a tanh MLP under Adam, and two runs with two agreeing losses: a cross-entropy at
temperature 2, the Poly-1 term), checked likewise.
``held_out7``: 15 recipes added 2026-12-03 (third session; one per class), declared held out before any
doctor run on them (135 injection recipes in all), each a mechanism its class had not used, mixed over the
MLP, CNN, GPT and ViT: a softmax as the hidden activation, a warmup to 64x the rate, a layer reset to zeros
mid-run, a learned temperature started at 0, Adam's second moments lost on a resume, one attention-bias
channel x1e3, LARS's trust coefficient at 1, a gradient clip at 1e-4, a task loss on detached outputs,
``uniform_`` at its default U(0, 1) bounds, sign-flipped attention-logit and attention-entropy penalties,
one position row at std 1 for every token, ReZero's zero gate with zero output projections, an L2-SP anchor
that was never loaded; checked on raw rows only (seeds 0-2), as the comment beside each says. With them, 6
healthy configurations (a 2-block CNN of width (32, 64), a width-48 GPT and ViT, a wide SiLU MLP under Adam,
and two runs with two agreeing losses: a class-balanced cross-entropy, a second head on the last block),
checked likewise.
``held_out8``: 15 recipes added 2026-12-03 (third session, later; one per class), declared held out before any
doctor run on them (150 injection recipes in all), each a mechanism its class had not used, mixed over the
MLP, CNN, GPT and ViT: a residual network's 1 / sqrt(depth) scale on a plain MLP's layers, loss weights given
as class counts, a dropout's keep probability given as its drop probability, a per-sample max scaling meeting
a blank image, a shard in another class order, a raw position index in one embedding channel, RMSprop at SGD's
rate, a squared learning rate, inputs and labels shuffled apart, weights restored x10 mid-run under tanh, the
attention scale multiplied instead of divided, ALiBi slopes with the exponent's sign lost, embedding tables
left at a constant fill and frozen, two blocks pruned to 100%, a contrastive loss with its positive mask
inverted; checked on raw rows only (seeds 0-2), as the comment beside each says. With them, 6 healthy
configurations (a 3-block CNN at Adam 3e-3, a 4-block width-48 GPT at 2e-3, a ViT at 1e-3 for 150 steps, a
3-block ELU MLP under Adam, and two runs with two agreeing losses: the reverse cross-entropy, the generalised
cross-entropy), checked likewise.
``held_out9``: 15 recipes added 2026-12-03 (fourth session; one per class), declared held out before any
doctor run on them (165 injection recipes in all), each a mechanism its class had not used, mixed over the
MLP, CNN, GPT and ViT: batch norms built with eps = 1e5, a gradient clip with its ratio inverted, a layer-wise
learning-rate multiplier of 1e-3 written as 1e3, a causal mask that masks the diagonal too, a shard of
inverted polarity, a LayerScale vector with one entry at 1e3, Adam without its second moment's bias
correction, Adagrad's initial accumulator at 1e4, ``label_smoothing=True``, inputs divided by their variance,
CLIP's learned logit scale in the attention, top-k attention with k = 1, LayerNorms built with eps = 1e5, a
stochastic-depth survival falling to 0, an auxiliary weight annealed past 0; checked on raw rows only (seeds
0-2), as the comment beside each says. With them, 6 healthy configurations (a 3-block GELU MLP of width 48 at
SGD lr 0.1, a 3-block CNN (12, 24, 24) at Adam 1e-3, a Peri-LN GPT of width 64 at 1e-3, a 4-block ViT at 1e-3,
and two runs with two agreeing losses: the additive-margin softmax loss, soft bootstrapping), checked
likewise.
``held_out10``: 15 recipes added 2026-12-03 (fourth session, later; one per class), declared held out before
any doctor run on them (180 injection recipes in all), each a mechanism its class had not used, mixed over the
MLP, CNN, GPT and ViT: ``nn.Hardsigmoid`` where ``nn.Hardswish`` was meant, the task loss negated, a
thresholded ReLU at theta = 6, a group-lasso penalty through ``torch.sqrt`` on zero biases, a head left at a
fresh init by a resume, a Post-LN norm's bias entry at 1e3, the loss summed over the batch, SGD's dampening at
0.999, a softmax taken twice, ``tanh(x / 0.1)``, an attention sharpening annealed without a cap, cosine
attention at its temperature floor, skip connections that add the tokens' mean, a head reading an early
block, an unlikelihood loss on the targets themselves; checked on raw rows only (seeds 0-2), as the comment
beside each says. With them, 6 healthy configurations (a 5-block tanh MLP of width 80 under momentum, a CNN
(12, 24, 48) at Adam 2e-3, a 5-block GPT at 2e-3, a ViT of width 40 at 1e-3 for 120 steps, and two runs with
two agreeing losses: the Jensen-Shannon divergence, a cosine softmax), checked likewise.
``held_out11``: 15 recipes added 2026-12-03 (fifth session; one per class), declared held out before any
doctor run on them (195 injection recipes in all); written by a helper without telling the doctor's author
its cases; checked on raw rows only (seeds 0-2), as the comment beside each says. With them, 6 healthy
configurations, checked likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from faults import injections as inj
from faults.models import BUILDERS
from layerwise.doctor._setup import Setup

NAN, INF = float("nan"), float("inf")


@dataclass(frozen=True)
class Recipe:
    """``recipe(seed) -> Setup``: the builder's model with the injections applied."""

    model: str
    kwargs: tuple = ()
    faults: tuple = ()

    def __call__(self, seed: int) -> Setup:
        setup = BUILDERS[self.model](seed, **dict(self.kwargs))
        for fault in self.faults:
            fault(setup)
        return setup


@dataclass(frozen=True)
class Case:
    name: str
    recipe: Recipe
    symptom: str | None  # None: healthy
    band: tuple[int, int] | None = None
    onset: int = 0
    remedies: tuple[str, ...] = ()
    split: str = "tuned"
    also: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return self.symptom is None

    def accepts(self, symptom: str | None) -> bool:
        return symptom is not None and (symptom == self.symptom or symptom in self.also)


def R(model: str, *faults, **kwargs) -> Recipe:
    return Recipe(model, tuple(sorted(kwargs.items())), faults)


def edit(at, path, fn, freeze=False):
    return inj.Edit(at, path, fn, freeze)


def shrink_branches(blocks, factor):
    """Edits at step 0 scaling the attention and MLP branch outputs of ``blocks`` by ``factor``."""
    paths = [f"blocks.{i}.{branch}.proj" for i in blocks for branch in ("attn", "mlp")]
    return tuple(edit(0, path, inj.scale_output(factor)) for path in paths)


VANISH = ("init", "insert_norm_before_activations", "replace_activations", "add_noise")
EXPLODE = ("clip_per_layer", "learning_rate", "layernorm_scaling")
DEAD = ("replace_activations", "learning_rate", "project_to_init_norm", "init")
CORRUPT = ()  # a corrupted weight (or optimizer state): a hardware-like fault no remedy prevents
BAD_BATCH = ("skip_nonfinite",)  # a NaN/Inf batch: skipping its step keeps the weights finite
SPIKE = ("clip_per_layer", "learning_rate", "norm_placement")
BAD_SHARD = (*SPIKE, "skip_batches")  # a spike from a stretch of bad data: skipping those batches (PaLM)
MASSIVE = ("norm_placement", "layernorm_scaling")
LARGE = ("learning_rate", "clip_per_layer")
SMALL = ("learning_rate", "noise_adaptive_muon")
STALL = ("learning_rate",)
NO_SIGNAL = ()  # shuffled labels: nothing in the model or optimizer can learn labels that carry no signal
SATURATE = ("init", "insert_norm_before_activations", "learning_rate", "replace_activations")
LOGITS = ("qk_norm", "learning_rate")
RANK = ("norm_placement", "learning_rate")
DEPTH = ("layernorm_scaling", "norm_placement")
CONFLICT = ("pcgrad", "samgs", "gcond")

C, H, H2, H3, H4, H5 = Case, "held_out", "held_out2", "held_out3", "held_out4", "held_out5"
H6, H7, H8, H9, H10 = "held_out6", "held_out7", "held_out8", "held_out9", "held_out10"
H11 = "held_out11"
INJECTED: list[Case] = [
    # vanishing gradients
    C("vanish/mlp-sigmoid-deep", R("mlp", inj.Activation("sigmoid"), depth=10, init="xavier"),
      "vanishing gradients", (0, 6), 0, VANISH),
    C("vanish/mlp-default-init-deep", R("mlp", depth=16, init="default"), "vanishing gradients",
      (0, 12), 0, VANISH),
    C("vanish/mlp-tanh-tiny-init", R("mlp", depth=10, act="tanh", init=0.05), "vanishing gradients",
      (0, 7), 0, VANISH, H),
    # 8 conv-sigmoid blocks without batch norm: block 0's grad norm ~1e-9 vs block 7's ~5e-2, each
    # block ~10x below the next (seeds 0-2); blocks 0-4 under 1e-3 of block 7; loss flat at 2.30
    C("vanish/cnn8-sigmoid-no-bn", R("cnn", inj.NoBatchNorm(), inj.Activation("sigmoid"), channels=(8,) * 8),
      "vanishing gradients", (0, 4), 0, VANISH, H2),
    # block 4 of a 6-block MLP with its weights x1e-3 and frozen (a near-zero layer left frozen):
    # grad_norm of blocks 0-3 2e-4-8e-4 vs block 5's 0.02-0.19 (1/200-1/500) all run; loss flat
    # at 2.30 (seeds 0-2)
    C("vanish/mlp6-frozen-tiny-block4",
      R("mlp", edit(0, "blocks.4.linear", inj.scale("weight", 1e-3), True), depth=6),
      "vanishing gradients", (0, 3), 0, VANISH, H3),
    # SGD's weight decay at 0.5 (a value meant for a decoupled, per-epoch decay given to SGD's
    # coupled one: w x 0.975 every step) on an 8-block MLP: grad norms 0.4-0.9 in every block at
    # step 0, then block 0's 4e-4-6e-4 vs block 7's 0.03-0.06 at step 37 and 2e-14-8e-14 vs 1e-3-3e-3
    # at the end, each block 10-50x below the next; blocks 0-3 under 1e-3 of block 7 from step 75,
    # blocks 0-4 from step 112; loss flat at 2.30 (seeds 0-2)
    C("vanish/mlp8-sgd-weight-decay-0.5", R("mlp", inj.OptimizerSetting("weight_decay", 0.5), depth=8),
      "vanishing gradients", (0, 4), 0, VANISH, H4),
    # a max-norm constraint (Srivastava et al. 2014's, usually c = 3-4) at c = 0.25 on every row of an 8-block
    # Xavier tanh MLP, applied before every step: grad_norm of block 0 3.5e-5-5.4e-5 vs block 7's 0.11-0.21
    # all run, each block 1.2-5x below the next; blocks 0-3 at most 6e-3 of block 7 (blocks 0-1 7e-4); act_rms
    # 0.11 in block 0 down to 7e-6 in block 7 at step 0; loss flat at 2.30 (seeds 0-2)
    C("vanish/mlp8-tanh-max-norm-0.25",
      R("mlp", *(inj.Constraint(f"blocks.{i}.linear", inj.max_norm("weight", 0.25)) for i in range(8)),
        depth=8, act="tanh", init="xavier"),
      "vanishing gradients", (0, 3), 0, VANISH, H5),
    # a gradient-scaling layer (a gradient-reversal layer's lambda, at 1e-3, left on the main path) after
    # block 2 of a 6-block MLP of width 96: grad_norm of blocks 0-2 7e-4-2e-3 vs blocks 3-5's 0.46-1.5 from
    # step 0 to the end (seeds 0-2); the loss still falls, 2.5-2.6 -> 0.36-0.63 (the upper blocks learn). No
    # model-side remedy removes the layer
    C("vanish/mlp6-gradient-scale-1e-3-after-block2",
      R("mlp", edit(0, "blocks.2", inj.gradient_scale(1e-3)), depth=6, width=96),
      "vanishing gradients", (0, 2), 0, (), H6),
    # every hidden ReLU of an 8-block MLP replaced by a softmax over the units (the output layer's softmax
    # copied into the hidden layers; its Jacobian is of order 1 / width): grad_norm of block 0 3e-14-7e-14 vs
    # block 7's 1.2e-3-4.6e-3 from step 0 to the end, each block 3.5-66x below the next; blocks 0-5 at most
    # 6.1e-4 of block 7 on every step; act_rms 0.016-0.02; loss flat at 2.30 (seeds 0-2)
    C("vanish/mlp8-hidden-softmax", R("mlp", inj.HiddenSoftmax(), depth=8), "vanishing gradients", (0, 5), 0,
      VANISH, H7),
    # every hidden layer of a 10-block Xavier tanh MLP multiplied by 1 / sqrt(10) (the 1 / sqrt(depth) branch
    # scale of a residual network put on the layers of a plain one): grad_norm of block 0 7e-6-1e-5 vs block
    # 9's 0.032-0.073 from step 0 to the end, each block 1-3.5x below the next; blocks 0-3 at most 1.2e-3 of
    # block 9, block 4 at most 4e-3; act_rms 0.13-0.17 in block 0 down to 4e-6-5e-6 in block 9 at step 0; loss
    # flat at 2.30 (seeds 0-2)
    C("vanish/mlp10-tanh-residual-scale-on-plain-layers",
      R("mlp", *(edit(0, f"blocks.{i}.linear", inj.scale_output(10 ** -0.5)) for i in range(10)), depth=10,
        act="tanh", init="xavier"),
      "vanishing gradients", (0, 4), 0, VANISH, H8),
    # the CNN's batch norms built with eps = 1e5 (1e-5 with the exponent's sign lost) in all 3 blocks: each
    # norm divides by ~sqrt(1e5) = 316 instead of the batch's std: grad_norm of block 0 2.4e-9-3.9e-8 and
    # block 1 5.8e-7-2.7e-5 vs block 2's 1.3e-4-8.8e-2 from step 0 to the end (block 0 under 2e-5 of block 2
    # on every step, block 1 under 1e-3 on 92-100% of the steps, median 1.6e-4-2e-4); loss flat at 2.30-2.33
    # (seeds 0-2). No model-side remedy changes the norms' eps
    C("vanish/cnn-bn-eps-1e5",
      R("cnn", *(edit(0, f"blocks.{i}.bn", inj.set_attribute("eps", 1e5)) for i in range(3))),
      "vanishing gradients", (0, 1), 0, (), H9),
    # every hidden ReLU of an 8-block MLP an nn.Hardsigmoid where nn.Hardswish was meant (MobileNetV3's two
    # "hard" functions confused; its slope is 1/6 where it is not flat): grad_norm of block 0 3.8e-6-9.9e-6 vs
    # block 7's 0.051-0.32 from step 0 to the end (at most 9.8e-5 of it), each block 3-6x below the next;
    # blocks 0-3 at most 4.5e-3 of block 7 (block 4 1.7e-2); act_rms 0.49-0.56 and act_max at most 0.89 (never
    # at the bound 1: no saturation); loss 2.28-2.65 at step 0, 2.28-2.30 at the end (seeds 0-2)
    C("vanish/mlp8-hardsigmoid-for-hardswish", R("mlp", inj.HiddenHardsigmoid(), depth=8),
      "vanishing gradients", (0, 3), 0, VANISH, H10),
    # every hidden activation of a 12-block Xavier MLP an nn.Softplus where nn.Softsign was meant (two
    # similarly named functions confused; its output sits near log 2 where its slope is 1/2): grad_norm of
    # block 0 1.7e-4-7.6e-4 vs block 11's 0.25-1.9 from step 0 to the end (at most 1.2e-3 of it), each block
    # 1.3-3.6x below the next; blocks 0-2 at most 7.1e-3 of block 11 (block 3 1.2e-2); loss 2.76-3.06 at step
    # 0, 2.29-2.31 at the end (seeds 0-2) (an nn.Tanhshrink where nn.Tanh was meant, tried first on an 8-block
    # MLP, took every activation to 0 by block 3 and every grad norm to exactly 0 (seed 0): not added)
    C("vanish/mlp12-softplus-for-softsign", R("mlp", inj.HiddenSoftplus(), depth=12, init="xavier"),
      "vanishing gradients", (0, 2), 0, VANISH, H11),
    # exploding gradients
    C("explode/mlp-lr-jump", R("mlp", inj.LR(60, 40.0)), "exploding gradients", (0, 3), 61, EXPLODE,
      also=("non-finite values",)),
    C("explode/mlp8-lr-jump", R("mlp", inj.LR(70, 20.0), depth=8), "exploding gradients", (0, 7), 71,
      EXPLODE, also=("non-finite values",)),
    # N(0, 0.3^2) weights (1.7x Kaiming) in 8 ReLU layers: grad norms ~1e2 at step 0, 2e3-7e3 at
    # step 1, 2e4-2e9 at step 2, NaN by step 3-5 in every layer (seeds 0-2)
    C("explode/mlp8-init-std0.3", R("mlp", depth=8, init=0.3), "exploding gradients", (0, 7), 0, EXPLODE, H2,
      also=("non-finite values",)),
    # SGD at lr 6 on the GPT (no Adam normalisation): block grad norms 0.3-0.5 -> 12-35 at step 3
    # -> 1e2-1.6e4 at step 4-5, NaN by step 6-7 (seeds 0-2)
    C("explode/gpt-sgd-lr-6", R("gpt", opt="sgd", lr=6.0), "exploding gradients", (0, 2), 0, EXPLODE, H2,
      also=("non-finite values",)),
    # the loss x1e3 under SGD (a mixed-precision loss scale never undone) on the ViT at lr 0.05:
    # block grad norms 650-1900 at step 0, 1e3-4e3 at step 1, 4e5-1.5e7 at step 2, NaN at step 3 and
    # the loss NaN at step 4 (seeds 0-2)
    C("explode/vit-sgd-loss-x1e3", R("vit", inj.ScaleLoss(1e3), opt="sgd", lr=0.05), "exploding gradients",
      (0, 2), 0, EXPLODE, H3, also=("non-finite values",)),
    # optimizer.zero_grad() left out (every step's gradient adds to the earlier ones) on a 6-block MLP:
    # grad norms 0.5-1.3 at step 0, 7-13 by step 34-48, 17-600 at steps 68-112; NaN at step 95 and 136
    # (seeds 2, 1), 1e2-1.2e4 at step 149 (seed 0); the loss back up to 2.0-2.8 from step ~70
    C("explode/mlp6-no-zero-grad", R("mlp", inj.NoZeroGrad(), depth=6), "exploding gradients", (0, 5), 0,
      EXPLODE, H4, also=("non-finite values",)),
    # a learning-rate range test (lr x 1.1 every step) left on in the training run of an SGD ViT at lr 0.05:
    # grad norms 0.05-0.3 at steps 30-46 and 1.4-44 at step 48 (lr x 97), 2.6e4-2.4e6 at step 50 (seeds 0, 1);
    # 2.2-3.4 at step 38 and 160-264 at 40 (seed 2); the loss NaN at step 53, 52, 44
    C("explode/vit-sgd-lr-range-test-left-on", R("vit", inj.ExponentialLR(1.1), opt="sgd", lr=0.05),
      "exploding gradients", (0, 2), 0, EXPLODE, H5, also=("non-finite values",)),
    # images rescaled to 0-255 a second time (inputs x255) into a 6-block ReLU MLP under SGD: grad norms
    # 2.7e2-9e2 at step 0, 3.8e6-1.3e8 at step 1 in every block, NaN at step 2 (loss 120-294 at step 0, NaN at
    # step 2-3) (seeds 0-2)
    C("explode/mlp6-inputs-x255", R("mlp", inj.Batch(0, inj.scale_inputs(255.0)), depth=6),
      "exploding gradients", (0, 5), 0, EXPLODE, H6, also=("non-finite values",)),
    # a linear warmup to 64x the base rate over 50 steps (a peak rate scaled by the batch size twice) on the
    # GPT under SGD at lr 0.1: block grad norms 0.03-0.3 to step 36, then 1.2-8.6 at step 38-39 and 3e3-3.9e4
    # at 42, NaN at 43 (seed 0); 2.4-3.7 at 50, 11-3.3e3 at 52-53, NaN at 54 (seed 1); 4.7-48 at 74, NaN by
    # 77 (seed 2); the loss 3.4-3.5 before, NaN at step 44, 55, 77
    C("explode/gpt-sgd-warmup-to-64x", R("gpt", inj.WarmupTo(64.0, 50), opt="sgd", lr=0.1),
      "exploding gradients", (0, 2), 0, EXPLODE, H7, also=("non-finite values",)),
    # the per-sample cross-entropy weighted by the class counts (~180; counts where inverse frequencies were
    # meant, with no division by the weights' sum) on a 5-block MLP of width 96 under SGD: loss 343-441 at
    # step 0; grad norms 99-390 at step 0, 1.4e4-3.8e5 at step 1, 1.8e10-3e13 at step 2 in every block, NaN at
    # step 3 (loss NaN or inf at step 3-4) (seeds 0-2)
    C("explode/mlp5-class-count-loss-weights", R("mlp", inj.ClassCountWeights(), depth=5, width=96),
      "exploding gradients", (0, 4), 0, EXPLODE, H8, also=("non-finite values",)),
    # a global-norm gradient clip at 0.1 written with its ratio inverted (g x |g| / 0.1 once |g| > 0.1) on a
    # 6-block MLP under SGD: grad norms (after the clip) 8-37 in every block at step 0 (the same MLP 0.5-1.3),
    # 50-860 at step 1, then 7e7-6e8 at step 2 and NaN at 3 (seed 0), 340-620 at 2, 1e8-7e8 at 3 and NaN at 4
    # (seed 1), 8.6e5-2.2e7 at 2 and NaN at 3 (seed 2); the loss 2.2-2.5 at step 0, 5.7e3, 3.8e3, 2.4e30 at
    # the step before it goes NaN or inf (seeds 0-2) (the same clip at 1.0 and 0.25, tried first, stayed
    # finite with grad norms 0.05-85 and no steady growth (seed 0): not added)
    C("explode/mlp6-clip-ratio-inverted", R("mlp", inj.InvertedClip(0.1), depth=6), "exploding gradients",
      (0, 5), 0, EXPLODE, H9, also=("non-finite values",)),
    # the MLP's task loss negated (a log-likelihood written as -cross_entropy and then minimised: every SGD
    # step is gradient ascent): grad norms 0.7-1.0 at step 0, 42-638 at steps 4-5, 4.9e6 at 6 and NaN at 7
    # (seed 0); 27-275 at 9-10, 4e16 at 12 and NaN at 13 (seed 1); 123 at 6, 1.1e12 at 8 and NaN at 9 (seed
    # 2), in every block; the logged loss -2.2..-2.5 at step 0, -1.7e8, -4.3e20, -8.5e14 at the last finite
    # step (seeds 0-2). No model-side remedy changes the loss's sign
    C("explode/mlp-task-loss-negated", R("mlp", inj.NegatedLoss()), "exploding gradients", (0, 3), 0, (), H10,
      also=("non-finite values",)),
    # a hand-written inverted dropout (p = 0.25) after every block of the MLP whose kept units are divided by
    # p instead of 1 - p (x4 where x1.33 was meant: x3 per block in expectation): loss 109-134 at step 0; grad
    # norms 109-207 in every block at step 0, 288-5.9e3 at 1, 765-8.4e4 at 2, then 4e7-1e9 at 3 and NaN at 4
    # (seed 0), 1.2e11-1.8e12 at 5 and NaN at 6 (seed 1), 5e8-4e10 at 6 and NaN by 8 (seed 2); the loss 3e22,
    # 1.4e27, 5e11 at the last finite step (seeds 0-2) (p = 0.1 on a 6-block MLP, tried first, had grad norms
    # 7e5-8e5 at step 0 and NaN at step 1 (seed 0), no run-up: not added). No model-side remedy changes the
    # dropout's scaling
    C("explode/mlp-dropout-scaled-by-p", R("mlp", inj.DropoutScaledByP(0.25)), "exploding gradients",
      (0, 3), 0, (), H11, also=("non-finite values",)),
    # dead units
    C("dead/mlp-block2-at-60", R("mlp", edit(60, "blocks.2.linear", inj.fill("bias", -50.0))),
      "dead units", (2, 2), 60, DEAD),
    C("dead/mlp-block1-from-start", R("mlp", edit(0, "blocks.1.linear", inj.fill("bias", -50.0))),
      "dead units", (1, 1), 0, DEAD),
    C("dead/cnn-block1-bn-at-50", R("cnn", edit(50, "blocks.1.bn", inj.fill("bias", -50.0))),
      "dead units", (1, 1), 50, DEAD, H),
    # every bias initialised to -1: dead_fraction 1.0 in blocks 1-3 from step 0 to the end (block 0
    # 0.6-0.7), grad norms exactly 0, loss flat at 2.30 (seeds 0-2)
    C("dead/mlp-bias-init-minus1", R("mlp", *(edit(0, f"blocks.{i}.linear", inj.fill("bias", -1.0))
                                              for i in range(4))),
      "dead units", (1, 3), 0, DEAD, H2),
    # block 2's batch-norm scale (gamma) initialised to 0 before its ReLU (a zero-init meant for a
    # residual branch): dead_fraction 1.0 in block 2 from step 0 to the end (blocks 0-1 0), the
    # ReLU's zero slope at 0 leaves every grad norm exactly 0; loss flat at 2.3 (seeds 0-2)
    C("dead/cnn-bn-gamma-0-block2", R("cnn", edit(0, "blocks.2.bn", inj.fill("weight", 0.0))),
      "dead units", (2, 2), 0, DEAD, H3),
    # block 2's weights clamped to <= 0 before every step (a non-negativity constraint with its sign
    # flipped) after ReLU inputs >= 0: dead_fraction 1.0 in blocks 2-3 from step 0 to the end
    # (blocks 0-1 0.02-0.13), every grad norm exactly 0; loss flat at 2.30 (seeds 0-2)
    C("dead/mlp-block2-weights-clamped-negative",
      R("mlp", inj.Constraint("blocks.2.linear", inj.clamp("weight", hi=0.0))),
      "dead units", (2, 3), 0, DEAD, H4),
    # an L1 weight decay written without its sign (every weight and bias minus lr x 0.05 before each step)
    # switched on at step 50 of a 6-block MLP: dead_fraction 0.03-0.27 at step 50, 0.6-1.0 at 90 and 1.0 in
    # all 6 blocks by the end; grad norms exactly 0 from step 90-100; loss 1.05-1.34 at step 49, 2.2-2.27 at
    # 70, 2.30 from 80 on (seeds 0-2)
    C("dead/mlp6-unsigned-l1-decay-from-50", R("mlp", inj.UnsignedL1Decay(0.05, 50), depth=6),
      "dead units", (0, 5), 50, DEAD, H5),
    # the inputs minus 8 (the raw 0-16 pixel mean subtracted from images already in [0, 1]) into the ReLU MLP:
    # dead_fraction 0.36-0.45 in block 0 at step 0, 1.0 from step 30 to the end, blocks 1-3 0.77-0.98 from
    # step 30 on (healthy 0.05-0.2); block 0's grad norm exactly 0 from step 60; loss 9-21 -> 2.30 (seeds 0-2)
    C("dead/mlp-inputs-minus-8", R("mlp", inj.Batch(0, inj.shift_inputs(-8.0))), "dead units", (0, 3), 0,
      DEAD, H6),
    # block 2 of a 5-block MLP of width 96 reset to zero weights and biases at step 60 (a periodic layer
    # reset written with zeros_ instead of the init): dead_fraction of block 2 0.11-0.16 at step 59, 1.0 from
    # step 60 to the end (ReLU(0) = 0 with a zero slope), blocks 3-4 0.36-0.52 at 60 and 0.57-0.7 at 149
    # (constant inputs), blocks 0-1 <= 0.19; grad norms of blocks 0-2 exactly 0 from step 60; loss
    # 0.37-0.70 at step 59, 2.30-2.31 from 60 on (seeds 0-2)
    C("dead/mlp5-block2-reset-to-zero-at-60",
      R("mlp", edit(60, "blocks.2.linear", inj.zero_all), depth=5, width=96), "dead units", (2, 2), 60, DEAD,
      H7),
    # dropout on block 1's output with p = 1.0 (TensorFlow 1's keep_prob = 1.0 given to torch's p, the
    # probability of dropping): dead_fraction 1.0 in blocks 1-3 from step 0 to the end (block 0 0.03-0.17),
    # every grad norm exactly 0; loss flat at 2.30 (seeds 0-2). No model-side remedy changes the dropout's
    # probability
    C("dead/mlp-keep-prob-as-dropout-block1", R("mlp", inj.KeepProbAsDropout(1)), "dead units", (1, 3), 0, (),
      H8),
    # block 1 of the MLP in a parameter group at 1000x the rate (a per-layer multiplier of 1e-3, meant to slow
    # a layer, written as 1e3), SGD: a first step of lr 50 on it: dead_fraction of block 1 0.02-0.11 at step
    # 0, 0.38-0.70 at 1-2, 0.94-0.98 at 5 and 0.97-1.0 from step 20 to the end (blocks 2-3 0.31-0.94, block 0
    # 0.33-0.61); grad norms of blocks 0-1 exactly 0 at steps 20 and 50 (2e-3-0.06 at the end); loss 2.2-2.5
    # -> 9-30 at step 1, 20-138 at 2, 2.30 from step 5-20 on (seeds 0-2) (a 100x multiplier, tried first, left
    # 0.44-0.55 of block 1 dead (seed 0): not added; a sign-flipped rate on block 1 and a gradient-reversal
    # layer after block 0 left <= 0.34 (seed 0): not added)
    C("dead/mlp-block1-lr-multiplier-inverted", R("mlp", inj.GroupLR("blocks.1.", 1000.0)), "dead units",
      (1, 1), 0, DEAD, H9),
    # every ReLU of the CNN a thresholded ReLU with theta = 6 (Keras' ThresholdedReLU, ReLU6's cap given as
    # its threshold: a unit passes only above 6, after batch norm): dead_fraction 1.0 in all 3 blocks from
    # step 0 to the end, every grad norm exactly 0; loss flat at 2.29-2.32 (seeds 0-2)
    C("dead/cnn-thresholded-relu-6", R("cnn", inj.ThresholdedActivations(6.0)), "dead units", (0, 2), 0, DEAD,
      H10),
    # an activity (L1) sparsity penalty on every block's ReLU output at weight 10 (a per-unit coefficient of
    # order 1e-4 given as 10) beside the CNN's task: loss 14.5-14.6 at step 0; dead_fraction 0 in all 3 blocks
    # to step 30, 0.12-0.88 in block 0 at steps 40-50, 1.0 in all 3 blocks from step 90 (seeds 0, 2) and 50
    # (seed 1) to the end; grad norms 2.0-3.3 at step 0, exactly 0 in every block from step 90 on (seed 0's
    # block 0: 1.4e-3 at 90, 0 at the end); loss 2.29-2.32 from step 60-80 on (seeds 0-2) (weight 1, tried
    # first, left dead_fraction at 0 on the CNN and <= 0.17 on the MLP (seed 0): not added)
    C("dead/cnn-activity-l1-weight-10", R("cnn", inj.ActivityL1(10.0)), "dead units", (0, 2), 0, DEAD, H11),
    # non-finite values
    C("nonfinite/mlp-nan-batch", R("mlp", inj.Batch(70, inj.nan_inputs, 71)), "non-finite values",
      (0, 0), 70, BAD_BATCH),
    C("nonfinite/cnn-inf-batch", R("cnn", inj.Batch(60, inj.inf_inputs, 61)), "non-finite values",
      (0, 0), 60, BAD_BATCH),
    C("nonfinite/gpt-nan-weight", R("gpt", edit(40, "blocks.1.mlp.fc", inj.poke("weight", NAN))),
      "non-finite values", (1, 1), 40, CORRUPT, H),
    C("nonfinite/vit-inf-weight", R("vit", edit(40, "blocks.2.attn.proj", inj.poke("weight", INF))),
      "non-finite values", (2, 2), 40, CORRUPT),
    # Adam with eps = 0 on the MLP: the input pixels that are always blank (and units dead on the
    # batch) get exactly zero gradients, 0/0: update_ratio NaN in blocks 0-3 at step 0 (grad norms
    # finite, 0.6-1.0), loss NaN at step 1 and the run stops (seeds 0-2)
    C("nonfinite/mlp-adam-eps-0", R("mlp", inj.OptimizerSetting("eps", 0.0), opt="adam", lr=1e-3),
      "non-finite values", (0, 3), 0, CORRUPT, H3),
    # every batch standardised per pixel as (x - mean) / std without an epsilon (a CNN): the always
    # blank corner pixels give 0/0, so the inputs hold NaN; loss and every grad norm NaN at step 0 and
    # the run stops (seeds 0-2). Every batch is hit: skipping non-finite steps would skip them all
    C("nonfinite/cnn-standardise-no-eps", R("cnn", inj.Batch(0, inj.standardised_without_eps)),
      "non-finite values", (0, 0), 0, CORRUPT, H4),
    # the GPT's loss written by hand as KL(one-hot || softmax) = sum p (log p - log q): 0 x log 0 = NaN in the
    # loss on every batch, while every gradient stays finite (no gradient flows through p): loss NaN at step 0
    # and the run stops, grad norms 0.24-0.48, act_rms 0.03-0.04 (seeds 0-2). A model-level fault (no layer's
    # rows are non-finite); every batch is hit
    C("nonfinite/gpt-hand-written-kl-one-hot", R("gpt", inj.HandWrittenKL()), "non-finite values", None, 0,
      CORRUPT, H5),
    # one batch of padding alone at step 60 (every target the ignore index -100): the cross-entropy's mean
    # over no targets is 0 / 0: loss NaN at step 60 and the run stops, every grad norm exactly 0 (loss 3.0-3.1
    # at step 59) (seeds 0-2). A model-level fault (no layer's rows are non-finite); skipping that step avoids
    # it
    C("nonfinite/gpt-padding-only-batch", R("gpt", inj.Batch(60, inj.padding_only, 61)), "non-finite values",
      None, 60, BAD_BATCH, H6),
    # the ViT's logits divided by a learned temperature initialised at 0 (a log-temperature's initial value
    # given to the temperature itself): loss NaN at step 0 and the run stops, every block's grad norm NaN
    # (flowing back from the head), act_rms finite (0.030-0.037) in blocks 0-2 (seeds 0-2). A model-level
    # fault (it sits after the blocks); every batch is hit
    C("nonfinite/vit-temperature-init-0", R("vit", inj.LearnedTemperature(0.0)), "non-finite values", None, 0,
      CORRUPT, H7),
    # every image divided by its own maximum without an epsilon (a per-sample max scaling), and at step 50 one
    # blank image in the ViT's batch: loss 2.02-2.16 at step 49, NaN at 50 and the run stops; every block's
    # grad norm and act_rms NaN at step 50 (0.065-0.23 and 0.29-0.59 at 49) (seeds 0-2). Skipping that step
    # avoids it
    C("nonfinite/vit-max-scaling-blank-image-at-50", R("vit", inj.Batch(0, inj.max_scaled(50))),
      "non-finite values", (0, 0), 50, BAD_BATCH, H8),
    # the GPT's causal mask built with triu(diagonal=0) (each token's own position masked too): the first
    # token has no key left and its softmax is 0 / 0: loss NaN at step 0 and the run stops, act_rms and grad
    # norms NaN in blocks 0-2 at step 0 (the first non-finite values come out of block 0's attention) (seeds
    # 0-2). Every batch is hit
    C("nonfinite/gpt-causal-mask-with-diagonal", R("gpt", inj.DiagonalMasked()), "non-finite values",
      (0, 0), 0, CORRUPT, H9),
    # a group-lasso penalty on the GPT's biases (1e-4 x sqrt(sum b^2) per Linear, written with torch.sqrt)
    # beside the task, the biases zero-initialised: the square root's gradient at 0 is 1 / 0, times 2b = 0:
    # the loss finite at step 0 (3.47-3.49) with every block's grad norm and update_ratio NaN (act_rms finite,
    # 0.031-0.040), the loss NaN at step 1 and the run stops (seeds 0-2). Skipping non-finite losses does not
    # catch it: the loss at step 0 is finite
    C("nonfinite/gpt-bias-group-lasso-sqrt", R("gpt", inj.BiasGroupLasso(1e-4)), "non-finite values", (0, 2),
      0, CORRUPT, H10),
    # the CNN's logits divided by a temperature annealed linearly from 1 to 0 at step 60 (an annealing length
    # given in steps where epochs were meant, without a floor): loss 0.13-0.29 at steps 50-55, 1.1-6.3 at 58,
    # 10-28 at 59 (logits x60), NaN at 60 and the run stops; grad norms 0.6-3.1 at steps 50-55, 4.6-19 at 58,
    # 18-66 at 59 and NaN at 60 in every block, while every block's act_rms stays finite (0.70-1.22) at step
    # 60 (seeds 0-2). A model-level fault (it sits after the blocks); every later batch would be hit
    C("nonfinite/cnn-temperature-annealed-to-0-at-60", R("cnn", inj.TemperatureAnnealedToZero(60)),
      "non-finite values", None, 60, CORRUPT, H11),
    # loss spike
    C("spike/mlp-lr-burst", R("mlp", inj.LR(80, 20.0, 85)), "loss spike", None, 81, SPIKE),
    C("spike/cnn-one-label-shard", R("cnn", inj.Batch(70, inj.one_label(3), 76)), "loss spike", None, 70,
      BAD_SHARD, H),
    C("spike/gpt-lr-burst", R("gpt", inj.LR(60, 30.0, 65)), "loss spike", None, 61, SPIKE),
    C("spike/vit-one-label-shard", R("vit", inj.Batch(60, inj.one_label(3), 66)), "loss spike", None, 60,
      BAD_SHARD),
    # three batches (steps 70-72) with inputs x10 (a shard that skipped normalisation): loss
    # 0.3-0.65 before, 0.85-0.92 at step 70, 8-51 at 71, 82-588 at 72, back to 2.2-2.5 by 75-76
    # and falling again (1.1-1.9 at the end) (seeds 0-2)
    C("spike/mlp-unnormalised-shard", R("mlp", inj.Batch(70, inj.scale_inputs(10.0), 73)), "loss spike",
      None, 70, BAD_SHARD, H3),
    # steps 70-75 draw real samples of one class per batch (an unshuffled, label-sorted stretch of
    # data; inputs and labels match) on a wide CNN (16, 32): loss 0.8-1.1 before, 1.6-1.9 at step 70,
    # 2.5-3.05 at 71-75, 1.2-1.4 at 77 and 0.7-0.9 by 85-89 (seeds 0-2)
    C("spike/cnn-wide-class-sorted-stretch",
      R("cnn", inj.Batch(70, inj.class_sorted(False), 76), channels=(16, 32)),
      "loss spike", None, 70, BAD_SHARD, H4),
    # steps 100-105 draw images stored transposed (rows and columns swapped: a shard in another layout) on a
    # wide, shallow MLP (3 x 128): loss 0.32-0.35 at step 99, 2.35-3.76 at 100, 1.5-1.8 at 105, 0.3-0.5 again
    # by 107-108 (seeds 0-2)
    C("spike/mlp3-wide-transposed-shard",
      R("mlp", inj.Batch(100, inj.transposed_images, 106), width=128, depth=3),
      "loss spike", None, 100, BAD_SHARD, H5),
    # steps 60-65 draw a shard encoded with another vocabulary (every token id + 1 mod 32, inputs and targets
    # alike) on the GPT: loss 3.0-3.1 at step 59, 3.73-3.79 at 60 (above the untrained 3.47), 3.5-3.7 to step
    # 65, 3.2-3.3 at 66-70 and 3.1-3.2 by 74 (seeds 0-2)
    C("spike/gpt-shard-other-vocabulary", R("gpt", inj.Batch(60, inj.shifted_vocabulary(1, 32), 66)),
      "loss spike", None, 60, BAD_SHARD, H6),
    # Adam's second moments zeroed before step 60 with its first moments and step counts kept (a resumed
    # run whose checkpoint held part of the optimizer state) on the GPT: update_ratio 0.01 at step 59, 1.6-8.2
    # at 60, 0.01-0.44 at 61; loss 3.0-3.1 at steps 59-60, 8.9-19.8 at 61, 4.6-7.8 at 63, 3.7-3.9 at 70,
    # 3.41-3.44 at 99 (seeds 0-2). An optimizer fault, not the data
    C("spike/gpt-second-moment-forgotten-at-60", R("gpt", inj.ForgetSecondMoment(60)), "loss spike", None, 61,
      SPIKE, H7),
    # steps 90-95 draw a shard whose labels follow another class order (9 - y, inputs intact) on a 5-block MLP
    # of width 96: loss 0.22-0.57 at step 89, 5.0-7.2 at 90, 1.8-2.1 at 95, 0.54-0.66 at 100 and 0.19-0.21 at
    # the end; grad norms 0.45-1.7 at 89, 3.2-4.9 at 90 (seeds 0-2)
    C("spike/mlp5-class-order-reversed-shard",
      R("mlp", inj.Batch(90, inj.class_order_reversed, 96), depth=5, width=96),
      "loss spike", None, 90, BAD_SHARD, H8),
    # steps 60-65 draw images stored with inverted polarity (1 - x: a shard from another export) on the ViT:
    # loss 1.73-2.03 at step 59, 2.56-3.08 at 60, 2.34-2.65 at 63-65, 2.26-2.36 at 68-70, 1.9-2.13 at 80 and
    # 1.7-1.9 at the end; grad norms 0.32-0.40 in block 0 at 59, 0.52-1.24 at 60 (seeds 0-2)
    C("spike/vit-inverted-polarity-shard", R("vit", inj.Batch(60, inj.inverted_polarity, 66)), "loss spike",
      None, 60, BAD_SHARD, H9),
    # a resume at step 60 that leaves the MLP's head at a fresh init (its weights missing from the checkpoint,
    # loaded with strict=False): loss 0.56-0.61 over steps 55-59, 2.58-2.73 at 60, 2.2-2.25 at 62, 1.47-1.54
    # at 70, 1.04-1.08 at 80, 0.54-0.68 at 100 and 0.23-0.39 at the end (seeds 0-2) (the same on the CNN,
    # tried first: 1.30 -> 2.28 at step 60 (seed 0), a smaller jump: not added). No remedy restores a skipped
    # layer
    C("spike/mlp-head-reinitialised-at-60", R("mlp", edit(60, "head", inj.reinitialised)), "loss spike", None,
      60, (), H10),
    # an exponential moving average of the CNN's weights (decay 0.999, still ~91% its init after 90 steps)
    # copied into the model at step 90 (an evaluation swap left in the training loop): loss 0.82-1.10 at step
    # 88, 2.25-2.35 at 90, 2.04-2.22 at 95, 1.87-1.96 at 110 and 1.70-1.73 at the end (seeds 0-2); grad norms
    # 0.2-0.9 before and after (the same swap at step 60, tried first: 1.30 -> 2.34 (seed 0), a smaller jump:
    # not added). No remedy undoes the swap
    C("spike/cnn-ema-swapped-in-at-90", R("cnn", inj.EMASwappedIn(90)), "loss spike", None, 90, (), H11),
    # massive activations (one channel of one position, carried by the residual stream)
    C("massive/gpt-position0", R("gpt", edit(30, "pos_emb", inj.poke("weight", 1e3, 5))),
      "massive activations", (0, 2), 30, MASSIVE),
    C("massive/gpt4-position0", R("gpt", edit(30, "pos_emb", inj.poke("weight", 1e3, 9)), n_layer=4),
      "massive activations", (0, 3), 30, MASSIVE),
    C("massive/vit-cls", R("vit", edit(30, "", inj.poke("pos_emb", 1e3, 5))),
      "massive activations", (0, 2), 30, MASSIVE, H),
    # one channel of block 1's MLP output bias set to 3e3 (every token): act_max_median of blocks 1-2
    # ~5 before step 40, 1e4-2.7e4 at step 42, 3e3-1.1e4 to the end; block 0 stays < 10 (seeds 0-2)
    C("massive/vit-mlp-bias-channel", R("vit", edit(40, "blocks.1.mlp.proj", inj.poke("bias", 3e3, 5))),
      "massive activations", (1, 2), 40, MASSIVE, H2),
    # one channel of one token's embedding (token 3, channel 5) set to 1e3 at step 30: act_max_median
    # of blocks 0-2 3-7 before, 4.7e3-1.1e4 at step 30, still 2e2-7e3 at step 99; the loss rises
    # to 150-700 (seeds 0-2)
    C("massive/gpt-token-embedding", R("gpt", edit(30, "tok_emb", inj.poke("weight", 1e3, 3 * 32 + 5))),
      "massive activations", (0, 2), 30, MASSIVE, H3),
    # one outlier weight (1e3, a mis-scaled entry) in block 0's attention output projection of a 4-block
    # ViT at step 20 (into residual channel 5): act_max_median of blocks 0-3 3-17 before, 6e2-3.3e3 at
    # step 25, 4e3-2.2e4 at the end; loss stuck at 2.3 (seeds 0-2)
    C("massive/vit4-outlier-weight-block0",
      R("vit", edit(20, "blocks.0.attn.proj", inj.poke("weight", 1e3, 5 * 32 + 7)), n_layer=4),
      "massive activations", (0, 3), 20, MASSIVE, H4),
    # from step 40 one pixel of every training image holds a missing-value sentinel (-999) on the ViT:
    # act_max_median of blocks 0-2 3.4-8 at steps 30-39, 190-900 at step 40, 47-146 at step 99; the loss still
    # falls (2.2 -> 1.3-1.7) (seeds 0-2)
    C("massive/vit-missing-value-sentinel", R("vit", inj.Batch(40, inj.hot_pixel(-999.0))),
      "massive activations", (0, 2), 40, MASSIVE, H5),
    # one output channel (5) of the ViT's patch embedding x1e3 at step 40 (one channel restored in another
    # scale): act_max_median of blocks 0-2 3.4-8 at steps 30-39, 3.6e2-1.8e3 at 40, 1.4e2-5.3e2 at 99; act_rms
    # 0.1-0.5 -> 2.8-6.7; the loss still falls (2.3 -> 1.6-1.9) (seeds 0-2)
    C("massive/vit-patch-channel-x1e3-at-40",
      R("vit", edit(40, "patch_emb", inj.scale_row("weight", 5, 1e3))), "massive activations", (0, 2), 40,
      MASSIVE, H6),
    # one channel (5) of block 1's attention output bias set to 1e3 at step 30 in a 4-block GPT (a bias
    # restored in another scale): act_max_median of blocks 1-3 4-7 at step 29, 7.6e3-1e4 at 30, 5.1e3-6.9e3 at
    # 99; block 0 stays 4-8; loss 3.2 at step 29, 3.5 at 30, 3.44 at 99 (seeds 0-2)
    C("massive/gpt4-attn-proj-bias-channel-block1",
      R("gpt", edit(30, "blocks.1.attn.proj", inj.poke("bias", 1e3, 5)), n_layer=4),
      "massive activations", (1, 3), 30, MASSIVE, H7),
    # the raw position index (0-15) added to channel 5 of the GPT's embedded tokens (a position feature
    # written in unscaled): act_max_median of blocks 0-2 420-790 at step 0, 25-230 at 30, 54-230 at 99 (the
    # healthy GPT's 3-8); the loss falls less, 3.47 -> 3.34-3.41 (seeds 0-2)
    C("massive/gpt-raw-position-index-channel", R("gpt", inj.PositionIndexChannel(5)), "massive activations",
      (0, 2), 0, MASSIVE, H8),
    # block 1's MLP output times a per-channel gain (a LayerScale vector) with one entry (channel 5) at 1e3
    # and the others 1 (one entry loaded in another scale): act_max_median of blocks 1-2 7.7e2-1.2e3 at step
    # 0, 7.4e2-1.4e4 from step 10 to the end (block 0 1.7-29); loss 3.47 -> 3.44 (seeds 0-2)
    C("massive/gpt-layerscale-entry-1e3-block1",
      R("gpt", edit(0, "blocks.1.mlp.proj", inj.channel_gain(5, 1e3))),
      "massive activations", (1, 2), 0, MASSIVE, H9),
    # a Post-LN GPT whose block-0 MLP norm (ln2, which sits on the residual stream in Post-LN) has one bias
    # entry (channel 5) at 1e3 (loaded in another scale): act_max_median of block 0 5.8e2-2.1e3 from step 0 to
    # the end; blocks 1-2, after their own norms, medians 24-54 (at least 4.6, up to 8.3e2-1.8e3) (the same
    # GPT without it: at most 5.4-8.6, medians 3.6-5.5); loss 3.47 -> 3.44 (seeds 0-2)
    C("massive/gpt-post-ln-norm-bias-entry-1e3",
      R("gpt", edit(0, "blocks.0.ln2", inj.poke("bias", 1e3, 5)), placement="post"),
      "massive activations", (0, 2), 0, MASSIVE, H10),
    # from step 40 the first image of every ViT batch left in 0-255 units (x255: one sample whose scaling was
    # skipped): act_max_median of blocks 0-2 3.4-8.2 at step 39, 115-643 at 40, 67-154 at 60 and 82-119 at 99
    # (seeds 0-2); the loss still falls, 2.19-2.24 at step 40 -> 1.14-1.66 at 99
    C("massive/vit-one-unnormalised-image-from-40",
      R("vit", inj.Batch(40, inj.one_unnormalised_image(255.0))), "massive activations", (0, 2), 40, MASSIVE,
      H11),
    # update too large / too small (optimizer configuration)
    C("update-large/mlp-adam-lr-0.05", R("mlp", opt="adam", lr=0.05), "update too large", (0, 3), 0, LARGE),
    C("update-large/cnn-adam-lr-0.2", R("cnn", opt="adam", lr=0.2), "update too large", (0, 2), 0, LARGE, H),
    C("update-large/cnn-sgd-lr-jump-60x", R("cnn", inj.LR(50, 60.0)), "update too large", (0, 2), 51, LARGE,
      H),
    # Adam with beta2 = 0 (no second-moment averaging: m / |g_t|): update_ratio 0.027 at step 0,
    # 1.9-42 by steps 1-4 (healthy ViT <= 0.03); runs end NaN by step 7-31 (seeds 0-2)
    C("update-large/vit-adam-beta2-0", R("vit", inj.OptimizerSetting("betas", (0.9, 0.0))),
      "update too large", (0, 2), 0, LARGE, H2, also=("non-finite values",)),
    # Adam with decoupled weight decay 100 (AdamW's decay mis-set, lr 3e-3: w x 0.7 every step):
    # update_ratio 0.30 at steps 0-2, 0.09 at steps 30-80 (healthy GPT 0.04 -> 0.01); the loss
    # stays at 3.47 (seeds 0-2)
    C("update-large/gpt-adamw-decay-100",
      R("gpt", inj.OptimizerSetting("decoupled_weight_decay", True),
        inj.OptimizerSetting("weight_decay", 100.0)),
      "update too large", (0, 2), 0, LARGE, H3),
    # SGD momentum 0.99 (Adam's beta2 typed as momentum; lr 0.05 acts as 5) on a 6-block MLP:
    # update_ratio 2e-3-6e-3 at step 0, 0.02-0.07 at steps 29-75 (up to 1.0 at step 112, seed 2),
    # 0.009-0.02 at step 149 (healthy MLP 2e-3-6e-3); the loss climbs back to 2.5 (seeds 0, 2), NaN at
    # step 57 (seed 1)
    C("update-large/mlp6-sgd-momentum-0.99", R("mlp", inj.OptimizerSetting("momentum", 0.99), depth=6),
      "update too large", (0, 5), 0, LARGE, H4, also=("non-finite values",)),
    # every parameter's gradient rescaled to norm 5 (a per-tensor clip written as g x 5 / |g|, without the
    # min(1, .)) on the SGD CNN: update_ratio 0.09-0.14 at step 0, 0.03-0.08 at the end (healthy CNN
    # 3e-3-1.2e-2); grad norms a constant 8.66 per block; the training loss still falls, 2.3 -> 0.03-0.09
    # (seeds 0-2)
    C("update-large/cnn-grads-rescaled-to-5", R("cnn", inj.NormalisedGradients(5.0)), "update too large",
      (0, 2), 0, LARGE, H5),
    # a sign update (Lion-style) at a learning rate meant for SGD (0.01) on the ViT: update_ratio 0.14 at step
    # 0, 0.13 at 5, 0.075-0.1 at the end (healthy ViT 7e-3-3e-2); grad norms a constant 110 per block (every
    # entry +-1); the loss still falls, 2.3 -> 1.3-1.4 (seeds 0-2)
    C("update-large/vit-sgd-sign-gradients", R("vit", inj.SignGradients(), opt="sgd", lr=0.01),
      "update too large", (0, 2), 0, LARGE, H6),
    # every gradient rescaled to its layer's trust ratio with LARS's coefficient at 1 (You et al. 2017 use
    # ~1e-3) on a 5-block MLP of width 128 under SGD lr 0.05: update_ratio 0.05 in every block on every step
    # (the same MLP without it: 1.2e-3-4.1e-3); the loss still falls but noisily, 2.4-2.5 -> 0.17-0.77 (the
    # same MLP: 0.13-0.16) (seeds 0-2)
    C("update-large/mlp5-wide-lars-trust-1", R("mlp", inj.TrustRatio(1.0), depth=5, width=128),
      "update too large", (0, 4), 0, LARGE, H7),
    # the SGD optimizer of a 4-block CNN (8, 16, 32, 32) replaced by RMSprop at the same rate (0.05, a rate
    # tuned for SGD given to an adaptive method): update_ratio 1.4-7.2 at step 0, 0.3-0.6 at 1, 0.03-0.1 at
    # steps 5-30, 0.012-0.047 at the end (healthy CNN 3e-3-1.2e-2); the loss 2.3 -> 5.4-7.7 at step 1, then
    # falls to 0.04-0.32 (seeds 0-2)
    C("update-large/cnn4-rmsprop-at-sgd-lr", R("cnn", inj.RMSprop(), channels=(8, 16, 32, 32)),
      "update too large", (0, 3), 0, LARGE, H8),
    # the GPT's Adam replaced by a hand-written one that forgets the second moment's bias correction (1 -
    # beta2^t; the first's kept): update_ratio 1.27 in every block at step 0, 0.39-0.41 at 1, 0.21-0.22 at 2,
    # 0.07 at 5, 0.025-0.027 at 10 (healthy GPT 0.04 at step 0, 0.01 after), then 3e-3-9e-3; the loss rises
    # 3.47 -> 3.69-4.08 at step 2 and ends at 3.34-3.39 (healthy 2.91-2.98) (seeds 0-2). A too-large update
    # in the first ~5 steps that leaves the run behind
    C("update-large/gpt-adam-second-correction-forgotten", R("gpt", inj.AdamWithoutSecondCorrection()),
      "update too large", (0, 2), 0, LARGE, H9),
    # the CNN's cross-entropy summed over the batch (reduction="sum", x64) under SGD at the rate tuned for its
    # mean: update_ratio 0.22-0.43 at step 0, 0.21-0.47 at 5, 0.08-0.18 at 30, 0.028-0.072 at the end (the
    # healthy CNN 2.8e-3-1.2e-2); grad norms 1.3-105; nothing non-finite; the mean loss (the logged sum / 64)
    # still falls, 2.24-2.36 -> 0.03-0.11 (seeds 0-2) (a no-decay parameter group given lr 0.1 on the GPT,
    # tried first, had update_ratio 0.24 at step 0 back near the healthy size by step 20, and block 0's logits
    # grew to 165 (seed 0): not added)
    C("update-large/cnn-loss-summed-over-batch", R("cnn", inj.SummedLoss()), "update too large", (0, 2), 0,
      LARGE, H10),
    # an inverse-square-root schedule (lr x (step + 1)^-1/2) with the exponent's sign lost on the SGD CNN (the
    # rate times sqrt(step + 1): 0.05 -> 0.55): update_ratio 3.5e-3-6.8e-3 at step 0 (as healthy), 0.012-0.036
    # at 10, 0.024-0.077 over steps 20-90 and 0.008-0.042 at the end (the healthy CNN 2.8e-3-1.2e-2); grad
    # norms 0.1-1.2, nothing non-finite; the loss still falls, 2.24-2.36 -> 0.03-0.08 (seeds 0-2) (Adam's
    # betas swapped on the GPT, tried first, gave update_ratio 4e-3 from step 90 (seed 0); conv weights x0.01
    # under batch norm, 0.16-0.37 at step 0 and healthy from step 1 (seed 0); not added)
    C("update-large/cnn-inverse-sqrt-schedule-sign-lost", R("cnn", inj.InverseSqrtSignLost()),
      "update too large", (0, 2), 0, LARGE, H11),
    C("update-small/mlp-sgd-lr-1e-5", R("mlp", lr=1e-5), "update too small", (0, 3), 0, SMALL,
      also=("no progress",)),
    C("update-small/gpt-adam-lr-1e-6", R("gpt", lr=1e-6), "update too small", (0, 2), 0, SMALL, H,
      also=("no progress",)),
    C("update-small/vit-adam-lr-1e-6", R("vit", lr=1e-6), "update too small", (0, 2), 0, SMALL,
      also=("no progress",)),
    # conv weights x300 under batch norm (scale-invariant: the step shrinks as 1/|w|^2):
    # update_ratio 2e-6-6e-6 in every block all run (healthy CNN 3e-3-1e-2), loss 2.3 -> 2.2 (seeds 0-2)
    C("update-small/cnn-conv-weights-x300", R("cnn", inj.ScaleWeights(nn.Conv2d, 300.0)), "update too small",
      (0, 2), 0, SMALL, H2, also=("no progress",)),
    # Adam with eps = 10 on the CNN (eps swamps sqrt(v) ~ |g|, so the step is ~lr*g/eps):
    # update_ratio 5e-6-1.3e-5 in every block all run (healthy CNN 3e-3-1e-2), loss ~2.3 (seeds 0-2)
    C("update-small/cnn-adam-eps-10", R("cnn", inj.OptimizerSetting("eps", 10.0), opt="adam", lr=1e-3),
      "update too small", (0, 2), 0, SMALL, H3, also=("no progress",)),
    # a linear warmup over 100000 steps in a 100-step run (a length given in samples, not steps) on a
    # 2-block ViT: update_ratio 2.7e-7 at step 0 and 0.8e-5-1.1e-5 at the end (healthy ViT 7e-3-3e-2);
    # loss flat at 2.30-2.32 (seeds 0-2)
    C("update-small/vit2-endless-warmup", R("vit", inj.Warmup(100_000), n_layer=2), "update too small",
      (0, 1), 0, SMALL, H4, also=("no progress",)),
    # an exponential decay (gamma 0.9, meant per epoch) stepped every batch on the GPT: update_ratio 0.041 at
    # step 0 (as healthy), 1e-3 at step 30 (healthy 0.01), 2.2e-5-2.5e-5 at 60, 3.8e-7-4.5e-7 at 99; the loss
    # stuck at 3.30-3.33 from step 40 (healthy GPT ends at 2.91-2.98) (seeds 0-2)
    C("update-small/gpt-per-batch-exponential-decay", R("gpt", inj.ExponentialLR(0.9)), "update too small",
      (0, 2), 0, SMALL, H5, also=("no progress",)),
    # the loss divided by the data set's size (1797) instead of averaged over the batch alone, under SGD on a
    # 6-block MLP of width 96: update_ratio 1e-6-3.4e-6 in every block all run (healthy MLP 2e-3-6e-3), grad
    # norms 3e-4-8e-4; the logged loss 1.4e-3 throughout (2.5 x 1/1797: flat) (seeds 0-2)
    C("update-small/mlp6-loss-over-dataset-size", R("mlp", inj.ScaleLoss(1 / 1797), depth=6, width=96),
      "update too small", (0, 5), 0, SMALL, H6, also=("no progress",)),
    # the global gradient norm clipped to 1e-4 before every SGD step (a threshold given in another unit) on a
    # wider CNN (16, 32, 32): update_ratio 1.5e-7-5.5e-7 in every block all run (the same CNN without it:
    # 2.2e-3-7.4e-3), the grad-norm rows (after the clip) 1.8e-5-7.1e-5; loss 2.31-2.32 -> 2.28-2.33 (the same
    # CNN: 0.29-0.33) (seeds 0-2)
    C("update-small/cnn-wide-clip-norm-1e-4", R("cnn", inj.ClipGradNorm(1e-4), channels=(16, 32, 32)),
      "update too small", (0, 2), 0, SMALL, H7, also=("no progress",)),
    # the learning rate squared (a schedule lambda returning the rate, not a factor: 2e-3 -> 4e-6) on a ViT of
    # width 48: update_ratio 6.5e-5 at step 0, 2e-5-3e-5 from step 50 on (healthy ViT 7e-3-3e-2); loss flat at
    # 2.30-2.36 (seeds 0-2)
    C("update-small/vit48-lr-squared", R("vit", inj.SquaredLR(), d_model=48), "update too small", (0, 2), 0,
      SMALL, H8, also=("no progress",)),
    # the MLP's SGD replaced by Adagrad at its rate (0.05) with initial_accumulator_value 1e4: update_ratio
    # 2.6e-5-5.9e-5 in every block all run (healthy MLP 2e-3-6e-3); loss 2.2-2.5 at step 0, 2.15-2.33 at the
    # end (seeds 0-2)
    C("update-small/mlp-adagrad-accumulator-1e4", R("mlp", inj.Adagrad(1e4)), "update too small", (0, 3), 0,
      SMALL, H9, also=("no progress",)),
    # SGD with momentum 0.9 and dampening 0.999 on the MLP (a momentum value given to dampening: each gradient
    # enters the buffer x1e-3): update_ratio 2.7e-3-4.5e-3 at step 0 (PyTorch seeds the buffer with the raw
    # gradient), 9e-4-1.6e-3 at 10, 1.1e-4-1.9e-4 at 30 and 1.4e-5-7.2e-5 from step 40 to the end (the healthy
    # MLP 1e-3-2e-2); loss 2.22-2.47 at step 0, 1.96-2.38 at the end (healthy 0.14-0.26) (seeds 0-2)
    C("update-small/mlp-sgd-dampening-0.999",
      R("mlp", inj.OptimizerSetting("momentum", 0.9), inj.OptimizerSetting("dampening", 0.999)),
      "update too small", (0, 3), 0, SMALL, H10, also=("no progress",)),
    # a ReduceLROnPlateau scheduler built with mode="max" on the training loss (the mode meant for an
    # accuracy) and stepped every batch on the ViT (patience 10, factor 0.1): a falling loss is never an
    # improvement: update_ratio 0.027 at step 0 (as healthy), 5.7e-4-7.6e-3 at 20, 4.5e-5-1.1e-3 at 30,
    # 7e-7-1.3e-5 at 50 and 4e-9-1.4e-8 at steps 90-99 (healthy ViT 7e-3-3e-2); loss 2.30-2.33 at step 0,
    # 2.31-2.33 at the end (seeds 0-2)
    C("update-small/vit-plateau-scheduler-mode-max", R("vit", inj.PlateauOnLossMax()), "update too small",
      (0, 2), 0, SMALL, H11, also=("no progress",)),
    # no progress (data/label faults; a learning rate of 0)
    C("stall/mlp-shuffled-labels", R("mlp", inj.Batch(0, inj.shuffled_labels(10))), "no progress", None, 0,
      NO_SIGNAL),
    C("stall/cnn-shuffled-labels", R("cnn", inj.Batch(0, inj.shuffled_labels(10))), "no progress", None, 0,
      NO_SIGNAL, H),
    C("stall/gpt-shuffled-targets", R("gpt", inj.Batch(0, inj.shuffled_labels(32))), "no progress", None, 0,
      NO_SIGNAL),
    C("stall/mlp-lr-0", R("mlp", lr=0.0), "no progress", None, 0, STALL, also=("update too small",)),
    # blank images (every input 0): loss 2.29-2.33 at step 0 and at the end, while Adam's update_ratio
    # stays 2e-3-3e-2 (a healthy size: the optimizer moves, nothing is learned) (seeds 0-2)
    C("stall/vit-blank-inputs", R("vit", inj.Batch(0, inj.blank_inputs)), "no progress", None, 0, NO_SIGNAL,
      H3),
    # the optimizer stepping a copy of the CNN's parameters (the model rebuilt after its optimizer):
    # update_ratio exactly 0 in every block all run (seeds 0-2), grad norms accumulating (never zeroed:
    # the optimizer zeroes the copy's) 0.25-0.62 -> 21-68 (seed 0); loss 2.28-2.32 at the end
    # (seeds 0-2). No model-side remedy reaches the model's weights
    C("stall/cnn-optimizer-on-stale-copy", R("cnn", inj.StaleOptimizer()), "no progress", None, 0, (), H4,
      also=("update too small",)),
    # zero_grad() called between backward() and optimizer.step() on a 4-block ViT: every step sees zero
    # gradients: update_ratio exactly 0 in every block all run, no grad_norm row (the optimizer's gradients
    # are gone when it steps), act_grad_norm 0.3-0.56; loss 2.29-2.34 throughout (seeds 0-2). No model-side
    # remedy reaches the update
    C("stall/vit4-zero-grad-before-step", R("vit", inj.ZeroGradBeforeStep(), n_layer=4), "no progress", None,
      0, (), H5, also=("update too small",)),
    # gradient accumulation over 1000 batches in a 100-step GPT run (a count given in samples): the optimizer
    # never steps: no update_ratio row, grad norms accumulating 0.3-0.5 -> 8-13 at step 50 -> 15-23 at 99;
    # loss 3.47-3.49 throughout (seeds 0-2). No model-side remedy reaches the update
    C("stall/gpt-accumulation-1000-steps", R("gpt", inj.Accumulate(1000)), "no progress", None, 0, (), H6,
      also=("update too small",)),
    # the CNN's task loss computed on detached outputs (a .detach() from logging code) beside a 1e-4 L2
    # penalty, so only the penalty reaches the weights: update_ratio 1e-5 in every block all run, grad norms a
    # constant 6.4e-4-9.3e-4; loss 2.25-2.37 at step 0, 2.28-2.33 at the end (seeds 0-2). No model-side
    # remedy reattaches the loss
    C("stall/cnn-detached-task-loss", R("cnn", inj.DetachedTask(1e-4)), "no progress", None, 0, (), H7,
      also=("update too small",)),
    # inputs and labels shuffled apart (each batch's labels permuted against its images, as by two loaders
    # with different seeds) on a 2-block ViT: loss 2.30-2.32 at step 0 and 2.29-2.32 at the end, while Adam's
    # update_ratio is 0.027 at step 0 and 1.4e-3-4.5e-3 after (the optimizer moves, nothing is learned) (seeds
    # 0-2)
    C("stall/vit2-labels-shuffled-apart", R("vit", inj.Batch(0, inj.shuffled_apart), n_layer=2),
      "no progress", None, 0, NO_SIGNAL, H8),
    # the CNN's cross-entropy called with label_smoothing=True (1.0: every target uniform): loss 2.34-2.35 at
    # step 0, 2.304-2.311 (ln 10 = 2.303) from step 50 to the end; grad norms 3e-3-8e-2, update_ratio
    # 4.8e-5-8.8e-4 (seeds 0-2). Nothing in the model or optimizer can learn labels the loss no longer reads
    C("stall/cnn-label-smoothing-true", R("cnn", inj.LabelSmoothingTrue()), "no progress", None, 0, NO_SIGNAL,
      H9),
    # the CNN's softmax probabilities passed to F.cross_entropy, which takes logits (a softmax taken twice;
    # the loss can fall no lower than 1.46): loss 2.29-2.30 over the first tenth, 2.23-2.27 over the last (the
    # healthy CNN ends at 0.6-0.8); update_ratio 3e-4-1.7e-3 (healthy 2.8e-3-1.2e-2), grad norms 0.02-0.16
    # (seeds 0-2) (the same on the MLP, tried first, fell 2.29 -> 2.10 (seed 0): not added). No model-side
    # remedy removes the extra softmax
    C("stall/cnn-double-softmax", R("cnn", inj.DoubleSoftmax()), "no progress", None, 0, (), H10,
      also=("update too small",)),
    # a "restore the best weights" callback whose best was taken with mode="max" on the loss (the initial
    # weights), reloading them before every step of the GPT: loss 3.47-3.49 at step 0 and 3.47-3.48 at the
    # end; update_ratio 0.041 at step 0 and 0.019-0.021 from step 20 on (the optimizer moves, the restore
    # undoes it; healthy GPT 0.04 -> 0.01), grad norms 0.2-0.4 (seeds 0-2). No model-side remedy removes the
    # callback
    C("stall/gpt-best-weights-restored-every-step", R("gpt", inj.RestoreInitialEveryStep()), "no progress",
      None, 0, (), H11),
    # saturation
    C("saturation/mlp-tanh-std1", R("mlp", act="tanh", init=1.0), "saturation", (0, 3), 0, SATURATE),
    C("saturation/mlp-sigmoid-std2", R("mlp", inj.Activation("sigmoid"), init=2.0), "saturation", (0, 3), 0,
      SATURATE, H),
    C("saturation/mlp-tanh-lr-jump", R("mlp", inj.LR(60, 20.0), act="tanh", init="xavier"), "saturation",
      (0, 3), 61, SATURATE),
    # tanh CNN without batch norm, conv weights x30: act_max 1.0 and act_rms 0.96-0.98 in blocks 1-2,
    # 0.86-0.89 in block 0 (blank pixels give 0), all run; loss 2.3 -> 2.2 (seeds 0-2)
    C("saturation/cnn-tanh-no-bn-conv-x30", R("cnn", inj.NoBatchNorm(), inj.Activation("tanh"),
                                              inj.ScaleWeights(nn.Conv2d, 30.0)),
      "saturation", (0, 2), 0, SATURATE, H2),
    # every bias of a Xavier tanh MLP initialised to 3 (tanh(3) = 0.995): act_rms 0.97-0.99 and
    # act_max_median 1.0 in blocks 0-3 from step 0 to the end; loss 2.8-3.2 -> 2.3 (seeds 0-2)
    C("saturation/mlp-tanh-bias-init-3",
      R("mlp", *(edit(0, f"blocks.{i}.linear", inj.fill("bias", 3.0)) for i in range(4)), act="tanh",
        init="xavier"),
      "saturation", (0, 3), 0, SATURATE, H3),
    # raw pixel values 0-16 (the inputs x16, never scaled to [0, 1]) into a Xavier tanh 6-block MLP:
    # block 0's act_rms 0.95-0.96 and act_max_median 1.0 from step 0 to the end (blocks 1-5 rms 0.3-0.62,
    # max 1.6-4.9); the loss still falls, 2.3 -> 0.14-0.21 (seeds 0-2)
    C("saturation/mlp6-tanh-raw-pixels",
      R("mlp", inj.Batch(0, inj.scale_inputs(16.0)), act="tanh", init="xavier", depth=6),
      "saturation", (0, 0), 0, SATURATE, H4),
    # SGD's weight decay at -0.5 (the decay term added with its sign flipped: w x 1.025 every step) on a tanh
    # CNN without batch norm: act_rms 0.06-0.27 at step 0, 0.57-0.8 at 60, 0.94-0.97 in blocks 1-2 and
    # 0.8-0.85 in block 0 at the end; act_max 0.9-1.0 from step 40, 1.0 from 60; loss 2.3 -> 1.6-1.9 at step
    # 80-100, back up to 2.0-2.75 at the end (seeds 0-2)
    C("saturation/cnn-tanh-no-bn-negative-weight-decay",
      R("cnn", inj.NoBatchNorm(), inj.Activation("tanh"), inj.OptimizerSetting("weight_decay", -0.5)),
      "saturation", (0, 2), 0, SATURATE, H5),
    # a tanh CNN whose batch-norm gains are initialised to 10 (instead of 1) in all 3 blocks: act_rms
    # 0.96-0.98 and act_max 1.0 in every block from step 0 to the end; the loss still falls, 2.3 -> 1.0-1.3
    # (seeds 0-2)
    C("saturation/cnn-tanh-bn-gain-10",
      R("cnn", inj.Activation("tanh"),
        *(edit(0, f"blocks.{i}.bn", inj.fill("weight", 10.0)) for i in range(3))),
      "saturation", (0, 2), 0, SATURATE, H6),
    # the weights of a 5-block tanh MLP of width 48 drawn by nn.init.uniform_ at its default bounds U(0, 1)
    # (every weight positive): act_rms and act_max 1.0 in blocks 0-4 from step 0 to the end, every grad norm
    # exactly 0 (tanh' = 0 in float32); loss 2.4-3.8 at step 0 -> 2.29-2.31 (the head learns the prior)
    # (seeds 0-2)
    C("saturation/mlp5-tanh-uniform-0-1-init",
      R("mlp", *(edit(0, f"blocks.{i}.linear", inj.default_uniform) for i in range(5)), act="tanh", depth=5,
        width=48),
      "saturation", (0, 4), 0, SATURATE, H7),
    # every weight of a Xavier tanh MLP x10 at step 60 (a checkpoint restored in another scale): act_rms
    # 0.32-0.39 and act_max_median 2.5-4 in blocks 0-3 at step 59, act_rms 0.90-0.97 and act_max_median 1.0
    # from step 60 to the end; the loss still falls slowly, 0.58-1.05 at 60-61 -> 0.48-0.51 (seeds 0-2)
    C("saturation/mlp-tanh-weights-x10-at-60",
      R("mlp", *(edit(60, f"blocks.{i}.linear", inj.scale("weight", 10.0)) for i in range(4)), act="tanh",
        init="xavier"),
      "saturation", (0, 3), 60, SATURATE, H8),
    # the inputs of a Xavier tanh MLP standardised with the training set's statistics as (x - mean) / var (the
    # variance where the std was meant; pixels of small variance blown up): block 0's act_rms 0.93-0.94 and
    # act_max_median 1.0 from step 0 to the end (blocks 1-3 rms 0.38-0.62, max 1.4-3.3); the loss still falls,
    # 2.4-2.5 -> 0.28-0.35 (seeds 0-2)
    C("saturation/mlp-tanh-inputs-over-variance", R("mlp", inj.Batch(0, inj.divided_by_variance), act="tanh",
                                                    init="xavier"),
      "saturation", (0, 0), 0, SATURATE, H9),
    # every block's activation of the CNN tanh(x / tau) with tau = 0.1 (a temperature written where its
    # inverse, 10, was meant), after batch norm: act_rms 0.95-0.98 and act_max 1.0 in all 3 blocks from step 0
    # to the end; the loss still falls, 2.27-2.35 -> 0.97-1.08 (seeds 0-2)
    C("saturation/cnn-tanh-temperature-0.1", R("cnn", inj.SharpTanh(0.1)), "saturation", (0, 2), 0, SATURATE,
      H10),
    # an activation-size penalty (3 x the mean squared activation of every block, meant to keep them small)
    # added with its sign flipped on a Xavier tanh MLP: act_rms 0.26-0.42 at step 0, 0.65-0.93 at 20,
    # 0.98-0.995 in blocks 1-3 from step 50 to the end (block 0 0.83-0.84 at 50, 0.95-0.96 at the end);
    # act_max_median 2.3-4.9 at step 0, 1.0-1.14 from step 50; the summed loss falls below 0, 0.76-1.06 ->
    # -9.3 (seeds 0-2) (weight 1, tried first, reached act_rms 0.73-0.98 only by the end: not added). No
    # model-side remedy removes a loss term
    C("saturation/mlp-tanh-activation-reward", R("mlp", inj.ActivityReward(3.0), act="tanh", init="xavier"),
      "saturation", (0, 3), 0, (), H11),
    # attention-logit growth
    C("logits/gpt-lr-10x", R("gpt", lr=3e-2), "attention-logit growth", (0, 2), 0, LOGITS),
    C("logits/vit-lr-jump-30x", R("vit", inj.LR(50, 30.0)), "attention-logit growth", (0, 2), 51, LOGITS, H),
    C("logits/gpt-qk-scale-block0", R("gpt", edit(30, "blocks.0.attn", inj.qk_scale(10.0))),
      "attention-logit growth", (0, 0), 30, LOGITS),
    C("logits/vit-qk-scale-block1", R("vit", edit(40, "blocks.1.attn", inj.qk_scale(20.0))),
      "attention-logit growth", (1, 1), 40, LOGITS, H),
    # block 2's attention LayerNorm gain x10 at step 40 (queries, keys and values x10): attn_logit_max
    # of block 2 0.04-0.14 at step 30, 7-43 at 40, 62-108 at 90; its entropy 2.83 -> 1.5-2.6 (no
    # collapse) (seeds 0-2)
    C("logits/vit-ln-gain-x10-block2", R("vit", edit(40, "blocks.2.ln1", inj.scale("weight", 10.0))),
      "attention-logit growth", (2, 2), 40, LOGITS, H3),
    # a Pre-LN GPT without its pre-attention LayerNorms (ln1 the identity) at lr 1e-2: attn_logit_max
    # of blocks 1-2 6e-5-9e-5 at step 0, 1.2-4.6 at 20, 63-129 at 90 (the same GPT with its norms at
    # lr 1e-2: 2-6.7); their entropy 1.92 -> 0.25-0.48 by step 90; block 0 (the embeddings' scale)
    # stays < 0.4 (seeds 0-2)
    C("logits/gpt-no-attention-norm-lr-1e-2", R("gpt", inj.NoNorm("ln1"), lr=1e-2),
      "attention-logit growth", (1, 2), 0, LOGITS, H4, also=("attention-entropy collapse",)),
    # attention logits computed as q . k without the 1 / sqrt(d_head) (d_head 32) in a ViT of width 128, in
    # training as in the probe: attn_logit_max 0.9-1.3 at step 0, 38-59 in block 0 at step 30, 88-158 in all 3
    # blocks at step 90 (the same ViT with the scale: 0.2 at step 0, 18-45 at 90); entropy of block 0 2.8 ->
    # 0.09-0.23 (healthy 0.7-1.06) (seeds 0-2)
    C("logits/vit128-missing-attention-scale", R("vit", inj.MissingAttentionScale(), d_model=128),
      "attention-logit growth", (0, 2), 0, LOGITS, H5, also=("attention-entropy collapse",)),
    # AdamW's decoupled weight decay at -10 (the decay's sign flipped: w x 1.03 every step) on the GPT:
    # attn_logit_max 0.05-0.07 at step 0, 1.3-2.5 at 20, 43-69 at 50, 2.8e3-6.9e3 at 90 in all 3 blocks;
    # entropy 1.9 -> 0.3-0.7 at 50 and 0.002-0.03 at 90; the loss rises to 4.3 (seeds 0-2)
    C("logits/gpt-adamw-negative-decay",
      R("gpt", inj.OptimizerSetting("decoupled_weight_decay", True),
        inj.OptimizerSetting("weight_decay", -10.0)),
      "attention-logit growth", (0, 2), 0, LOGITS, H6, also=("attention-entropy collapse",)),
    # a squared-attention-logit penalty (meant to keep the logits small) added with its sign flipped, at
    # weight 1e-2, on the ViT: attn_logit_max 0.05-0.06 at step 0, 0.59-1.4 at 20, 7-37 at 50, 14-370 at 90
    # (all 3 blocks >= 210 in seeds 1-2; seed 0 block 0 14); attn_entropy stays 2.7-2.8 in 8 of 9 block-seeds
    # at step 90 (no collapse); the summed loss falls below 0 (-1.6e3..-2.1e3 at 99) (seeds 0-2). No
    # model-side remedy removes a loss term
    C("logits/vit-attention-logit-reward", R("vit", inj.AttentionLogitReward(1e-2)), "attention-logit growth",
      (0, 2), 0, (), H7),
    # attention logits multiplied by sqrt(d_head) where they should be divided by it (x d_head = 16 over the
    # right scale) in a GPT of width 64: attn_logit_max 1.6-2 at step 0, 7.5-15 at 20, 25-40 in blocks 1-2 at
    # 50, 50-65 at 90 (block 0 10-15; the same GPT with the right scale: 0.1-0.13 at step 0, 1.7-3.3 at 90);
    # entropy of blocks 1-2 1.9 -> 0.3-0.4 at step 90 (seeds 0-2)
    C("logits/gpt64-inverted-attention-scale", R("gpt", inj.InvertedAttentionScale(), d_model=64),
      "attention-logit growth", (0, 2), 0, LOGITS, H8, also=("attention-entropy collapse",)),
    # CLIP's learned logit scale (exp(s), s started at log(1 / 0.07): x14.3) copied into every attention of
    # the ViT without CLIP's clamp, trained at the optimizer's rate: attn_logit_max 0.65-0.87 at step 0,
    # 1.3-11 at 20, 5.5-20 at 50, 18-37 in all 3 blocks at 90 (the same ViT without it: 0.05-0.06 at step 0,
    # 0.35-9.9 at 90, blocks 1-2 at most 4.4); entropy 2.82 -> 0.93-0.96 in block 0 and 1.2-1.95 in blocks 1-2
    # at 90; the loss still falls, 2.3 -> 0.70-1.0 (seeds 0-2) (the same scale on the GPT, tried first, grew
    # its logits to 4-19 at step 90, the healthy GPT's 0.7-1.6: a milder growth, not added). No model-side
    # remedy removes the scale
    C("logits/vit-learned-clip-logit-scale", R("vit", inj.LearnedAttentionScale()), "attention-logit growth",
      (0, 2), 0, (), H9),
    # every attention logit of the ViT times 1 + step / 3 (a Gumbel-softmax temperature annealing applied to
    # the attention, never capped): attn_logit_max 0.05-0.06 at step 0, 0.55-7.1 at 20, 5.4-30 at 50, 39-86 in
    # all 3 blocks at 90 (the same ViT without it: 0.35-9.9 at 90); entropy 2.83 -> 0.55-0.60 in block 0 and
    # 1.26-1.69 in blocks 1-2 at 90; the loss still falls, 2.3 -> 0.94-1.26 (seeds 0-2) (1 + step / 10, tried
    # first: blocks 1-2 at 12.6-14.2 at step 90 (seed 0), a milder growth: not added). No model-side remedy
    # removes the multiplier
    C("logits/vit-attention-sharpening-annealed", R("vit", inj.AnnealedAttentionSharpening(3.0)),
      "attention-logit growth", (0, 2), 0, (), H10, also=("attention-entropy collapse",)),
    # every attention of the GPT soft-capped as 50 tanh(z) where 50 tanh(z / 50) was meant (Gemma 2's logit
    # soft-capping with the division left out: small logits x50): attn_logit_max 2.6-3.3 at step 0 (the same
    # GPT without it: 0.05-0.07), 4.5-7.7 at 10, 6.7-13.8 at 20, 9-25 at 50 and 13-39 at 90 (blocks 1-2
    # 28-39); attn_entropy 1.75-1.81 at step 0, 0.43-0.87 at 90 (healthy 1.9); the loss still falls, 3.47-3.49
    # -> 2.92-2.98 (seeds 0-2). No model-side remedy removes the cap
    C("logits/gpt-softcap-without-division", R("gpt", inj.SoftCapWithoutDivision(50.0)),
      "attention-logit growth", (0, 2), 0, (), H11, also=("attention-entropy collapse",)),
    # attention-entropy collapse
    C("entropy/gpt-qk-scale-block2", R("gpt", edit(30, "blocks.2.attn", inj.qk_scale(30.0))),
      "attention-entropy collapse", (2, 2), 30, LOGITS, also=("attention-logit growth",)),
    C("entropy/vit-qk-scale-block0", R("vit", edit(30, "blocks.0.attn", inj.qk_scale(30.0))),
      "attention-entropy collapse", (0, 0), 30, LOGITS, also=("attention-logit growth",)),
    # init std 2.0 instead of 0.02: attn_entropy 0.02-0.07 nats in every block on every probe (max
    # ln 17 = 2.83; healthy ViT 2.2-2.8), attention logits ~140 (seeds 0-2)
    C("entropy/vit-init-std2", R("vit", init_std=2.0), "attention-entropy collapse", (0, 2), 0, LOGITS, H2,
      also=("attention-logit growth",)),
    # Post-LN at lr 3e-2 (Zhai et al.'s setting), 200 steps: attn_entropy of blocks 1-2 falls from
    # 1.92 to 0.24-0.44 by step 90 and 0.11-0.22 by step 190 (block 0 stays 1.6-1.7), their logits
    # 0.07 -> 90-230 (seeds 0-2)
    C("entropy/gpt-post-ln-lr-3e-2", R("gpt", placement="post", lr=3e-2, steps=200),
      "attention-entropy collapse", (1, 2), 0, LOGITS, H2, also=("attention-logit growth",)),
    # a softmax temperature of 1/100 in block 1 of a 4-block GPT (its logits x100 by a kept hook):
    # attn_entropy of block 1 1.50-1.57 at step 0, 0.22-0.25 at step 90 (blocks 0, 2, 3 1.9), its
    # logits 5.3-6.0 -> 67-95 (seeds 0-2). Fixed 2026-12-03 (found by the held_out5 helper): the
    # hook sat on the fused attention path's unused logits, so it acted on the probe's rows only
    # and training ran as the healthy 4-block GPT's; the injection now switches the explicit path on
    C("entropy/gpt4-temperature-block1",
      R("gpt", edit(0, "blocks.1.attn", inj.sharpen_attention(100.0)), n_layer=4),
      "attention-entropy collapse", (1, 1), 0, LOGITS, H3, also=("attention-logit growth",)),
    # the queries, keys and values (attn.qkv) in a parameter group at 15x the learning rate (4.5e-2, a
    # per-module multiplier set on the wrong module): attn_entropy 1.92 -> 0.75-1.6 at step 10, 0.05-0.13
    # in all 3 blocks at step 90 (seeds 0-2); logits 0.06 -> 170-344 at step 90 (seeds 1, 2)
    C("entropy/gpt-qkv-group-lr-15x", R("gpt", inj.GroupLR("attn.qkv", 15.0)),
      "attention-entropy collapse", (0, 2), 0, LOGITS, H4, also=("attention-logit growth",)),
    # sliding-window attention with a window of 1 token (a window meant in blocks of tokens): each token
    # attends to itself alone: attn_entropy exactly 0 in every block on every probe, attn_logit_max 0.03-0.08;
    # the loss falls as the healthy GPT's (3.47 -> 2.92-3.01) since the Markov chain needs only the current
    # token (seeds 0-2). No model-side remedy widens a mask
    C("entropy/gpt-window-1-attention", R("gpt", inj.LocalWindow(1)), "attention-entropy collapse", (0, 2), 0,
      (), H5),
    # a fixed relative-position attention bias per head and (query, key) pair drawn with std 10 (a bias table
    # loaded in the wrong scale) in every block of the ViT: attn_entropy 0.36-0.39 nats in every block from
    # step 0 to the end (max ln 17 = 2.83; healthy 2.2-2.8), attn_logit_max 41-44; the loss still falls, 2.3
    # -> 0.42-0.61 (seeds 0-2). No model-side remedy rescales a fixed bias
    C("entropy/vit-position-bias-std10", R("vit", inj.PositionBias(10.0)), "attention-entropy collapse",
      (0, 2), 0, (), H6, also=("attention-logit growth",)),
    # an attention-entropy regulariser (meant to reward spread-out attention) added with its sign flipped, at
    # weight 1, on the GPT: attn_entropy 1.9 in every block to step 10, 0.57-1.6 at 30, 0.08-0.45 at 50,
    # 0.013-0.14 at 90; attn_logit_max 0.05-0.07 -> 61-120 at 90; the loss still falls, 5.4 -> 3.12-3.22
    # (seeds 0-2). No model-side remedy removes a loss term
    C("entropy/gpt-entropy-penalty-sign-flipped", R("gpt", inj.AttentionEntropyPenalty(1.0)),
      "attention-entropy collapse", (0, 2), 0, (), H7, also=("attention-logit growth",)),
    # ALiBi's distance penalty with its slopes' exponent sign lost (2^(8h/H) = 4-256 instead of 2^(-8h/H)) in
    # every block of the GPT: attn_entropy 0.02-0.07 nats in every block on every probe (healthy 1.8-1.9); the
    # probe's attn_logit_max 3.8e3 (the penalty itself); the loss falls as the healthy GPT's, 3.47 ->
    # 2.92-3.01, since the Markov chain needs only the current token (seeds 0-2). No model-side remedy changes
    # the slopes
    C("entropy/gpt-steep-alibi", R("gpt", inj.SteepAlibi()), "attention-entropy collapse", (0, 2), 0, (), H8,
      also=("attention-logit growth",)),
    # top-k sparse attention with k = 1 (a k given as a fraction, 0.1 of 17 tokens, truncated) in every block
    # of the ViT: attn_entropy exactly 0 in every block on every probe, attn_logit_max 0.03-0.06; the loss
    # still falls, 2.3 -> 1.75-2.36 (seeds 0-2). No model-side remedy changes k
    C("entropy/vit-top-1-attention", R("vit", inj.TopKAttention(1)), "attention-entropy collapse", (0, 2), 0,
      (), H9),
    # every attention of the GPT a cosine attention (Swin V2's cos(q, k) / tau) with its learnable tau
    # replaced by the clamp's floor, 0.01: attn_entropy 0.047-0.105 nats in every block on every probe
    # (healthy 1.9), attn_logit_max 94-100 (100 x a cosine); the loss still falls, 3.47-3.49 -> 3.02-3.05
    # (seeds 0-2) (keys taken from the queries' slice, q . q, tried first: entropy stayed 1.91 (seed 0): not
    # added). No model-side remedy changes tau
    C("entropy/gpt-cosine-attention-tau-at-floor", R("gpt", inj.CosineAttentionAtFloor(0.01)),
      "attention-entropy collapse", (0, 2), 0, (), H10, also=("attention-logit growth",)),
    # every attention's softmax of the ViT a Gumbel-softmax at tau = 0.1 (F.gumbel_softmax, meant for a
    # discrete router, in place of the attention's softmax): attn_entropy 0.149-0.18 nats in every block on
    # every probe (healthy ViT 2.2-2.8), attn_logit_max 89-160 (the noise over tau); the loss falls late or
    # not, 2.3 -> 1.79, 2.05, 2.32 at the end (seeds 0-2) (a key mask with its polarity inverted, each query
    # seeing the class token alone, tried first: entropy exactly 0 but the class token never read the image,
    # the loss stayed at 2.3 and token_spread fell to 0.03 (seed 0): not added). No model-side remedy removes
    # the noise
    C("entropy/vit-gumbel-softmax-attention", R("vit", inj.GumbelSoftmaxAttention(0.1)),
      "attention-entropy collapse", (0, 2), 0, (), H11, also=("attention-logit growth",)),
    # rank collapse
    C("rank/vit-uniform-attention-block1",
      R("vit", edit(40, "blocks.1.attn", inj.uniform_attention(300.0), True)), "rank collapse", (1, 2), 40,
      RANK),
    C("rank/vit4-uniform-attention-block2",
      R("vit", edit(40, "blocks.2.attn", inj.uniform_attention(300.0), True), n_layer=4), "rank collapse",
      (2, 3), 40, RANK, H),
    # queries and keys zeroed at init (a saddle: their gradients are exactly 0, no freezing) and values
    # x300: attn_entropy of block 1 stays 2.83 (uniform), token_spread of blocks 1-2 0.002-0.02 all run
    # (block 0 0.2-0.9) (seeds 0-2)
    C("rank/vit-uniform-attention-saddle-block1",
      R("vit", edit(0, "blocks.1.attn", inj.uniform_attention(300.0))), "rank collapse", (1, 2), 0, RANK, H2),
    # a shared N(0, 3000^2) bias vector on block 0's MLP output swamps every token: token_spread 1e-5
    # at step 0, still 0.016-0.037 at step 90 in blocks 0-2 (healthy 0.9); loss flat (seeds 0-2)
    C("rank/gpt-shared-bias-block0", R("gpt", edit(0, "blocks.0.mlp.proj", inj.normal("bias", 3000.0))),
      "rank collapse", (0, 2), 0, RANK, H2),
    # one shared N(0, 3000^2) vector as the ViT's patch-embedding bias and its CLS token (at the
    # input, not inside a block: every token starts as the same huge vector): token_spread 8e-6-9e-6
    # in blocks 0-2 on every probe (healthy ViT 0.08-0.9); loss flat at 2.3 (seeds 0-2)
    C("rank/vit-shared-embedding-offset",
      R("vit", edit(0, "patch_emb", inj.normal("bias", 3000.0)),
        edit(0, "", inj.normal("cls_token", 3000.0))),
      "rank collapse", (0, 2), 0, RANK, H3),
    # blocks 1-3 of a 4-block ViT without their residual connections (mlp(ln2(attn(ln1(x))))): the
    # near-uniform attention averages the tokens; token_spread of blocks 1-3 <= 0.014 at step 0, 0-2e-5
    # from step 20 and 0-5e-6 from step 50 on (block 0 0.1-0.93); loss flat at 2.3 (seeds 0-2)
    C("rank/vit4-no-skip-blocks1-3", R("vit", *(edit(0, f"blocks.{i}", inj.no_skip) for i in (1, 2, 3)),
                                       n_layer=4),
      "rank collapse", (1, 3), 0, RANK, H4),
    # the ViT's embedded tokens mean-pooled and broadcast back over the sequence before the blocks (a pooling
    # meant for the head placed before the transformer): token_spread exactly 0 in blocks 0-2 on every probe,
    # attn_entropy at its maximum (2.83); loss flat at 2.30-2.32 (seeds 0-2). No model-side remedy undoes the
    # pooling
    C("rank/vit-tokens-pooled-before-blocks", R("vit", edit(0, "drop", inj.pooled_tokens)), "rank collapse",
      (0, 2), 0, (), H5),
    # blocks 1-3 of a 4-block ViT with their skip connections scaled by 0.1 (alpha * x + branch, a residual
    # scale set below 1): token_spread of blocks 1-3 0.35-0.65 / 0.04-0.08 / 0.004-0.006 at step 0, <= 0.016 /
    # 5e-4 / 1e-5 from step 30 on (block 0 0.13-0.23); loss flat at 2.29-2.32 (seeds 0-2)
    C("rank/vit4-skip-x0.1-blocks1-3",
      R("vit", *(edit(0, f"blocks.{i}", inj.scaled_skip(0.1)) for i in (1, 2, 3)), n_layer=4),
      "rank collapse", (1, 3), 0, RANK, H6),
    # the ViT's position table declared (1, 1, d) and drawn by torch.randn (std 1): one shared row over every
    # token, 50x the patch embeddings, in a 4-block ViT: token_spread 0.013-0.016 in blocks 0-3 at step 0,
    # 0.024-0.048 at 90 (the same ViT without it: 0.72-0.8 at step 0, 0.22-0.45 after); loss flat at
    # 2.29-2.32 (seeds 0-2)
    C("rank/vit4-one-position-row-std1", R("vit", inj.SharedPosition(1.0), n_layer=4), "rank collapse",
      (0, 3), 0, RANK, H7),
    # the GPT's token and position tables left at a constant fill (0.02) and frozen (a pretrained embedding
    # whose checkpoint failed to load): every token enters as the same vector: token_spread exactly 0 in
    # blocks 0-2 on every probe, attn_entropy at its maximum (1.9); loss flat at 3.47 (seeds 0-2). No
    # model-side remedy restores the tables
    C("rank/gpt-embeddings-constant-frozen",
      R("gpt", *(edit(0, table, inj.frozen_fill("weight", 0.02)) for table in ("tok_emb", "pos_emb"))),
      "rank collapse", (0, 2), 0, (), H8),
    # every LayerNorm of the GPT built with eps = 1e5 (1e-5 with the exponent's sign lost): each norm's output
    # is near 0 whatever the token, so the branches add what their biases learn, the same for every token:
    # token_spread of blocks 0-2 0.96 at step 0 (as the healthy GPT), 0.13-0.40 at 10, 0.03-0.11 at 20 and
    # 0.009-0.061 from step 30 to the end (healthy 0.8-0.9); attn_entropy at its maximum (1.92) on every
    # probe; loss flat at 3.43-3.47 (seeds 0-2). A fixed multiplier of 100 on the ViT's attention branches
    # (token_spread 0.01-0.07 at step 0, back to 0.4-0.65 from step 60), of 1000 (>= 0.06 from step 30, seed
    # 0) and the attention scale written with floor division on a 4-block ViT (1 // sqrt(d_head) = 0;
    # 0.11-0.8, seed 0), tried first, did not hold: not added. No model-side remedy changes the norms' eps
    C("rank/gpt-layernorm-eps-1e5", R("gpt", inj.LayerNormEps(1e5)), "rank collapse", (0, 2), 0, (), H9),
    # every block of the ViT with its skip connection adding the tokens' mean (x.mean(1, keepdim=True), a
    # pooled residual over the wrong axis) instead of each token: token_spread of block 2 0.12-0.20 at step 0
    # and 1.7e-4-0.010 from step 10 on, block 1 0.32-0.40 at step 0 and 0.004-0.086 from step 10 on (block 0
    # 0.06-0.69) (the same ViT without it: >= 0.077); the loss still falls, 2.3 -> 1.64-1.67 (seeds 0-2)
    # (images with a +128 offset never taken off, in every split, tried first: token_spread 0.24 throughout
    # (seed 0): not added). No model-side remedy rewires the skip
    C("rank/vit-skip-adds-token-mean", R("vit", *(edit(0, f"blocks.{i}", inj.mean_skip) for i in range(3))),
      "rank collapse", (1, 2), 0, (), H10),
    # blocks 1-3 of a 4-block ViT with the attention's residual connection left out (x = attn(ln1(x)) where x
    # = x + attn(ln1(x)) was meant; the MLP's kept): token_spread of block 1 0.0043-0.014 at step 0, <= 7.7e-4
    # at 10 and <= 2.8e-5 from step 20 on, blocks 2-3 <= 1.8e-7 on every probe (block 3 exactly 0), vs block
    # 0's 0.09-0.93; attn_entropy at its maximum (2.83); loss flat at 2.28-2.35 (seeds 0-2)
    C("rank/vit4-attention-skip-dropped-blocks1-3",
      R("vit", *(edit(0, f"blocks.{i}", inj.attention_skip_dropped) for i in (1, 2, 3)), n_layer=4),
      "rank collapse", (1, 3), 0, RANK, H11),
    # unused depth
    C("depth/gpt-block2-zeroed", R("gpt", edit(20, "blocks.2.attn.proj", inj.zero_all, True),
                                   edit(20, "blocks.2.mlp.proj", inj.zero_all, True)),
      "unused depth", (2, 2), 20, DEPTH),
    C("depth/vit-block1-zeroed", R("vit", edit(20, "blocks.1.attn.proj", inj.zero_all, True),
                                   edit(20, "blocks.1.mlp.proj", inj.zero_all, True)),
      "unused depth", (1, 1), 20, DEPTH, H),
    # the attention and MLP branches of blocks 1-2 scaled by a fixed 1e-3 (a mis-set branch multiplier,
    # nothing frozen): block_contrib 4e-4-1e-3 on every probe vs block 0's 0.5-3 (seeds 0-2)
    C("depth/gpt-branches-x1e-3-blocks1-2",
      R("gpt", *shrink_branches((1, 2), 1e-3)),
      "unused depth", (1, 2), 0, DEPTH, H2),
    # the same multiplier on blocks 2-3 of a 4-block ViT: block_contrib 2e-4-8e-4 on every probe
    # vs 0.3-9 for blocks 0-1; the ViT still learns (loss 2.3 -> 1.0) (seeds 0-2)
    C("depth/vit4-branches-x1e-3-blocks2-3",
      R("vit", *shrink_branches((2, 3), 1e-3), n_layer=4),
      "unused depth", (2, 3), 0, DEPTH, H2),
    # block 2 of a Peri-LN GPT bypassed by a kept hook (a layer-drop left on): block_contrib exactly 0
    # on every probe vs block 0's 30-60 and block 1's 0.65-1.2; loss 3.47 -> 3.15-3.18 (seeds 0-2)
    C("depth/gpt-peri-block2-bypassed", R("gpt", edit(0, "blocks.2", inj.bypass), placement="peri"),
      "unused depth", (2, 2), 0, DEPTH, H3),
    # the last block of a 4-block GPT left out of the optimizer (appended after it was built) with its
    # output projections zero-initialised (a residual-branch zero init): block_contrib of block 3
    # exactly 0 and its update_ratio 0 all run, blocks 0-2 0.26-3.6; loss 3.47 -> 2.92-2.98 (seeds 0-2)
    C("depth/gpt4-last-block-not-optimised",
      R("gpt", edit(0, "blocks.3.attn.proj", inj.zero_all), edit(0, "blocks.3.mlp.proj", inj.zero_all),
        inj.LeftOut("blocks.3"), n_layer=4),
      "unused depth", (3, 3), 0, DEPTH, H4),
    # the last block of a 4-block GPT in a parameter group of its own with weight decay 100 (Adam's L2 decay,
    # a per-group value put on the wrong group): block_contrib of block 3 0.41 at step 0, 0.02 at 10, 6e-3 at
    # 20, 8e-4-1.6e-3 from step 50 on vs blocks 0-2's 0.27-3.7; loss 3.47 -> 2.92-2.99 (seeds 0-2)
    C("depth/gpt4-last-block-decay-100",
      R("gpt", inj.GroupSetting("blocks.3.", "weight_decay", 100.0), n_layer=4),
      "unused depth", (3, 3), 0, DEPTH, H5),
    # blocks 2-3 of a 4-block GPT behind gated residuals (x + sigmoid(g) (block(x) - x)) whose gate starts at
    # -10 (highway networks advise -1 to -3): block_contrib of blocks 2-3 2e-5 at step 0 and 8e-6-1.4e-5 from
    # step 50 on vs blocks 0-1's 0.46-3.3; loss 3.47 -> 2.90-2.97 (seeds 0-2)
    C("depth/gpt4-gates-minus-10-blocks2-3", R("gpt", inj.GatedResidual((2, 3), -10.0), n_layer=4),
      "unused depth", (2, 3), 0, DEPTH, H6),
    # blocks 2-3 of a 4-block GPT with two zero-inits at once, ReZero's alpha = 0 and zero output projections
    # (a saddle: each one's gradient is the other's zero): block_contrib of blocks 2-3 exactly 0 and their
    # update_ratio 0 all run, blocks 0-1 0.46-3.3; loss 3.47 -> 2.90-2.97 (seeds 0-2)
    C("depth/gpt4-rezero-and-zero-projections-blocks2-3",
      R("gpt", *(edit(0, f"blocks.{i}.{b}.proj", inj.zero_all) for i in (2, 3) for b in ("attn", "mlp")),
        inj.ReZero((2, 3)), n_layer=4),
      "unused depth", (2, 3), 0, DEPTH, H7),
    # blocks 3-4 of a 5-block GPT pruned to 100% sparsity (a per-layer sparsity list read in the wrong order:
    # their attention and MLP output projections zeroed, weights and biases, before every step): block_contrib
    # of blocks 3-4 exactly 0 on every probe vs blocks 0-2's 0.26-3.9; their update_ratio 5e-3-0.026 (the
    # norms and input projections still move); loss 3.47 -> 2.92-2.97 (seeds 0-2)
    C("depth/gpt5-blocks3-4-pruned",
      R("gpt", *(inj.Constraint(f"blocks.{i}.{b}.proj", inj.zero_all) for i in (3, 4)
                 for b in ("attn", "mlp")), n_layer=5),
      "unused depth", (3, 4), 0, DEPTH, H8),
    # stochastic depth on a 4-block ViT with the survival probability falling linearly to 0 (the drop rate's
    # end value given as the survival's; Huang et al. scale a block by its survival in eval): block_contrib of
    # block 3 exactly 0 on every probe and its update_ratio 0 on every step, blocks 0-2 0.03-8 (block 2 at 1/4
    # scale 0.03-0.15); loss 2.3 -> 1.57-2.33 (seeds 0-2)
    C("depth/vit4-stochastic-depth-to-zero", R("vit", inj.StochasticDepth(0.0), n_layer=4), "unused depth",
      (3, 3), 0, DEPTH, H9),
    # a 4-block ViT whose head reads block 1's output (hidden_states[2] where [-1] was meant): blocks 2-3 are
    # computed and never reach the loss: no grad_norm rows and update_ratio exactly 0 for blocks 2-3 on every
    # step; their block_contrib 0.40-0.47 at step 0 and 0.036-0.15 from step 10 on vs blocks 0-1's 0.37-8.7;
    # loss 2.3 -> 1.05-1.25 (seeds 0-2). No model-side remedy rewires the head
    C("depth/vit4-head-reads-block1", R("vit", inj.HeadFromBlock(1), n_layer=4), "unused depth", (2, 3), 0,
      (), H10),
    # the attention and MLP output projections of blocks 2-3 of a 4-block GPT clamped to +-1e-3 (an activation
    # clip whose threshold was given in another unit): block_contrib of blocks 2-3 0.039-0.043 at step 0,
    # 0.013-0.014 at 10 and 0.0039-0.0099 from step 20 on vs blocks 0-1's 0.46-3.3; their update_ratio as the
    # other blocks' (7e-3-0.04: the norms and input projections still move); loss 3.47 -> 2.89-2.97 (seeds
    # 0-2) (DeepNorm's skip constant with its exponent inverted, x4096 per sublayer on every block, tried
    # first, overflowed to NaN at step 0 (seed 0): not added). No model-side remedy removes the clip
    C("depth/gpt4-branch-outputs-clamped-blocks2-3",
      R("gpt", *(edit(0, f"blocks.{i}.{b}.proj", inj.clamped_output(1e-3)) for i in (2, 3)
                 for b in ("attn", "mlp")), n_layer=4),
      "unused depth", (2, 3), 0, (), H11),
    # gradient conflict (two named losses trained on their sum; train() logs their per-layer conflict)
    C("conflict/mlp-shifted-labels", R("mlp", inj.TwoLosses(10)), "gradient conflict", None, 0, CONFLICT),
    C("conflict/vit-shifted-labels", R("vit", inj.TwoLosses(10)), "gradient conflict", None, 0, CONFLICT),
    C("conflict/cnn-shifted-labels", R("cnn", inj.TwoLosses(10)), "gradient conflict", None, 0, CONFLICT),
    # an auxiliary loss on targets one position behind (the current token): cos_min -0.23..-0.43 at
    # step 10, -0.73..-0.81 at step 90, in all 3 blocks (seeds 0-2)
    C("conflict/gpt-copy-targets", R("gpt", inj.CopyTargets()), "gradient conflict", None, 0, CONFLICT, H2),
    # a confidence penalty at weight 1 (cross-entropy to the uniform distribution) beside the task:
    # cos_min -0.23..-0.56 at step 10, -0.55..-0.86 at step 110 in all 3 blocks (seeds 0-2)
    C("conflict/cnn-confidence-penalty", R("cnn", inj.ConfidencePenalty()), "gradient conflict", None, 0,
      CONFLICT, H3),
    # a logit penalty mean(logits^2) at weight 1 beside the GPT's task (a logit-norm regulariser at
    # 1e4 times its usual weight): cos_min -0.15..-0.56 at step 10 in 8 of 9 block-seeds (seed 1's
    # block 0: +0.03), -0.19..-0.56 at step 90 in all 3 blocks (seeds 0-2)
    C("conflict/gpt-logit-penalty", R("gpt", inj.LogitPenalty(1.0)), "gradient conflict", None, 0,
      CONFLICT, H4),
    # distillation (KL, weight 1) from a teacher whose checkpoint was never loaded (a frozen copy of the CNN
    # at its initialisation) beside the task: cos_min -0.25..-0.55 at step 10, -0.60..-0.86 at step 110,
    # negative on every probe in all 3 blocks (medians -0.51..-0.76) (seeds 0-2)
    C("conflict/cnn-untrained-teacher", R("cnn", inj.UntrainedTeacher()), "gradient conflict", None, 0,
      CONFLICT, H5),
    # an auxiliary loss subtracted instead of added (-0.5 x label-smoothed cross-entropy on the same labels)
    # beside the MLP's task: cos_min -1.0 at step 10, -0.99 at 50, -0.97..-0.98 at 110, -0.82..-0.97 at 140 in
    # all 4 blocks, at most -0.42 on every probe (seeds 0-2); the summed loss falls below 0
    C("conflict/mlp-auxiliary-sign-flipped", R("mlp", inj.LabelSmoothingAuxiliary(-0.5)), "gradient conflict",
      None, 0, CONFLICT, H6),
    # an L2-SP penalty (weight 0.5) pulling the weights to a pre-trained anchor that was never loaded (the
    # random init) beside the task of a 3-block MLP of width 128: cos_min -0.48..-0.68 at step 10,
    # -0.34..-0.68 at 140, negative on every probe in all 3 blocks (at most -0.26; medians -0.50..-0.64); the
    # loss stalls at 1.68-1.91 (seeds 0-2)
    C("conflict/mlp3-wide-l2-sp-anchor-at-init", R("mlp", inj.AnchorToInit(0.5), depth=3, width=128),
      "gradient conflict", None, 0, CONFLICT, H7),
    # a supervised contrastive loss (weight 1, temperature 0.5) on the ViT's normalised logits with its
    # positive mask inverted (y_i != y_j) beside the task: cos_min -0.51..+0.03 at step 10, -0.76..-0.90 at
    # 50, -0.48..-0.96 at 90 in all 3 blocks; medians -0.48..-0.87 in every block; the summed loss 6.5 ->
    # 5.7-6.2 (seeds 0-2)
    C("conflict/vit-contrastive-mask-inverted", R("vit", inj.InvertedContrastiveAuxiliary()),
      "gradient conflict", None, 0, CONFLICT, H8),
    # a label-smoothed (0.1) cross-entropy auxiliary on the CNN's labels at weight 0.5 (1 - step / 60), a
    # linear annealing without its max(0, .) that crosses 0 at step 60 and subtracts the auxiliary after it:
    # cos_min 0.997-1.0 in all 3 blocks to step 50, 0 at 60, -0.99..-1.0 from step 70 to the end (seeds 0-2);
    # the summed loss still falls, 2.9-3.0 at step 10 -> 0.17-0.28 at 119 (the task outweighs the auxiliary).
    # An auxiliary squared error of the logits to one-hot targets (weight 1), tried first, had cos_min medians
    # -0.3..+0.38 on the CNN, -0.25..+0.02 on the MLP and +0.57..+0.80 on the ViT, and at weight 10 the CNN
    # went NaN: not added
    C("conflict/cnn-auxiliary-weight-annealed-past-0", R("cnn", inj.DecayingAuxiliary(0.5, 60)),
      "gradient conflict", None, 61, CONFLICT, H9),
    # an unlikelihood loss (Welleck et al. 2019, weight 0.5) whose negative candidates are the targets
    # themselves (the earlier context tokens were meant) beside the GPT's task: cos_min -0.91..-0.97 at step
    # 10, -0.65..-0.84 at 50, -0.36..-0.51 at 90 in all 3 blocks, negative on every probe (at most -0.27;
    # medians -0.62..-0.84); the summed loss 3.5 -> 2.95-3.02 (seeds 0-2) (a center loss with its centers left
    # at 0, weight 0.5, on the CNN's features also conflicted, -0.19..-0.87 (seed 0); not added, one per
    # class)
    C("conflict/gpt-unlikelihood-on-targets", R("gpt", inj.TargetUnlikelihood(0.5)), "gradient conflict",
      None, 0, CONFLICT, H10),
    # a margin-ranking auxiliary (weight 0.5, margin 1) of the target's logit against every other logit,
    # called with target=-1 where +1 was meant (it ranks the other classes above the label), beside the MLP's
    # task: cos_min -0.96..-0.996 at step 10 and -0.94..-0.99 on every probe to step 140 in all 4 blocks
    # (medians -0.97..-0.98); the summed loss 2.72-2.80 at step 10 -> 2.42-2.47 (seeds 0-2)
    C("conflict/mlp-margin-ranking-target-reversed", R("mlp", inj.MarginRankingReversed(0.5)),
      "gradient conflict", None, 0, CONFLICT, H11),
]

HEALTHY: list[Case] = [
    C("healthy/mlp", R("mlp"), None),
    C("healthy/mlp-depth8", R("mlp", depth=8), None),
    C("healthy/mlp-tanh-xavier", R("mlp", act="tanh", init="xavier"), None),
    C("healthy/mlp-adam", R("mlp", opt="adam", lr=1e-3), None),
    C("healthy/mlp-wide-lr0.1", R("mlp", width=128, lr=0.1), None),
    C("healthy/mlp-leaky", R("mlp", act="leaky_relu", depth=6), None),
    C("healthy/mlp-gelu-adam", R("mlp", act="gelu", opt="adam", lr=3e-3), None),
    C("healthy/cnn", R("cnn"), None, split=H),
    C("healthy/cnn-adam", R("cnn", opt="adam", lr=1e-3), None, split=H),
    C("healthy/cnn-wide", R("cnn", channels=(16, 32)), None, split=H),
    C("healthy/gpt", R("gpt"), None),
    C("healthy/gpt-depth4", R("gpt", n_layer=4), None),
    C("healthy/gpt-peri", R("gpt", placement="peri"), None),
    C("healthy/gpt-lr1e-3", R("gpt", lr=1e-3), None),
    C("healthy/vit", R("vit"), None, split=H),
    C("healthy/vit-depth4", R("vit", n_layer=4), None, split=H),
    C("healthy/vit-peri-lr1e-3", R("vit", placement="peri", lr=1e-3), None, split=H),
    # held_out4 (checked on raw rows, seeds 0-2: the loss's first tenth -> last tenth, no NaN, the
    # largest grad norm over its step-0 value, and the class's other rows)
    # 4 blocks (8, 16, 32, 32): loss 2.05-2.1 -> 0.26-0.31, grad growth <= 3x, dead_fraction 0
    C("healthy/cnn4", R("cnn", channels=(8, 16, 32, 32)), None, split=H4),
    # 2 blocks at Adam 3e-3: loss 3.40 -> 2.91-3.01, grad growth <= 1.8x, token_spread >= 0.86
    C("healthy/gpt-depth2", R("gpt", n_layer=2), None, split=H4),
    # 2 blocks at Adam 1e-3: loss 2.32 -> 1.41-1.69, grad growth <= 14x, token_spread >= 0.22
    # (the 3-block ViT at 3e-4, tried first, fell only 2.31 -> 2.18 in seed 1: not added)
    C("healthy/vit-depth2-lr1e-3", R("vit", n_layer=2, lr=1e-3), None, split=H4),
    # ELU, SGD lr 0.01 with momentum 0.9: loss 1.8 -> 0.10-0.12, grad growth <= 1.5x
    C("healthy/mlp-elu-momentum", R("mlp", inj.OptimizerSetting("momentum", 0.9), act="elu", lr=0.01),
      None, split=H4),
    # two losses that agree: the task and 0.3 x label-smoothed (0.1) cross-entropy on the same labels:
    # summed loss 2.5-2.7 -> 0.43-0.48, grad growth <= 6x, dead_fraction <= 0.28, cos_min median
    # 0.95-0.97 (min 0.14)
    C("healthy/mlp-label-smoothing-aux", R("mlp", inj.LabelSmoothingAuxiliary()), None, split=H4),
    # the task and 0.3 x the multi-class hinge loss on the same labels: summed loss 2.6 -> 1.28-1.84,
    # grad growth <= 2.2x, token_spread >= 0.074, cos_min median 0.93-0.96 (min 0.74)
    C("healthy/vit-margin-aux", R("vit", inj.MarginAuxiliary()), None, split=H4),
    # held_out5 (checked likewise on raw rows, seeds 0-2)
    # 3 wider blocks (16, 32, 64) under SGD lr 0.02 with momentum 0.9: loss 2.02-2.10 -> 0.04, grad growth
    # <= 3.2x, dead_fraction 0
    C("healthy/cnn-wide3-momentum",
      R("cnn", inj.OptimizerSetting("momentum", 0.9), channels=(16, 32, 64), lr=0.02), None, split=H5),
    # width 64 at Adam 3e-3: loss 3.39-3.41 -> 2.86-2.94, grad growth <= 2.1x, token_spread >= 0.82, entropy
    # >= 1.76
    C("healthy/gpt-width64", R("gpt", d_model=64), None, split=H5),
    # width 64 at Adam 1e-3: loss 2.33-2.34 -> 0.79-0.97, grad growth <= 2.6x, token_spread >= 0.059 (its
    # minimum, near init), entropy >= 2.2
    C("healthy/vit-width64-lr1e-3", R("vit", d_model=64, lr=1e-3), None, split=H5),
    # GELU, 5 blocks of 96, SGD lr 0.01 with momentum 0.9: loss 2.16-2.27 -> 0.10-0.16, grad growth <= 10x
    C("healthy/mlp5-gelu-momentum",
      R("mlp", inj.OptimizerSetting("momentum", 0.9), act="gelu", width=96, depth=5, lr=0.01), None,
      split=H5),
    # two losses that agree: the task and 0.3 x the focal loss (gamma 2) on the same labels: summed loss
    # 2.67-2.70 -> 0.49-0.63, grad growth <= 2.8x, dead_fraction 0, cos_min median 0.95-0.98 (min 0.87)
    C("healthy/cnn-focal-aux", R("cnn", inj.FocalAuxiliary()), None, split=H5),
    # the task and 0.3 x the Brier score on the same targets: summed loss 3.69-3.71 -> 3.21-3.30, grad growth
    # <= 2.2x, token_spread >= 0.88, cos_min median 0.83-0.88 (min 0.68)
    C("healthy/gpt-brier-aux", R("gpt", inj.BrierAuxiliary()), None, split=H5),
    # held_out6 (checked likewise on raw rows, seeds 0-2: the loss's first tenth -> last tenth, no NaN, the
    # largest grad norm over its step-0 value, and the class's other rows)
    # 3 blocks (8, 16, 32) under SGD lr 0.1: loss 2.11-2.13 -> 0.17-0.20, grad growth <= 3x, dead_fraction 0
    C("healthy/cnn3-sgd-lr0.1", R("cnn", channels=(8, 16, 32), lr=0.1), None, split=H6),
    # 6 blocks at Adam 1e-3: loss 3.42-3.44 -> 3.10-3.14, grad growth <= 2.9x, token_spread >= 0.78, entropy
    # >= 1.92
    C("healthy/gpt-depth6-lr1e-3", R("gpt", n_layer=6, lr=1e-3), None, split=H6),
    # 5 blocks at Adam 1e-3: loss 2.32 -> 1.76-1.85, grad growth <= 4.2x, token_spread >= 0.054 (seed 0's
    # minimum; 0.076, 0.175 in seeds 1-2), entropy >= 2.0 (the width-48 ViT at 2e-3, tried first, had
    # token_spread 0.024-0.032: not added)
    C("healthy/vit-depth5-lr1e-3", R("vit", n_layer=5, lr=1e-3), None, split=H6),
    # tanh, Xavier, 6 blocks at Adam 1e-3: loss 1.81-1.98 -> 0.15-0.16, grad growth <= 5.1x
    C("healthy/mlp6-tanh-xavier-adam", R("mlp", act="tanh", init="xavier", opt="adam", lr=1e-3, depth=6),
      None, split=H6),
    # two losses that agree: the task and 0.3 x the cross-entropy of the logits at temperature 2 on the same
    # labels: summed loss 2.85-2.88 -> 0.81-1.08, grad growth <= 2.7x, dead_fraction 0, cos_min median
    # 0.97-0.98 (min 0.86)
    C("healthy/cnn-tempered-aux", R("cnn", inj.TemperedAuxiliary()), None, split=H6),
    # the task and the Poly-1 term (1 - p_t, weight 1) on the same targets: summed loss 4.37-4.39 ->
    # 3.86-3.95, grad growth <= 2.3x, token_spread >= 0.88, cos_min median 0.58-0.73 (min 0.19)
    C("healthy/gpt-poly1-aux", R("gpt", inj.PolyAuxiliary()), None, split=H6),
    # held_out7 (checked likewise on raw rows, seeds 0-2: the loss's first tenth -> last tenth, no NaN, the
    # largest grad norm over its step-0 value, and the class's other rows)
    # 2 wide blocks (32, 64) under SGD lr 0.05: loss 2.03-2.10 -> 0.23-0.26, grad growth <= 1.7x,
    # dead_fraction 0
    C("healthy/cnn2-wide", R("cnn", channels=(32, 64)), None, split=H7),
    # width 48 at Adam 3e-3: loss 3.38-3.41 -> 2.88-2.97, grad growth <= 1.5x, token_spread >= 0.86, entropy
    # >= 1.85
    C("healthy/gpt-width48", R("gpt", d_model=48), None, split=H7),
    # width 48 at Adam 1e-3: loss 2.32-2.33 -> 1.08-1.60, grad growth <= 3.4x, token_spread >= 0.055 (seed 2's
    # minimum; 0.065, 0.068 in seeds 1, 0), entropy >= 2.39 (the Peri-LN ViT of width 64 at 1e-3, tried
    # first, had token_spread 0.005: not added)
    C("healthy/vit-width48-lr1e-3", R("vit", d_model=48, lr=1e-3), None, split=H7),
    # SiLU, 3 blocks of 128 at Adam 1e-3: loss 1.88-2.01 -> 0.080-0.097, grad growth <= 4.6x (a 6-block SiLU
    # MLP with orthogonal init under SGD lr 0.05, tried first, stayed at 2.30: not added)
    C("healthy/mlp3-wide-silu-adam", R("mlp", act="silu", opt="adam", lr=1e-3, width=128, depth=3), None,
      split=H7),
    # two losses that agree: the task and 0.3 x the class-balanced (inverse-frequency weighted) cross-entropy
    # on the same labels, 3 blocks (8, 16, 32): summed loss 2.82-2.85 -> 0.45-0.51, grad growth <= 2.8x,
    # dead_fraction 0, cos_min median 1.00 (min 1.00: the digits are near balanced)
    C("healthy/cnn3-class-balanced-aux", R("cnn", inj.ClassBalancedAuxiliary(), channels=(8, 16, 32)), None,
      split=H7),
    # the task and 0.3 x the cross-entropy of a second linear head on the last block's output: summed loss
    # 2.66-2.81 -> 0.32-0.43, grad growth <= 6.5x, dead_fraction <= 0.33, cos_min median 0.37-0.51 (min -0.32)
    # (the same head on block 1, deep supervision, tried first: cos_min median 0.00-0.03, blocks 2-3 get no
    # auxiliary gradient; and 0.3 x the square loss of the logits to one-hot targets on the CNN: median
    # -0.13..-0.33, the two losses disagree once the logits pass 1: neither added)
    C("healthy/mlp-auxiliary-head-last-block", R("mlp", inj.AuxiliaryHead(3)), None, split=H7),
    # held_out8 (checked likewise on raw rows, seeds 0-2: the loss's first tenth -> last tenth, no NaN, the
    # largest grad norm over its step-0 value, and the class's other rows)
    # 3 blocks (16, 16, 32) at Adam 3e-3: loss 1.95-2.02 -> 0.072-0.083, grad growth <= 2.8x, dead_fraction 0
    C("healthy/cnn3-adam-3e-3", R("cnn", channels=(16, 16, 32), opt="adam", lr=3e-3), None, split=H8),
    # 4 blocks of width 48 at Adam 2e-3: loss 3.40-3.42 -> 2.92-3.00, grad growth <= 2.1x, token_spread
    # >= 0.81, entropy >= 1.9
    C("healthy/gpt4-width48-lr2e-3", R("gpt", n_layer=4, d_model=48, lr=2e-3), None, split=H8),
    # 3 blocks of width 32 at Adam 1e-3 for 150 steps: loss 2.31 -> 1.20-1.29, grad growth <= 7.9x,
    # token_spread >= 0.15, entropy >= 2.6 (a 2-block ViT of width 64 at 2e-3, tried first, had token_spread
    # 0.033-0.045: not added)
    C("healthy/vit-lr1e-3-150-steps", R("vit", lr=1e-3, steps=150), None, split=H8),
    # ELU, 3 blocks of 96 at Adam 3e-3: loss 1.2-1.32 -> 0.040-0.068, grad growth <= 1.1x
    C("healthy/mlp3-elu-adam", R("mlp", act="elu", opt="adam", lr=3e-3, depth=3, width=96), None, split=H8),
    # two losses that agree: the task and 0.3 x the reverse cross-entropy (symmetric cross-entropy's second
    # term, 4 (1 - p_y)) on the same labels: summed loss 3.24-3.27 -> 0.71-1.14, grad growth <= 3.5x,
    # dead_fraction 0, cos_min median 0.84-0.92 (min 0.60)
    C("healthy/cnn-reverse-ce-aux", R("cnn", inj.ReverseCrossEntropyAuxiliary()), None, split=H8),
    # the task and 0.3 x the generalised cross-entropy (q 0.7) on the same targets: summed loss 3.79-3.81 ->
    # 3.30-3.39, grad growth <= 2.2x, token_spread >= 0.89, cos_min median 0.77-0.85 (min 0.48)
    C("healthy/gpt-generalised-ce-aux", R("gpt", inj.GeneralisedCrossEntropyAuxiliary()), None, split=H8),
    # held_out9 (checked likewise on raw rows, seeds 0-2: the loss's first tenth -> last tenth, no NaN, the
    # largest grad norm over its step-0 value, and the class's other rows)
    # GELU, 3 blocks of 48 under SGD lr 0.1: loss 2.12-2.21 -> 0.19-0.24, grad growth <= 7.5x
    C("healthy/mlp3-width48-gelu-sgd-lr0.1", R("mlp", act="gelu", depth=3, width=48, lr=0.1), None, split=H9),
    # 3 blocks (12, 24, 24) at Adam 1e-3: loss 2.12-2.20 -> 0.60-0.63, grad growth <= 2.2x, dead_fraction 0
    C("healthy/cnn3-12-24-24-adam", R("cnn", channels=(12, 24, 24), opt="adam", lr=1e-3), None, split=H9),
    # Peri-LN, width 64 at Adam 1e-3: loss 3.45-3.46 -> 3.05-3.12, grad growth <= 1.0x, token_spread >= 0.117,
    # entropy >= 1.41
    C("healthy/gpt-peri-width64-lr1e-3", R("gpt", placement="peri", d_model=64, lr=1e-3), None, split=H9),
    # 4 blocks at Adam 1e-3: loss 2.31-2.32 -> 1.73-1.91, grad growth <= 13x (seed 0's; 6.7x, 2x in seeds
    # 1-2), token_spread >= 0.060 (seed 1's minimum; 0.23, 0.25 in seeds 2, 0), entropy >= 2.6
    C("healthy/vit4-lr1e-3", R("vit", n_layer=4, lr=1e-3), None, split=H9),
    # two losses that agree: the task and 0.3 x the additive-margin softmax loss (margin 1) on the same
    # labels: summed loss 2.71-2.91 -> 0.23-0.31, grad growth <= 6.3x, dead_fraction <= 0.30, cos_min median
    # 0.98-0.99 (min 0.96)
    C("healthy/mlp-additive-margin-aux", R("mlp", inj.AdditiveMarginAuxiliary()), None, split=H9),
    # the task and 0.3 x the soft bootstrapping loss (beta 0.95) on the same targets: summed loss 4.42-4.45 ->
    # 3.82-3.93, grad growth <= 2.1x, token_spread >= 0.88, cos_min median 1.00 (min 1.00)
    C("healthy/gpt-bootstrap-aux", R("gpt", inj.BootstrapAuxiliary()), None, split=H9),
    # held_out10 (checked likewise on raw rows, seeds 0-2: the loss's first tenth -> last tenth, no NaN, the
    # largest grad norm over its step-0 value, and the class's other rows) tanh, Xavier, 5 blocks of 80 under
    # SGD lr 0.01 with momentum 0.9: loss 2.11-2.16 -> 0.17-0.19, grad growth <= 2.1x
    C("healthy/mlp5-width80-tanh-xavier-momentum",
      R("mlp", inj.OptimizerSetting("momentum", 0.9), act="tanh", init="xavier", depth=5, width=80, lr=0.01),
      None, split=H10),
    # 3 blocks (12, 24, 48) at Adam 2e-3: loss 1.94-1.97 -> 0.083-0.090, grad growth <= 4x, dead_fraction 0
    C("healthy/cnn3-12-24-48-adam-2e-3", R("cnn", channels=(12, 24, 48), opt="adam", lr=2e-3), None,
      split=H10),
    # 5 blocks at Adam 2e-3: loss 3.42-3.43 -> 3.02-3.06, grad growth <= 2.5x, token_spread >= 0.78, entropy
    # >= 1.91
    C("healthy/gpt5-lr2e-3", R("gpt", n_layer=5, lr=2e-3), None, split=H10),
    # width 40 at Adam 1e-3 for 120 steps: loss 2.31-2.32 -> 1.07-1.26, grad growth <= 5.8x, token_spread
    # >= 0.187, entropy >= 2.36
    C("healthy/vit-width40-lr1e-3-120-steps", R("vit", d_model=40, lr=1e-3, steps=120), None, split=H10),
    # two losses that agree: the task and 0.3 x the Jensen-Shannon divergence of the predictions to the
    # one-hot targets (Englesson and Azizpour 2021) on the same labels: summed loss 2.47-2.48 -> 1.26-2.07,
    # grad growth <= 4.3x, token_spread >= 0.077, entropy >= 2.07, cos_min median 0.96-0.98 (min 0.76) (0.3 x
    # a one-vs-rest binary cross-entropy, tried first, had cos_min medians -0.52..+0.12: not added)
    C("healthy/vit-jensen-shannon-aux", R("vit", inj.JensenShannonAuxiliary()), None, split=H10),
    # the task and 0.3 x the cross-entropy of the L2-normalised logits x 10 (a cosine softmax) on the same
    # labels: summed loss 2.41-2.85 -> 0.22-0.25, grad growth <= 1.9x, dead_fraction <= 0.27, cos_min median
    # 0.89-0.96 (min 0.56)
    C("healthy/mlp-normface-aux", R("mlp", inj.NormFaceAuxiliary()), None, split=H10),
    # held_out11 (checked likewise on raw rows, seeds 0-2: the loss's first tenth -> last tenth, no NaN, the
    # largest grad norm over its step-0 value, and the class's other rows)
    # 5 blocks of 48 at Adam 2e-3: loss 1.87-2.13 -> 0.098-0.111, grad growth <= 5.7x, dead_fraction <= 0.31
    C("healthy/mlp5-width48-adam-2e-3", R("mlp", depth=5, width=48, opt="adam", lr=2e-3), None, split=H11),
    # 3 blocks (8, 16, 24) under SGD lr 0.08: loss 2.14-2.18 -> 0.31-0.35, grad growth <= 3.9x, dead_fraction
    # 0
    C("healthy/cnn3-8-16-24-sgd-lr0.08", R("cnn", channels=(8, 16, 24), lr=0.08), None, split=H11),
    # 2 blocks of width 64 at Adam 2e-3: loss 3.35-3.38 -> 2.85-2.93, grad growth <= 1.5x, token_spread >=
    # 0.84, entropy >= 1.88
    C("healthy/gpt2-width64-lr2e-3", R("gpt", n_layer=2, d_model=64, lr=2e-3), None, split=H11),
    # width 56 at Adam 1e-3: loss 2.32-2.33 -> 0.94-1.34, grad growth <= 3.3x, token_spread >= 0.048 (seed 2's
    # minimum; 0.077, 0.133 in seeds 0-1), entropy >= 2.42
    C("healthy/vit-width56-lr1e-3", R("vit", d_model=56, lr=1e-3), None, split=H11),
    # two losses that agree: the task and 0.3 x the logit-adjusted cross-entropy (tau 1, the log class priors
    # added to the logits) on the same labels: summed loss 2.82-2.85 -> 0.56-0.76, grad growth <= 2.8x,
    # dead_fraction 0, cos_min median 1.00 (min 1.00)
    C("healthy/cnn-logit-adjusted-aux", R("cnn", inj.LogitAdjustedAuxiliary()), None, split=H11),
    # the task and 0.3 x the multi-class squared hinge loss on the same targets: summed loss 3.67-3.70 ->
    # 3.17-3.26, grad growth <= 1.8x, token_spread >= 0.865, entropy >= 1.89, cos_min median 0.73-0.81 (min
    # 0.61)
    C("healthy/gpt-squared-hinge-aux", R("gpt", inj.SquaredHingeAuxiliary()), None, split=H11),
]

CATALOGUE: list[Case] = INJECTED + HEALTHY

# tiny tier: one seed, MLP only, the cases the test suite checks
TINY = ("nonfinite/mlp-nan-batch", "dead/mlp-block2-at-60", "explode/mlp-lr-jump", "healthy/mlp")


def tier(name: str) -> list[Case]:
    if name == "tiny":
        return [c for c in CATALOGUE if c.name in TINY]
    if name == "smoke":
        return list(CATALOGUE)
    raise ValueError(f"tier must be 'tiny' or 'smoke', got {name!r}")


SEEDS = {"tiny": (0,), "smoke": (0, 1, 2)}
# --verify re-runs the first seed's diagnosis paired over these (5, as the studies' full size uses)
VERIFY_SEEDS = {"tiny": (0, 1), "smoke": (0, 1, 2, 3, 4)}
