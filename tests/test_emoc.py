"""EMOC: the expected model output change equals its brute-force definition."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from torch import nn

from skactive import ActiveLearner
from skactive.strategies import EMOC

from .conftest import tiny_net


class TwoLayer(nn.Module):
    def __init__(self, n_in=64, n_hidden=6, n_out=10, bias=True):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out, bias=bias)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x.flatten(1)))).squeeze(-1)


def _brute_force_emoc(module, X_candidates, X_reference, gamma, binary=False):
    """One SGD step on the last layer per hypothetical label; mean L1 output change."""
    x_ref = torch.as_tensor(X_reference)
    with torch.no_grad():
        before = module(x_ref)
    scores = []
    for row in torch.as_tensor(X_candidates):
        with torch.no_grad():
            out = module(row[None])
        proba = torch.sigmoid(out) if binary else torch.softmax(out, dim=1)[0]
        labels = [0, 1] if binary else range(len(proba))
        total = 0.0
        for label in labels:
            layer = module.out
            saved = [p.detach().clone() for p in layer.parameters()]
            layer.zero_grad()
            logit = module(row[None])
            if binary:
                target = torch.tensor([float(label)])
                loss = nn.functional.binary_cross_entropy_with_logits(logit, target)
                weight = proba if label == 1 else 1 - proba
            else:
                loss = nn.functional.cross_entropy(logit, torch.tensor([label]))
                weight = proba[label]
            loss.backward()
            with torch.no_grad():
                for param in layer.parameters():
                    param -= gamma * param.grad
                change = (module(x_ref) - before).abs()
                change = change if binary else change.sum(dim=1)
                for param, value in zip(layer.parameters(), saved, strict=True):
                    param.copy_(value)
            total += float(weight) * float(change.mean())
        scores.append(total)
    return np.array(scores)


@pytest.mark.parametrize("bias", [True, False])
def test_emoc_equals_one_sgd_step_per_label(digits_split, bias):
    X_init, y_init, X_pool, *_ = digits_split
    net = NeuralNetClassifier(
        TwoLayer,
        module__bias=bias,
        criterion=nn.CrossEntropyLoss,
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
    ).fit(X_init, y_init)
    pool = X_pool[:40]
    strategy = EMOC(n_reference=1000, learning_rate=0.3, random_state=0)
    strategy.select(net, pool, 3)
    assert_array_equal(strategy.reference_, np.arange(40))  # the whole (small) pool
    expected = _brute_force_emoc(net.module_, pool, pool, gamma=0.3)
    assert_allclose(strategy.scores_, expected, rtol=1e-4)


def test_emoc_on_a_binary_net_equals_brute_force(digits):
    X, y = digits
    keep = np.isin(y, [1, 7])
    X, y = X[keep], (y[keep] == 7).astype(np.float32)
    net = NeuralNetBinaryClassifier(
        TwoLayer, module__n_out=1, max_epochs=5, lr=0.1, train_split=None, verbose=0
    ).fit(X[:60], y[:60])
    strategy = EMOC(n_reference=30, random_state=0)
    strategy.select(net, X[60:90], 3)
    expected = _brute_force_emoc(net.module_, X[60:90], X[60:90][strategy.reference_], 1.0, True)
    assert_allclose(strategy.scores_, expected, rtol=1e-4)


def test_emoc_learning_rate_scales_scores_not_picks(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=2).fit(X_init, y_init)
    one, ten = EMOC(random_state=0), EMOC(learning_rate=10.0, random_state=0)
    assert_array_equal(one.select(net, X_pool[:200], 5), ten.select(net, X_pool[:200], 5))
    assert_allclose(ten.scores_, 10 * one.scores_, rtol=1e-10)
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        EMOC(learning_rate=0).select(net, X_pool[:20], 2)


def test_emoc_through_active_learner(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), EMOC(candidates=200), random_state=0)
    learner.fit(X_init, y_init)
    for _ in range(2):
        idx = learner.query(X_pool, 5)
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.y_labeled_) == len(y_init) + 10
