"""Discriminative Active Learning: known answers."""

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from skactive import ActiveLearner
from skactive.strategies import DiscriminativeAL
from skactive.strategies.discriminative import _split, class_weights

from .conftest import tiny_net


def _fitted_dummy(X):
    return DummyClassifier().fit(X.reshape(len(X), -1), np.arange(len(X)) % 2)


def test_class_weights_are_inverse_frequencies():
    assert class_weights(10, 100) == pytest.approx((11.0, 1.1))


def test_subquery_sizes_cover_n_even_when_n_is_small():
    assert _split(7, 7) == [1] * 7
    assert _split(23, 5) == [5, 5, 5, 4, 4]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_subquery_comes_from_the_blob_the_labelled_set_misses(seed):
    rng = np.random.RandomState(0)
    blob_a = rng.randn(120, 2)
    blob_b = rng.randn(5, 2) + np.array([12.0, 12.0])
    X_labeled, X_pool = blob_a[:20], np.concatenate([blob_a[20:], blob_b])
    # The labelled rows are a sample of blob A like the rest of it, so the
    # discriminator never reaches stop_accuracy; 100 epochs keep it from
    # memorising which A rows are which.
    strategy = DiscriminativeAL(
        n_subqueries=1, max_epochs=100, learning_rate=1e-3, random_state=seed
    )
    picks = strategy.select(_fitted_dummy(X_pool), X_pool, 5, X_labeled=X_labeled)
    assert sorted(picks.tolist()) == list(range(100, 105))


def test_n_smaller_than_the_subqueries_gives_n_distinct_rows():
    rng = np.random.RandomState(1)
    X_labeled, X_pool = rng.randn(10, 3), rng.randn(60, 3)
    strategy = DiscriminativeAL(n_subqueries=20, max_epochs=3, random_state=0)
    picks = strategy.select(_fitted_dummy(X_pool), X_pool, 7, X_labeled=X_labeled)
    assert len(set(picks.tolist())) == 7 and len(strategy.epochs_) == 7


def test_picks_come_from_the_classes_the_labelled_set_lacks(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    flat_init, flat_pool = X_init.reshape(len(X_init), -1), X_pool.reshape(len(X_pool), -1)
    seen = y_init < 5
    model = LogisticRegression(max_iter=200).fit(flat_init[seen], y_init[seen])
    strategy = DiscriminativeAL(max_epochs=30, n_subqueries=3, learning_rate=1e-3, random_state=0)
    picks = strategy.select(model, flat_pool, 30, X_labeled=flat_init[seen])
    assert np.mean(y_pool >= 5) < 0.5
    assert np.mean(y_pool[picks] >= 5) > 0.7


def test_through_active_learner_with_a_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    strategy = DiscriminativeAL(max_epochs=20, n_subqueries=2, candidates=300)
    learner = ActiveLearner(tiny_net(max_epochs=2), strategy, random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=6)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 6
    again = ActiveLearner(tiny_net(max_epochs=2), strategy, random_state=0).fit(X_init, y_init)
    np.testing.assert_array_equal(again.query(X_pool, n=6), idx)


def test_needs_the_labelled_rows_and_a_net_for_a_layer(digits_split):
    X_init, _, X_pool, *_ = digits_split
    flat = X_pool.reshape(len(X_pool), -1)
    with pytest.raises(ValueError, match="X_labeled: DiscriminativeAL needs the labelled rows"):
        DiscriminativeAL().select(_fitted_dummy(flat), flat, 3)
    with pytest.raises(ValueError, match="layer='features' names a submodule"):
        DiscriminativeAL(layer="features").select(
            _fitted_dummy(flat), flat, 3, X_labeled=X_init.reshape(len(X_init), -1)
        )
    with pytest.raises(ValueError, match="stop_accuracy must be a number in"):
        DiscriminativeAL(stop_accuracy=1.5).select(_fitted_dummy(flat), flat, 3, X_labeled=flat)
