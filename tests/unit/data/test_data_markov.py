import math

import pytest
import torch

from layerwise.data import MarkovCorpus, TextCorpus, markov_tokens
from layerwise.data._markov import context_ids


def _val_nll(corpus, tokens):
    ctx = context_ids(tokens, vocab_size=corpus.vocab_size, order=corpus.order)
    return float(-torch.log(corpus.transition[ctx, tokens[corpus.order :]]).mean())


def test_fields_dtypes_and_split():
    corpus = markov_tokens(vocab_size=16, n_tokens=10_000, val_fraction=0.1)
    assert isinstance(corpus, TextCorpus) and isinstance(corpus, MarkovCorpus)
    assert corpus.train.dtype == corpus.val.dtype == torch.int64
    assert (len(corpus.train), len(corpus.val)) == (9000, 1000)
    assert int(corpus.train.min()) >= 0 and int(corpus.train.max()) < 16
    assert corpus.transition.shape == (16, 16)
    torch.testing.assert_close(corpus.transition.sum(1), torch.ones(16, dtype=torch.float64))
    x, y = corpus.batch(4, 8, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1])
    assert corpus.decode(torch.tensor([3, 14])) == "3 14"


@pytest.mark.parametrize("order", [1, 2])
def test_entropy_rate_is_the_loss_floor(order):
    corpus = markov_tokens(vocab_size=8, n_tokens=60_000, order=order, seed=order)
    assert corpus.transition.shape == (8**order, 8)
    assert 0 < corpus.entropy_rate < math.log(8)
    assert _val_nll(corpus, corpus.val) == pytest.approx(corpus.entropy_rate, abs=0.05)
    counts = torch.ones(8**order, 8, dtype=torch.float64)  # add-one bigram model from train
    ctx = context_ids(corpus.train, vocab_size=8, order=order)
    counts.index_put_((ctx, corpus.train[order:]), torch.ones(len(ctx), dtype=torch.float64),
                      accumulate=True)
    fitted = counts / counts.sum(1, keepdim=True)
    vctx = context_ids(corpus.val, vocab_size=8, order=order)
    fitted_nll = float(-torch.log(fitted[vctx, corpus.val[order:]]).mean())
    assert fitted_nll > _val_nll(corpus, corpus.val) - 1e-3


def test_concentration_controls_entropy():
    peaked = markov_tokens(vocab_size=32, n_tokens=5000, concentration=0.05)
    flat = markov_tokens(vocab_size=32, n_tokens=5000, concentration=50.0)
    assert peaked.entropy_rate < 2.0 < 3.3 < flat.entropy_rate < math.log(32)


def test_deterministic_seeded_and_global_rng_untouched():
    state = torch.get_rng_state()
    a = markov_tokens(vocab_size=300, n_tokens=3000, seed=1)
    b = markov_tokens(vocab_size=300, n_tokens=3000, seed=1)
    c = markov_tokens(vocab_size=300, n_tokens=3000, seed=2)
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(a.train, b.train) and torch.equal(a.transition, b.transition)
    assert a.entropy_rate == b.entropy_rate
    assert not torch.equal(a.train, c.train) and int(a.train.max()) > 255


def test_errors():
    with pytest.raises(ValueError, match="need vocab_size >= 2"):
        markov_tokens(vocab_size=1)
    with pytest.raises(ValueError, match="vocab_size \\*\\* \\(order \\+ 1\\)"):
        markov_tokens(vocab_size=64, order=4)
    with pytest.raises(ValueError, match="n_tokens must exceed order \\+ 1"):
        markov_tokens(n_tokens=2)
