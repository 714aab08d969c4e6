"""BADGE: gradient embeddings, factorised k-means++ seeding, and its campaign."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression

from skactive import _torch
from skactive.strategies import (
    BADGE,
)
from skactive.strategies.badge import gradient_embedding_factors, kmeans_plus_plus_factored


def test_gradient_embedding_is_minus_the_last_layer_gradient_at_the_predicted_label(
    net, digits_split
):
    X_pool = digits_split[2][:6]
    network = _torch.find_network(net)
    a, h = gradient_embedding_factors(network, X_pool)
    layer = _torch.find_layer(network.module, None)
    with _torch.evaluation_mode(network.module):
        for i in range(len(X_pool)):
            layer.weight.grad = None
            logits = network.module(torch.as_tensor(X_pool[i : i + 1]))
            label = logits.argmax(dim=1)
            torch.nn.functional.cross_entropy(logits, label).backward()
            explicit = -layer.weight.grad.double().numpy()
            assert_allclose(np.outer(a[i], h[i]), explicit, atol=1e-6)
    layer.weight.grad = None


def _explicit_kmeans_plus_plus(g, n, rng):
    """Reference k-means++ seeding on the formed vectors."""
    picks = [int(np.argmax((g**2).sum(axis=1)))]
    while len(picks) < n:
        d2 = ((g[:, None, :] - g[None, picks, :]) ** 2).sum(axis=2).min(axis=1)
        d2[picks] = 0.0
        picks.append(int(rng.choice(len(g), p=d2 / d2.sum())))
    return np.array(picks)


def test_factorised_seeding_equals_seeding_on_formed_gradient_embeddings():
    rng = np.random.RandomState(0)
    a, h = rng.randn(40, 3), rng.randn(40, 5)
    g = np.einsum("ic,id->icd", a, h).reshape(40, -1)
    picks = kmeans_plus_plus_factored(a, h, 10, np.random.RandomState(7))
    assert_array_equal(picks, _explicit_kmeans_plus_plus(g, 10, np.random.RandomState(7)))
    assert picks[0] == np.argmax((g**2).sum(axis=1))


def test_seeding_with_all_gradients_zero_still_returns_distinct_rows():
    a, h = np.zeros((12, 3)), np.ones((12, 4))
    picks = kmeans_plus_plus_factored(a, h, 12, np.random.RandomState(0))
    assert sorted(picks.tolist()) == list(range(12))


def test_badge_first_pick_has_the_largest_gradient_embedding(net, digits_split):
    X_pool = digits_split[2][:300]
    strategy = BADGE(random_state=0)
    picks = strategy.select(net, X_pool, 10)
    assert picks[0] == np.argmax(strategy.scores_)
    a, h = gradient_embedding_factors(_torch.find_network(net), X_pool)
    assert_allclose(strategy.scores_, np.linalg.norm(a, axis=1) * np.linalg.norm(h, axis=1))
    assert_array_equal(BADGE(random_state=0).select(net, X_pool, 10), picks)


def test_badge_needs_a_torch_net(digits_split):
    X_init, y_init, *_ = digits_split
    flat = X_init.reshape(len(X_init), -1)
    with pytest.raises(TypeError, match="estimator: BADGE needs a fitted skorch NeuralNet"):
        BADGE().select(LogisticRegression().fit(flat, y_init), flat, 2)
