"""``Study``: a paper's claim as a config, arms (config deltas), a decision rule and one ``trial``.

A study file declares what is compared and how it is judged, and writes one readable
``trial(cfg, t)`` that trains or measures one arm for one seed. The runner
(:func:`layerwise.studies.run_study`) owns threads, seeding, run folders, metadata, divergence,
sanity gates, the verdict and the report. Subclassing registers the study (``layerwise ls``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from layerwise._registry import register
from layerwise.studies._rules import Gate, Rule

SIZES = ("tiny", "smoke", "full")


@dataclasses.dataclass(frozen=True)
class Profile:
    """A per-layer reading of each run's RunLog, reduced to one number per trial:
    ``reduce(layer_profile(table, metric))`` (for example ``depth_ratio``)."""

    metric: str
    reduce: Callable[[dict[str, float]], float]
    last_fraction: float = 0.2


class Study:
    """Base of every study. Class attributes declare it; ``trial`` is the one method to write.

    ``Config`` is a frozen dataclass whose defaults are the registered full size; ``sizes`` maps
    ``"tiny"`` (tests, seconds) and ``"smoke"`` (CLI default, under a minute) to config deltas;
    ``arms`` maps arm names to config deltas (the first arm is the reference); ``rule`` is the
    claim's decision rule; ``gates`` say what "learned" means; ``profiles`` read per-layer numbers
    from each run's RunLog into the trial's results; ``seeds`` gives the seed count per size.
    """

    name: ClassVar[str]
    paper: ClassVar[str]
    arxiv: ClassVar[str]
    claim: ClassVar[str]
    Config: ClassVar[type]
    rule: ClassVar[Rule]
    arms: ClassVar[Mapping[str, Mapping[str, Any]]] = {"run": {}}
    sizes: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    seeds: ClassVar[Mapping[str, int]] = {"tiny": 1, "smoke": 1, "full": 5}
    gates: ClassVar[tuple[Gate, ...]] = ()
    profiles: ClassVar[Mapping[str, Profile]] = {}
    also: ClassVar[tuple[Rule, ...]] = ()  # secondary claims: judged and reported, not deciding
    cost_note: ClassVar[str] = ""  # why the full size uses fewer than 5 seeds, when it does
    no_gate: ClassVar[str] = ""  # why a study has no sanity gate (a pretrained model, say)

    def trial(self, cfg: Any, t: Any) -> Mapping[str, Any]:
        """Train or measure arm ``t.arm`` for seed ``t.seed``; return named numbers (floats, or
        lists of floats for per-layer readings) including ``rule.metric``."""
        raise NotImplementedError

    def sections(self, cfg: Any, results: dict[str, list[dict]], out_dir: Any) -> list:
        """Optional extra report sections (figures, tables) after the verdict."""
        return []

    def config(self, size: str = "full", overrides: Mapping[str, Any] | None = None,
               arm: str | None = None) -> Any:
        """Defaults, then ``size``'s delta, then ``overrides`` (strings parsed by field type),
        then ``arm``'s delta."""
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
        cfg = dataclasses.replace(self.Config(), **self.sizes.get(size, {}))
        cfg = apply_overrides(cfg, overrides or {})
        check_ranges(cfg, self.Config())
        if arm is not None:
            if arm not in self.arms:
                raise ValueError(f"study {self.name} has no arm {arm!r}; arms: {', '.join(self.arms)}")
            cfg = dataclasses.replace(cfg, **self.arms[arm])
        return cfg

    def __init_subclass__(cls, *, registered: bool = True, **kwargs: Any) -> None:
        """Validate the declaration; ``registered=False`` keeps a study (a test's) out of the
        registry, so ``layerwise ls`` and the claims table do not list it."""
        super().__init_subclass__(**kwargs)
        _validate(cls)
        if registered:
            register(cls.name, kind="study", paper=cls.paper, arxiv=cls.arxiv)(cls)


def _validate(cls: type[Study]) -> None:
    """Arm and size deltas name Config fields; the rule's arms exist: checked at import."""
    for attr in ("name", "paper", "arxiv", "claim", "Config", "rule"):
        if not hasattr(cls, attr):
            raise TypeError(f"study {cls.__name__} must declare {attr}")
    if not dataclasses.is_dataclass(cls.Config):
        raise TypeError(f"study {cls.name}: Config must be a dataclass")
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    for label, deltas in (("arm", cls.arms), ("size", cls.sizes)):
        for key, delta in deltas.items():
            unknown = set(delta) - fields
            if unknown:
                raise TypeError(f"study {cls.name}: {label} {key!r} sets unknown config fields "
                                f"{sorted(unknown)}; valid: {sorted(fields)}")
    unknown_sizes = set(cls.sizes) - set(SIZES)
    if unknown_sizes:
        raise TypeError(f"study {cls.name}: unknown sizes {sorted(unknown_sizes)}; use {SIZES}")
    for rule in (cls.rule, *cls.also):
        missing = set(rule.arms) - set(cls.arms)
        if missing:
            raise TypeError(f"study {cls.name}: rule names arms {sorted(missing)} not in arms "
                            f"{list(cls.arms)}")
    for gate in cls.gates:
        missing = set(gate.arms or ()) - set(cls.arms)
        if missing:
            raise TypeError(f"study {cls.name}: gate names arms {sorted(missing)} not in arms")


def apply_overrides(cfg: Any, overrides: Mapping[str, Any]) -> Any:
    """``cfg`` with fields replaced; string values are converted to the field's type."""
    fields = {f.name for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes = {}
    for key, value in overrides.items():
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(key, sorted(fields), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"unknown setting {key!r} for {type(cfg).__name__}{hint}; "
                             f"valid: {', '.join(sorted(fields))}")
        changes[key] = _convert(key, value, hints[key]) if isinstance(value, str) else value
    return dataclasses.replace(cfg, **changes)


COUNTS = ("steps", "epochs", "batch_size", "seq_len", "every", "batches", "layer", "head", "model",
          "width", "depth", "tasks", "rounds", "clients", "nets", "seeds")


def check_ranges(cfg: Any, full: Any) -> None:
    """Refuse settings outside their range before anything runs. A field may declare
    ``metadata={"min": x, "max": y}``; otherwise a count (an int named like ``steps``,
    ``batch_size``, ``n_layer``...) must be >= 1, any other int whose registered value is >= 0
    stays >= 0, and a float whose registered value is positive stays > 0."""
    for f in dataclasses.fields(cfg):
        value, registered = getattr(cfg, f.name), getattr(full, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        low, high = f.metadata.get("min"), f.metadata.get("max")
        if low is None and isinstance(registered, int) and not isinstance(registered, bool):
            if registered >= 1 and (f.name.split("_")[-1] in COUNTS or f.name in COUNTS):
                low = 1
            elif registered >= 0:
                low = 0
        elif low is None and isinstance(registered, float) and registered > 0 and value <= 0:
            raise ValueError(f"setting {f.name}={value} is out of range: it must be > 0 "
                             f"(registered {registered})")
        if low is not None and value < low:
            raise ValueError(f"setting {f.name}={value} is out of range: it must be >= {low} "
                             f"(registered {registered})")
        if high is not None and value > high:
            raise ValueError(f"setting {f.name}={value} is out of range: it must be <= {high} "
                             f"(registered {registered})")


def _convert(key: str, text: str, hint: Any) -> Any:
    target = hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if text.lower() == "none" and type(None) in typing.get_args(hint):
            return None
        target = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if target is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if typing.get_origin(target) is tuple:
            inner = typing.get_args(target)[0]
            return tuple(inner(v) for v in text.split(",") if v)
        return target(text)
    except (TypeError, ValueError):
        raise ValueError(f"setting {key}={text!r}: expected {getattr(target, '__name__', target)}") from None
