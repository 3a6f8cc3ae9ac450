"""DANNTrainer: the domain loss reaches the features reversed (a mechanism test, not an accuracy claim)."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from layerwise.data import two_moons_shift
from layerwise.train import DANNTrainer
from layerwise.transforms import dann_lambda


@pytest.fixture(scope="module")
def moons():
    return two_moons_shift(n_source=128, n_target=128, seed=0)


def _trainer(domain_out=2, **kw):
    torch.manual_seed(0)
    features = nn.Sequential(nn.Linear(2, 15), nn.ReLU())
    domain = nn.Sequential(nn.Linear(15, 15), nn.ReLU(), nn.Linear(15, domain_out))
    return DANNTrainer(features, nn.Linear(15, 2), domain, **kw)


def _loaders(d, batch=32):
    gen = torch.Generator().manual_seed(0)
    source = DataLoader(TensorDataset(d.x_source, d.y_source), batch_size=batch, shuffle=True, generator=gen)
    return source, DataLoader(TensorDataset(d.x_target), batch_size=batch, shuffle=True, generator=gen)


def _grads(modules):
    return torch.cat([p.grad.reshape(-1).clone() for m in modules for p in m.parameters()])


def test_fit_follows_the_paper_schedules_and_learns_the_source(moons):
    trainer = _trainer(lr=0.05)
    hist = trainer.fit(*_loaders(moons), steps=200)
    assert len(hist["label_loss"]) == len(hist["domain_loss"]) == 200
    assert hist["lambda"][0] == 0.0
    assert hist["lambda"] == pytest.approx([dann_lambda(s / 200) for s in range(200)])
    assert hist["lr"][100] == pytest.approx(0.05 / (1 + 10 * 0.5) ** 0.75)
    acc = (trainer.predict(moons.x_source) == moons.y_source).float().mean().item()
    assert acc > 0.8  # a sanity check that the label path trains, not a claim about DANN


def test_domain_gradient_reaches_the_features_reversed(moons):
    trainer = _trainer(domain_weight=0.5)
    trainer.fit(*_loaders(moons), steps=200)
    xs, ys, xt = moons.x_source[:32], moons.y_source[:32], moons.x_target[:32]
    p = 0.4
    lam = dann_lambda(p)
    trainer.backward(xs, ys, xt, progress=p)  # the trainer's own gradient
    dann_features, dann_domain = _grads([trainer.features]), _grads([trainer.domain_head])

    trainer.optimizer.zero_grad()  # plain training: the same losses without the reversal layer
    nn.functional.cross_entropy(trainer.label_head(trainer.features(xs)), ys).backward()
    label_features = _grads([trainer.features])
    trainer.optimizer.zero_grad()
    plain = trainer.domain_loss(trainer.features(xs), 0) + trainer.domain_loss(trainer.features(xt), 1)
    (0.5 * plain).backward()
    plain_features, plain_domain = _grads([trainer.features]), _grads([trainer.domain_head])

    from_domain = dann_features - label_features  # the features' gradient due to the domain loss
    assert plain_features.norm() > 1e-4
    torch.testing.assert_close(from_domain, -lam * plain_features, rtol=1e-4, atol=1e-6)
    assert torch.dot(from_domain, plain_features) < 0  # opposite sign of plain training
    torch.testing.assert_close(dann_domain, plain_domain)  # the domain head itself is not reversed


def test_logistic_domain_head_and_loader_formats(moons):
    trainer = _trainer(domain_out=1, anneal_lr=False)
    source = [(moons.x_source[:16], moons.y_source[:16])]
    hist = trainer.fit(source, [moons.x_target[:16]], steps=3)  # a bare tensor batch for the target
    assert hist["lr"] == [0.01] * 3 and all(v > 0 for v in hist["domain_loss"])
    with pytest.raises(ValueError, match="no batch"):
        trainer.fit(source, [], steps=1)
