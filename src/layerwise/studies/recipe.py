"""Recipe: a paper's claim as arms x seeds of a training run, with smoke and full sizes."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerwise._registry import register

# run(config, arm, seed, run_dir) -> {"<recipe.metric>": value, other named results...}
RunFn = Callable[[Any, str, int, Path], Mapping[str, float]]


@dataclass(frozen=True)
class Recipe:
    """A study: ``arms[0]`` is the baseline, ``treatment`` the arm the claim is about.

    ``config`` is a frozen dataclass of defaults; ``smoke`` and ``full`` are overrides for the two
    sizes. ``run`` trains one arm for one seed, logging with a Monitor into ``run_dir``, and returns
    named numbers including ``metric``. ``summarize(config, results)`` may add study-specific
    entries (``results[arm]`` is the list of per-seed result dicts) to the verdict's ``details``;
    ``sections(config, results, out_dir)`` may return extra :class:`layerwise.report.Section`
    objects (study-specific figures and tables) for the report, after the verdict.
    """

    name: str
    paper: str
    arxiv: str
    claim: str
    metric: str
    better: str
    arms: tuple[str, ...]
    config: type
    run: RunFn
    smoke: Mapping[str, Any] = field(default_factory=dict)
    full: Mapping[str, Any] = field(default_factory=dict)
    treatment: str | None = None
    seeds: int = 3
    smoke_seeds: int = 1
    summarize: Callable[[Any, dict[str, list[dict]]], dict] | None = None
    sections: Callable[[Any, dict[str, list[dict]], Path], list] | None = None

    def __post_init__(self) -> None:
        if self.better not in ("lower", "higher"):
            raise ValueError(f"recipe {self.name}: better must be 'lower' or 'higher'")
        if len(self.arms) < 2:
            raise ValueError(f"recipe {self.name}: needs a baseline and at least one treatment arm")
        if self.treatment is not None and self.treatment not in self.arms[1:]:
            raise ValueError(f"recipe {self.name}: treatment {self.treatment!r} is not a non-baseline arm")

    @property
    def baseline(self) -> str:
        return self.arms[0]

    @property
    def treatment_arm(self) -> str:
        return self.treatment or self.arms[1]

    def make_config(self, mode: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """Defaults, then the mode's sizes, then user overrides (strings are parsed by field type)."""
        if mode not in ("smoke", "full"):
            raise ValueError(f"mode must be 'smoke' or 'full', got {mode!r}")
        cfg = dataclasses.replace(self.config(), **(self.smoke if mode == "smoke" else self.full))
        return apply_overrides(cfg, overrides or {})


def apply_overrides(cfg: Any, overrides: Mapping[str, Any]) -> Any:
    """``cfg`` with fields replaced; string values are converted to the field's type."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ValueError(f"unknown setting {key!r} for {type(cfg).__name__}; valid: {', '.join(fields)}")
        changes[key] = _convert(key, value, hints[key]) if isinstance(value, str) else value
    return dataclasses.replace(cfg, **changes)


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


def study(recipe: Recipe) -> Recipe:
    """Register ``recipe`` as a study (``layerwise ls``, ``layerwise run NAME``)."""
    holder = _RecipeHandle(recipe)
    register(recipe.name, kind="study", paper=recipe.paper, arxiv=recipe.arxiv)(holder)
    return recipe


class _RecipeHandle:
    """Registry entry of a study; calling it returns the Recipe."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.__doc__ = recipe.claim
        self.__module__ = recipe.run.__module__
        self.__qualname__ = f"study:{recipe.name}"

    def __call__(self) -> Recipe:
        return self.recipe
