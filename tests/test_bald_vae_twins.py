"""BALD with VAE-reconstruction twins: the twins and their bookkeeping."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skorch import NeuralNetClassifier
from torch import nn

from skactive import ActiveLearner
from skactive.generative import fit_vae, make_vae
from skactive.strategies import BALD, BALDWithVAETwins

from .conftest import tiny_net


class _HalfVAE(nn.Module):
    """Reconstruction = x / 2 + 0 * w: known twins whatever the training."""

    def __init__(self, input_shape=None, latent_dim=None):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        mu = x.flatten(1)[:, :2] * 0 + self.w
        return x / 2 + 0 * self.w, mu, torch.zeros_like(mu)


class _NoDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        return self.layers(x)


@pytest.fixture(scope="module")
def net(digits_split):
    X_init, y_init, *_ = digits_split
    return tiny_net(max_epochs=3).fit(X_init, y_init)


def test_twins_are_reconstructions_of_the_bald_picks(net, digits_split):
    X_init, _, X_pool, *_ = digits_split
    strategy = BALDWithVAETwins(n_samples=4, vae=_HalfVAE, n_iterations=2, random_state=0)
    picks = strategy.select(net, X_pool[:200], 6, X_labeled=X_init)
    assert_array_equal(picks, BALD(n_samples=4, random_state=0).select(net, X_pool[:200], 6))
    assert_array_equal(strategy.extras_.twin_sources, np.arange(6))
    assert_allclose(strategy.extras_.twins, X_pool[:200][picks] / 2, rtol=1e-6)


def test_a_round_adds_one_twin_per_label_in_the_pool_range(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    strategy = BALDWithVAETwins(n_samples=3, n_iterations=30, candidates=300)
    learner = ActiveLearner(tiny_net(max_epochs=2), strategy, random_state=0).fit(X_init, y_init)
    idx = learner.query(X_pool, n=8)
    learner.teach(X_pool[idx], y_pool[idx])
    X, y, groups = learner.training_set()
    n = len(y_init)
    assert len(y) == n + 8 + 8
    twins, twin_labels, twin_groups = X[n + 8 :], y[n + 8 :], groups[n + 8 :]
    assert_array_equal(twin_labels, y[twin_groups])
    assert twins.shape[1:] == X_pool.shape[1:] and twins.dtype == X_pool.dtype
    assert twins.min() >= X_init.min() and twins.max() <= X_init.max()
    assert len(learner.query_strategy_.vae_losses_) == 30


def test_vae_training_lowers_its_loss(digits_split):
    X_init = digits_split[0]
    vae = make_vae(X_init.shape[1:], latent_dim=8)
    losses = fit_vae(
        vae, X_init, n_iterations=150, batch_size=20, learning_rate=1e-3,
        kld_reduction="mean", rng=np.random.RandomState(0), device=torch.device("cpu"),
    )  # fmt: skip
    assert losses[-20:].mean() < 0.5 * losses[:5].mean() and not vae.training


def test_refuses_a_net_without_dropout_and_a_missing_labelled_set(net, digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    plain = NeuralNetClassifier(
        _NoDropout, criterion=nn.CrossEntropyLoss, max_epochs=1, train_split=None
    ).fit(X_init, y_init)
    with pytest.raises(ValueError, match="dropout"):
        BALDWithVAETwins(n_iterations=2).select(plain, X_pool[:50], 3, X_labeled=X_init)
    with pytest.raises(ValueError, match="X_labeled: train_on='labeled' needs"):
        BALDWithVAETwins(n_iterations=2).select(net, X_pool[:50], 3)
    with pytest.raises(ValueError, match="train_on must be one of"):
        BALDWithVAETwins(train_on="test").select(net, X_pool[:50], 3, X_labeled=X_init)
