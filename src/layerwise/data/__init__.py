"""Offline datasets and synthetic tasks of layerwise; nothing here touches the network.

Every public loader is registered with ``kind="dataset"`` (see ``layerwise.list_methods``).
"""

from layerwise.data._composites import Composites, digit_composites
from layerwise.data._digits import digits, stratified_split
from layerwise.data._entities import RELATION_PAIRS, EntityFacts, entity_facts
from layerwise.data._fashion_mnist import fashion_mnist
from layerwise.data._idx import IdxFormatError, read_idx, write_idx
from layerwise.data._induction import IGNORE_INDEX, InductionTask, induction
from layerwise.data._kv_facts import SPECIAL_TOKENS, KVFacts, kv_facts
from layerwise.data._markov import MarkovCorpus, markov_tokens
from layerwise.data._mnist1d import generate_arrays as _mnist1d_arrays
from layerwise.data._mnist1d import mnist1d
from layerwise.data._moons import DomainShift, two_moons_shift
from layerwise.data._multitask import MultiTaskRegression, multitask_regression
from layerwise.data._poisson import poisson_2d, poisson_matvec, poisson_modes, poisson_rhs
from layerwise.data._seq_maps import SmoothSeqMap, smooth_seq_map
from layerwise.data._text import stdlib_bytes as _stdlib_bytes
from layerwise.data._text import text_corpus
from layerwise.data._types import Split, TextCorpus
from layerwise.data._word_problems import WordProblems, word_problems


def clear_caches() -> None:
    """Drop the in-process caches (MNIST-1D arrays, standard-library text)."""
    _mnist1d_arrays.cache_clear()
    _stdlib_bytes.cache_clear()


__all__ = [
    "IGNORE_INDEX",
    "SPECIAL_TOKENS",
    "Composites",
    "DomainShift",
    "EntityFacts",
    "IdxFormatError",
    "InductionTask",
    "KVFacts",
    "MarkovCorpus",
    "MultiTaskRegression",
    "RELATION_PAIRS",
    "SmoothSeqMap",
    "Split",
    "TextCorpus",
    "WordProblems",
    "clear_caches",
    "digit_composites",
    "digits",
    "entity_facts",
    "fashion_mnist",
    "induction",
    "kv_facts",
    "markov_tokens",
    "mnist1d",
    "multitask_regression",
    "poisson_2d",
    "poisson_matvec",
    "poisson_modes",
    "poisson_rhs",
    "read_idx",
    "smooth_seq_map",
    "stratified_split",
    "text_corpus",
    "two_moons_shift",
    "word_problems",
    "write_idx",
]
