import pytest
import torch
import torch.nn.functional as F

from layerwise.data import IGNORE_INDEX, InductionTask, induction


def test_structure_targets_and_mask():
    task = induction(n_seq=16, seq_len=12, vocab_size=7)
    assert isinstance(task, InductionTask)
    assert task.x.shape == task.y.shape == task.mask.shape == (16, 12)
    assert task.x.dtype == task.y.dtype == torch.int64 and task.mask.dtype == torch.bool
    assert torch.equal(task.x[:, :6], task.x[:, 6:]) and int(task.x.max()) < 7
    assert torch.equal(task.y[:, :-1], task.x[:, 1:]) and bool((task.y[:, -1] == -100).all())
    assert task.mask[0].tolist() == [False] * 6 + [True] * 5 + [False]
    t = torch.arange(12).expand(16, 12)[task.mask].reshape(16, -1)
    copied = torch.gather(task.x, 1, t - 6 + 1)  # the token that followed the earlier copy
    assert torch.equal(copied, task.y[task.mask].reshape(16, -1))
    assert IGNORE_INDEX == -100


def test_ignore_index_works_with_cross_entropy():
    task = induction(n_seq=4, seq_len=8, vocab_size=5)
    logits = torch.zeros(4, 8, 5)
    loss = F.cross_entropy(logits.reshape(-1, 5), task.y.reshape(-1))
    assert torch.isfinite(loss) and float(loss) == pytest.approx(torch.log(torch.tensor(5.0)))


def test_copy_accuracy():
    task = induction(n_seq=64, seq_len=16, vocab_size=8)
    oracle = F.one_hot(task.y.clamp(min=0), 8).float()
    assert task.copy_accuracy(oracle) == 1.0
    wrong = F.one_hot((task.y.clamp(min=0) + 1) % 8, 8).float()
    assert task.copy_accuracy(wrong) == 0.0
    random_logits = torch.randn(64, 16, 8, generator=torch.Generator().manual_seed(0))
    assert 0.05 < task.copy_accuracy(random_logits) < 0.25
    rows = torch.tensor([3, 5])
    assert task.copy_accuracy(oracle[rows], rows=rows) == 1.0
    with pytest.raises(ValueError, match="logits must be \\(B, seq_len, V\\)"):
        task.copy_accuracy(oracle[:2])


def test_deterministic_and_errors():
    a, b, c = induction(n_seq=8, seed=1), induction(n_seq=8, seed=1), induction(n_seq=8, seed=2)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    with pytest.raises(ValueError, match="seq_len must be even and >= 4"):
        induction(seq_len=7)
