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
recipes no doctor rule was written or tuned on (14 of 45 injection recipes, mostly on the CNN and
the ViT, which no doctor example or test uses; the healthy CNN and ViT configurations likewise);
``tuned`` marks the rest, including the recipes the doctor's examples and tests resemble
(a dead block from the start, a learning rate far too large, a hot GPT, a std-1 tanh MLP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


VANISH = ("init", "insert_norm_before_activations", "replace_activations", "add_noise")
EXPLODE = ("clip_per_layer", "learning_rate", "layernorm_scaling")
DEAD = ("replace_activations", "learning_rate", "project_to_init_norm", "init")
CORRUPT = ()  # a NaN batch or a corrupted weight: a data/hardware fault no model-side remedy prevents
SPIKE = ("clip_per_layer", "learning_rate", "norm_placement")
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

C, H = Case, "held_out"
INJECTED: list[Case] = [
    # vanishing gradients
    C("vanish/mlp-sigmoid-deep", R("mlp", inj.Sigmoid(), depth=10, init="xavier"), "vanishing gradients",
      (0, 6), 0, VANISH),
    C("vanish/mlp-default-init-deep", R("mlp", depth=16, init="default"), "vanishing gradients",
      (0, 12), 0, VANISH),
    C("vanish/mlp-tanh-tiny-init", R("mlp", depth=10, act="tanh", init=0.05), "vanishing gradients",
      (0, 7), 0, VANISH, H),
    # exploding gradients
    C("explode/mlp-lr-jump", R("mlp", inj.LR(60, 40.0)), "exploding gradients", (0, 3), 61, EXPLODE,
      also=("non-finite values",)),
    C("explode/mlp8-lr-jump", R("mlp", inj.LR(70, 20.0), depth=8), "exploding gradients", (0, 7), 71,
      EXPLODE, also=("non-finite values",)),
    # dead units
    C("dead/mlp-block2-at-60", R("mlp", edit(60, "blocks.2.linear", inj.fill("bias", -50.0))),
      "dead units", (2, 2), 60, DEAD),
    C("dead/mlp-block1-from-start", R("mlp", edit(0, "blocks.1.linear", inj.fill("bias", -50.0))),
      "dead units", (1, 1), 0, DEAD),
    C("dead/cnn-block1-bn-at-50", R("cnn", edit(50, "blocks.1.bn", inj.fill("bias", -50.0))),
      "dead units", (1, 1), 50, DEAD, H),
    # non-finite values
    C("nonfinite/mlp-nan-batch", R("mlp", inj.Batch(70, inj.nan_inputs, 71)), "non-finite values",
      (0, 0), 70, CORRUPT),
    C("nonfinite/cnn-inf-batch", R("cnn", inj.Batch(60, inj.inf_inputs, 61)), "non-finite values",
      (0, 0), 60, CORRUPT),
    C("nonfinite/gpt-nan-weight", R("gpt", edit(40, "blocks.1.mlp.fc", inj.poke("weight", NAN))),
      "non-finite values", (1, 1), 40, CORRUPT, H),
    C("nonfinite/vit-inf-weight", R("vit", edit(40, "blocks.2.attn.proj", inj.poke("weight", INF))),
      "non-finite values", (2, 2), 40, CORRUPT),
    # loss spike
    C("spike/mlp-lr-burst", R("mlp", inj.LR(80, 20.0, 85)), "loss spike", None, 81, SPIKE),
    C("spike/cnn-one-label-shard", R("cnn", inj.Batch(70, inj.one_label(3), 76)), "loss spike", None, 70,
      SPIKE, H),
    C("spike/gpt-lr-burst", R("gpt", inj.LR(60, 30.0, 65)), "loss spike", None, 61, SPIKE),
    C("spike/vit-one-label-shard", R("vit", inj.Batch(60, inj.one_label(3), 66)), "loss spike", None, 60,
      SPIKE),
    # massive activations (one channel of one position, carried by the residual stream)
    C("massive/gpt-position0", R("gpt", edit(30, "pos_emb", inj.poke("weight", 1e3, 5))),
      "massive activations", (0, 2), 30, MASSIVE),
    C("massive/gpt4-position0", R("gpt", edit(30, "pos_emb", inj.poke("weight", 1e3, 9)), n_layer=4),
      "massive activations", (0, 3), 30, MASSIVE),
    C("massive/vit-cls", R("vit", edit(30, "", inj.poke("pos_emb", 1e3, 5))),
      "massive activations", (0, 2), 30, MASSIVE, H),
    # update too large / too small (optimizer configuration)
    C("update-large/mlp-adam-lr-0.05", R("mlp", opt="adam", lr=0.05), "update too large", (0, 3), 0, LARGE),
    C("update-large/cnn-adam-lr-0.2", R("cnn", opt="adam", lr=0.2), "update too large", (0, 2), 0, LARGE, H),
    C("update-large/cnn-sgd-lr-jump-60x", R("cnn", inj.LR(50, 60.0)), "update too large", (0, 2), 51, LARGE,
      H),
    C("update-small/mlp-sgd-lr-1e-5", R("mlp", lr=1e-5), "update too small", (0, 3), 0, SMALL,
      also=("no progress",)),
    C("update-small/gpt-adam-lr-1e-6", R("gpt", lr=1e-6), "update too small", (0, 2), 0, SMALL, H,
      also=("no progress",)),
    C("update-small/vit-adam-lr-1e-6", R("vit", lr=1e-6), "update too small", (0, 2), 0, SMALL,
      also=("no progress",)),
    # no progress (data/label faults; a learning rate of 0)
    C("stall/mlp-shuffled-labels", R("mlp", inj.Batch(0, inj.shuffled_labels(10))), "no progress", None, 0,
      NO_SIGNAL),
    C("stall/cnn-shuffled-labels", R("cnn", inj.Batch(0, inj.shuffled_labels(10))), "no progress", None, 0,
      NO_SIGNAL, H),
    C("stall/gpt-shuffled-targets", R("gpt", inj.Batch(0, inj.shuffled_labels(32))), "no progress", None, 0,
      NO_SIGNAL),
    C("stall/mlp-lr-0", R("mlp", lr=0.0), "no progress", None, 0, STALL, also=("update too small",)),
    # saturation
    C("saturation/mlp-tanh-std1", R("mlp", act="tanh", init=1.0), "saturation", (0, 3), 0, SATURATE),
    C("saturation/mlp-sigmoid-std2", R("mlp", inj.Sigmoid(), init=2.0), "saturation", (0, 3), 0, SATURATE, H),
    C("saturation/mlp-tanh-lr-jump", R("mlp", inj.LR(60, 20.0), act="tanh", init="xavier"), "saturation",
      (0, 3), 61, SATURATE),
    # attention-logit growth
    C("logits/gpt-lr-10x", R("gpt", lr=3e-2), "attention-logit growth", (0, 2), 0, LOGITS),
    C("logits/vit-lr-jump-30x", R("vit", inj.LR(50, 30.0)), "attention-logit growth", (0, 2), 51, LOGITS, H),
    C("logits/gpt-qk-scale-block0", R("gpt", edit(30, "blocks.0.attn", inj.qk_scale(10.0))),
      "attention-logit growth", (0, 0), 30, LOGITS),
    C("logits/vit-qk-scale-block1", R("vit", edit(40, "blocks.1.attn", inj.qk_scale(20.0))),
      "attention-logit growth", (1, 1), 40, LOGITS, H),
    # attention-entropy collapse
    C("entropy/gpt-qk-scale-block2", R("gpt", edit(30, "blocks.2.attn", inj.qk_scale(30.0))),
      "attention-entropy collapse", (2, 2), 30, LOGITS, also=("attention-logit growth",)),
    C("entropy/vit-qk-scale-block0", R("vit", edit(30, "blocks.0.attn", inj.qk_scale(30.0))),
      "attention-entropy collapse", (0, 0), 30, LOGITS, also=("attention-logit growth",)),
    # rank collapse
    C("rank/vit-uniform-attention-block1",
      R("vit", edit(40, "blocks.1.attn", inj.uniform_attention(300.0), True)), "rank collapse", (1, 2), 40,
      RANK),
    C("rank/vit4-uniform-attention-block2",
      R("vit", edit(40, "blocks.2.attn", inj.uniform_attention(300.0), True), n_layer=4), "rank collapse",
      (2, 3), 40, RANK, H),
    # unused depth
    C("depth/gpt-block2-zeroed", R("gpt", edit(20, "blocks.2.attn.proj", inj.zero_all, True),
                                   edit(20, "blocks.2.mlp.proj", inj.zero_all, True)),
      "unused depth", (2, 2), 20, DEPTH),
    C("depth/vit-block1-zeroed", R("vit", edit(20, "blocks.1.attn.proj", inj.zero_all, True),
                                   edit(20, "blocks.1.mlp.proj", inj.zero_all, True)),
      "unused depth", (1, 1), 20, DEPTH, H),
    # gradient conflict (two named losses trained on their sum; train() logs their per-layer conflict)
    C("conflict/mlp-shifted-labels", R("mlp", inj.TwoLosses(10)), "gradient conflict", None, 0, CONFLICT),
    C("conflict/vit-shifted-labels", R("vit", inj.TwoLosses(10)), "gradient conflict", None, 0, CONFLICT),
    C("conflict/cnn-shifted-labels", R("cnn", inj.TwoLosses(10)), "gradient conflict", None, 0, CONFLICT),
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
