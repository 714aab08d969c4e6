"""The VAE module and VAAL: known answers."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from torch import nn

from skactive import ActiveLearner
from skactive.generative import MLPVAE, ConvVAE, kl_divergence, make_vae, vae_loss
from skactive.strategies import VAAL
from skactive.strategies import vaal as vaal_module

from .conftest import tiny_net


def _fitted_dummy(X):
    return DummyClassifier().fit(np.asarray(X).reshape(len(X), -1), np.arange(len(X)) % 2)


def test_kl_divergence_known_values():
    zeros = torch.zeros(5, 3)
    assert float(kl_divergence(zeros, zeros)) == 0.0
    ones = torch.ones(5, 3)
    assert float(kl_divergence(ones, zeros)) == pytest.approx(0.5 * 5 * 3)
    assert float(kl_divergence(ones, zeros, reduction="mean")) == pytest.approx(0.5 * 3)
    x = torch.rand(5, 4)
    assert float(vae_loss(x, x, ones, zeros, beta=2.0)) == pytest.approx(2 * 0.5 * 5 * 3)
    with pytest.raises(ValueError, match="reduction must be"):
        kl_divergence(ones, zeros, reduction="max")


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (2, 5, 11), (64,)])
def test_vae_reconstructs_the_input_shape(shape):
    vae = make_vae(shape, latent_dim=6)
    assert isinstance(vae, MLPVAE if len(shape) == 1 else ConvVAE)
    x = torch.rand(4, *shape)
    recon, mu, logvar = vae(x)
    assert recon.shape == x.shape and mu.shape == logvar.shape == (4, 6)
    vae.eval()
    # Eval mode decodes the mean: deterministic.
    assert torch.equal(vae(x)[0], vae(x)[0])


def test_reference_width_gives_the_reference_size():
    vae = ConvVAE((3, 32, 32), latent_dim=32, width=128)
    assert 22e6 < sum(p.numel() for p in vae.parameters()) < 23e6


@pytest.mark.parametrize("shape", [(8, 8), (1, 2, 2), (1, 8, 8, 8), (1, 512, 512)])
def test_default_vae_refuses_shapes_it_cannot_handle(shape):
    with pytest.raises(ValueError, match=r"vae: the default VAE takes rows of shape.*pass vae="):
        make_vae(shape)


class _FirstFeatureVAE(nn.Module):
    """mu = x[:, :1]; a parameter with no effect keeps the optimiser satisfied."""

    def __init__(self, input_shape=None, latent_dim=None):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        mu = x[:, :1] + 0 * self.unused  # differentiable, so the optimisers can step
        return x + 0 * self.unused, mu, torch.zeros_like(mu)


class _SigmoidOfMu(nn.Module):
    """Logit = mu, so P(labelled) = sigmoid(mu)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, mu):
        return mu + 0 * self.unused


def test_vaal_queries_the_lowest_probability_of_being_labelled(monkeypatch):
    monkeypatch.setattr(vaal_module, "_discriminator", lambda latent_dim: _SigmoidOfMu())
    rng = np.random.RandomState(0)
    X_pool, X_labeled = rng.randn(50, 3).astype(np.float32), rng.randn(10, 3).astype(np.float32)
    strategy = VAAL(vae=_FirstFeatureVAE, n_iterations=2, random_state=0)
    picks = strategy.select(_fitted_dummy(X_pool), X_pool, 5, X_labeled=X_labeled)
    assert_array_equal(picks, np.argsort(X_pool[:, 0])[:5])
    assert_allclose(strategy.scores_, 1 / (1 + np.exp(-X_pool[:, 0].astype(float))), rtol=1e-6)


@pytest.mark.slow
def test_vaal_picks_the_classes_the_labelled_set_lacks(digits):
    X, y = digits
    order = np.random.RandomState(0).permutation(len(X))
    labeled = order[y[order] < 5][:200]
    pool = np.setdiff1d(order, labeled)[:800]
    model = LogisticRegression(max_iter=200).fit(X[labeled].reshape(200, -1), y[labeled])
    assert np.mean(y[pool] >= 5) < 0.6
    for seed in (0, 1):
        picks = VAAL(n_iterations=100, random_state=seed).select(
            model, X[pool], 30, X_labeled=X[labeled]
        )
        assert np.mean(y[pool][picks] >= 5) > 0.75


def test_vaal_scores_do_not_depend_on_the_scoring_batch(digits_split):
    X_init, _, X_pool, *_ = digits_split
    model = _fitted_dummy(X_pool)
    strategies = [VAAL(n_iterations=5, batch_size=size, random_state=0) for size in (1, 512)]
    for strategy in strategies:
        strategy.select(model, X_pool[:100], 4, X_labeled=X_init)
    assert_allclose(strategies[0].scores_, strategies[1].scores_, rtol=1e-5)
    assert not strategies[0].vae_.training and not strategies[0].discriminator_.training


def test_vaal_through_active_learner_with_a_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(
        tiny_net(max_epochs=2), VAAL(n_iterations=10, candidates=300), random_state=0
    )
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 5
    again = ActiveLearner(
        tiny_net(max_epochs=2), VAAL(n_iterations=10, candidates=300), random_state=0
    ).fit(X_init, y_init)
    assert_array_equal(again.query(X_pool, n=5), idx)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"vae": "conv"}, "vae must be None or a callable"),
        ({"kld_reduction": "max"}, "kld_reduction must be one of"),
        ({"learning_rate": 0.0}, "learning_rate must be a positive number"),
        ({"beta": -1.0}, "beta must be a non-negative number"),
        ({"vae": lambda input_shape, latent_dim: "no module"}, "vae: the factory returned str"),
    ],
)
def test_vaal_refuses_bad_parameters(params, message, digits_split):
    X_init, _, X_pool, *_ = digits_split
    strategy = VAAL(n_iterations=2, **params)
    with pytest.raises(ValueError, match=message):
        strategy.select(_fitted_dummy(X_pool), X_pool[:30], 2, X_labeled=X_init)
    assert not hasattr(strategy, "indices_")


def test_vaal_refuses_rows_the_default_vae_cannot_handle_and_a_missing_labelled_set():
    X = np.random.RandomState(0).rand(30, 4, 3).astype(np.float32)
    with pytest.raises(ValueError, match="pass vae="):
        VAAL(n_iterations=2).select(_fitted_dummy(X), X, 2, X_labeled=X[:5])
    with pytest.raises(ValueError, match="X_labeled: VAAL needs the labelled rows"):
        VAAL(n_iterations=2).select(_fitted_dummy(X), X, 2)
