"""BGADL: the VAE-ACGAN-augmented net (its known answers) and BALD on it through the learner."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skactive import ActiveLearner
from skactive.datasets import load_digits_images
from skactive.experiments.registry import estimator_for, make_strategy
from skactive.models import make_net
from skactive.nets import GenerativeAugmentationNet
from skactive.param_validation import InvalidParameterError
from skactive.strategies import BALD, BGADL

from .conftest import tiny_net


def _generative(**params):
    settings = dict(net_class=GenerativeAugmentationNet, random_state=0)
    settings.update(params)
    return tiny_net(**settings)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images()
    return X[:600], y[:600], X[600:900], y[600:900]


@pytest.fixture(scope="module")
def trained(digits):
    X, y, *_ = digits
    torch.manual_seed(0)  # the classifier's dropout and batches
    return _generative(max_epochs=20).fit(X[:400], y[:400])


def test_with_the_generated_terms_at_zero_it_trains_exactly_like_the_plain_net(digits):
    X, y, *_ = digits
    torch.manual_seed(0)
    plain = tiny_net(max_epochs=3).fit(X[:200], y[:200])
    torch.manual_seed(0)
    silent = _generative(max_epochs=3, generated_weight=0.0, reconstruction_weight=0.0)
    silent.fit(X[:200], y[:200])
    for (name, a), (_, b) in zip(
        plain.module_.state_dict().items(), silent.module_.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    # ... while its VAE-ACGAN did train, and the generated terms change the classifier.
    assert len(silent.generative_losses_) == 3
    torch.manual_seed(0)
    loud = _generative(max_epochs=3).fit(X[:200], y[:200])
    assert not torch.equal(loud.module_.classifier[-1].weight, plain.module_.classifier[-1].weight)


@pytest.mark.slow
def test_samples_have_the_rows_shape_and_range_and_carry_their_label(trained, digits):
    X, *_ = digits
    samples, labels = trained.sample(20, random_state=0)
    assert samples.shape == (200, *X.shape[1:]) and samples.dtype == np.float32
    assert samples.min() >= X.min() and samples.max() <= X.max()
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 20))
    # The auxiliary classifier term makes G(z, y) look like class y to the classifier.
    agreement = float(np.mean(trained.predict(samples) == labels))
    assert agreement > 0.3, agreement  # chance: 0.1
    again, _ = trained.sample(20, random_state=0)
    np.testing.assert_array_equal(samples, again)


@pytest.mark.slow
def test_reconstructions_resemble_their_row_and_carry_the_given_label(trained, digits):
    _, _, X_new, y_new = digits
    recon = trained.reconstruct(X_new[:100], y_new[:100])
    assert recon.shape == X_new[:100].shape
    own = np.linalg.norm((recon - X_new[:100]).reshape(100, -1), axis=1)
    other = np.linalg.norm((recon - X_new[100:200]).reshape(100, -1), axis=1)
    assert np.mean(own < other) > 0.65  # chance: 0.5
    assert np.mean(trained.predict(recon) == y_new[:100]) > 0.5


@pytest.mark.slow
def test_generator_and_discriminator_are_registered_optimised_and_pickled(trained, digits):
    X, *_ = digits
    fresh = _generative(max_epochs=1).initialize_for(X)
    for part in ("encoder_", "generator_", "discriminator_"):
        start = getattr(fresh, part).state_dict()
        end = getattr(trained, part).state_dict()
        assert any(not torch.equal(start[k], end[k]) for k in start), part
        assert part in trained.prefixes_ or part.rstrip("_") in trained.prefixes_
    for name in ("encoder_optimizer_", "generator_optimizer_", "discriminator_optimizer_"):
        assert isinstance(getattr(trained, name), torch.optim.Adam)
    classifier = {id(p) for p in trained.module_.parameters()}
    assert {id(p) for _, p in trained.get_all_learnable_params()} == classifier
    restored = pickle.loads(pickle.dumps(trained))
    for k, v in trained.generator_.state_dict().items():
        torch.testing.assert_close(restored.generator_.state_dict()[k], v)
    np.testing.assert_array_equal(
        restored.sample(2, random_state=1)[0], trained.sample(2, random_state=1)[0]
    )
    started = clone(trained).set_params(max_epochs=1).initialize_for(X)
    for k, v in fresh.generator_.state_dict().items():
        torch.testing.assert_close(started.generator_.state_dict()[k], v)  # a clone starts fresh


@pytest.mark.slow
def test_bald_on_the_bgadl_net_is_not_zero_and_follows_a_permuted_pool(trained, digits):
    _, _, X_pool, _ = digits
    strategy = BGADL(n_samples=30, random_state=0)
    strategy.select(trained, X_pool, 10)
    scores = strategy.scores_.copy()
    assert scores.max() > 1e-3
    order = np.random.RandomState(0).permutation(len(X_pool))
    permuted = BGADL(n_samples=30, random_state=0)
    permuted.select(trained, X_pool[order], 10)
    # Other dropout masks fall on each row, so equal up to MC noise (the
    # conformance suite checks the exact alignment).
    assert np.corrcoef(permuted.scores_, scores[order])[0, 1] > 0.8


def test_bgadl_through_the_active_learner(digits):
    X, y, X_pool, y_pool = digits
    learner = ActiveLearner(_generative(max_epochs=4), BGADL(n_samples=4), random_state=0)
    learner.fit(X[:60], y[:60])
    idx = learner.query(X_pool, n=10)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == 70
    assert isinstance(learner.estimator_, GenerativeAugmentationNet)
    assert learner.estimator_.generative_losses_  # the refit trained the VAE-ACGAN
    samples, _ = learner.estimator_.sample(1)
    assert samples.shape == (10, 1, 8, 8)


def test_the_runner_names_lead_to_bgadl_and_its_bda_control():
    net = make_net("lenet5", image_size=8)
    for name, kind in (
        ("bgadl", BGADL),
        ("random_generative", type(make_strategy("random", query_size=5))),
    ):
        assert type(make_strategy(name, query_size=5)) is kind
        wrapped = estimator_for(name, net)
        assert isinstance(wrapped, GenerativeAugmentationNet)
        assert wrapped.get_params()["max_epochs"] == net.get_params()["max_epochs"]


def test_bgadl_refuses_a_net_without_the_generative_model(digits):
    X, y, X_pool, _ = digits
    plain = tiny_net(max_epochs=1).fit(X[:50], y[:50])
    with pytest.raises(TypeError, match="GenerativeAugmentationNet"):
        BGADL().select(plain, X_pool, 5)
    BALD(n_samples=3).select(plain, X_pool, 5)  # the plain net is BALD's


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"generated_weight": -1.0}, "generated_weight"),
        ({"reconstruction_weight": -0.5}, "reconstruction_weight"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"width": 0}, "width"),
        ({"generative_lr": 0.0}, "generative_lr"),
    ],
)
def test_bad_parameters_are_named(digits, params, match):
    X, y, *_ = digits
    with pytest.raises(InvalidParameterError, match=match):
        _generative(**params).fit(X[:40], y[:40])


def test_rows_the_generator_cannot_produce_are_refused(digits):
    X, y, *_ = digits
    flat = X[:40].reshape(40, -1)
    with pytest.raises(ValueError, match="X: the generator produces images"):
        _generative().fit(flat, y[:40])
    with pytest.raises(ValueError, match="fit"):
        _generative().initialize()
