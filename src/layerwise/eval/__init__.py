"""Evaluation of trained models: prompt sensitivity across a ladder of model sizes."""

from layerwise.eval.generators import ByteGPTGenerator, Generator, HFGenerator, as_generator, is_causal_lm
from layerwise.eval.prompt_sensitivity import (
    DEFAULT_VARIANTS,
    PromptSensitivityHarness,
    PromptSensitivityResult,
    final_integer,
    final_integer_scorer,
)

__all__ = [
    "DEFAULT_VARIANTS", "ByteGPTGenerator", "Generator", "HFGenerator", "PromptSensitivityHarness",
    "PromptSensitivityResult", "as_generator", "final_integer", "final_integer_scorer", "is_causal_lm",
]
