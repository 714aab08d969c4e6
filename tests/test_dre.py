"""DRE: entropy-histogram allocation and the strategy through a learner."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skactive import ActiveLearner
from skactive.strategies import DRE
from skactive.strategies.dre import entropy_stratified_sample

from .conftest import FixedProba, tiny_net


def test_allocation_follows_the_entropy_histogram():
    scores = np.array([0.0] * 40 + [1.0] * 60)
    picks = entropy_stratified_sample(scores, 10, 50, np.random.RandomState(0))
    assert len(set(picks.tolist())) == 10
    assert (scores[picks] == 0).sum() == 4 and (scores[picks] == 1).sum() == 6


def test_ties_at_the_maximum_still_give_exactly_n():
    # The reference's half-open last bin returns 5 of 10 here.
    scores = np.array([0.9] * 50 + [0.1] * 50)
    picks = entropy_stratified_sample(scores, 10, 50, np.random.RandomState(0))
    assert len(set(picks.tolist())) == 10 and (scores[picks] == 0.9).sum() == 5


def test_equal_entropies_give_uniform_picks():
    counts = np.zeros(20)
    for seed in range(400):
        counts[entropy_stratified_sample(np.ones(20), 5, 50, np.random.RandomState(seed))] += 1
    assert counts.min() > 60 and counts.max() < 140  # 100 expected each


def test_surplus_is_trimmed_from_the_lowest_bins():
    scores = np.array([0.0] * 3 + [0.5] * 3 + [1.0] * 4)
    picks = entropy_stratified_sample(scores, 3, 2, np.random.RandomState(0))
    # ceil(0.3 * 3) + ceil(0.7 * 3) = 1 + 3 (bins [0, .5) and [.5, 1]); the low pick goes.
    assert np.all(scores[picks] >= 0.5)


def test_dre_scores_entropy_in_bits_and_picks_through_the_histogram():
    proba = np.array([[1.0, 0.0]] * 40 + [[0.5, 0.5]] * 60)
    model = FixedProba(proba).fit(np.zeros((2, 1)), [0, 1])
    X = np.arange(100.0)[:, None]
    strategy = DRE(random_state=0)
    picks = strategy.select(model, X, 10)
    assert_allclose(strategy.scores_, [0.0] * 40 + [1.0] * 60, atol=1e-12)
    assert (picks >= 40).sum() == 6
    assert_array_equal(DRE(random_state=0).select(model, X, 10), picks)


def test_dre_through_active_learner_with_a_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), DRE(n_bins=10), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=12)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 12


def test_dre_refuses_bad_bins():
    model = FixedProba(np.full((5, 2), 0.5)).fit(np.zeros((2, 1)), [0, 1])
    with pytest.raises(ValueError, match="n_bins"):
        DRE(n_bins=0).select(model, np.arange(5.0)[:, None], 2)
