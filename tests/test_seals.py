"""SEALS: candidates restricted to the labelled rows' nearest pool rows."""

import numpy as np
import pytest

from skactive import ActiveLearner
from skactive.embeddings import flattened_rows
from skactive.param_validation import InvalidParameterError
from skactive.strategies import DFAL, SEALS, EntropySampling, RandomSampling
from skactive.strategies.seals import nearest_rows

from .conftest import tiny_net


def _brute_force(points, queries, k):
    d2 = ((queries[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    return np.argsort(d2, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("index", ["sklearn", "faiss"])
def test_nearest_rows_equal_a_brute_force_search(index):
    if index == "faiss":
        pytest.importorskip("faiss", reason="faiss-cpu is not installed (the faiss extra)")
    rng = np.random.RandomState(0)
    points, queries = rng.normal(size=(300, 5)), rng.normal(size=(12, 5))
    found = nearest_rows(points, queries, 7, index=index)
    expected = _brute_force(points, queries, 7)
    np.testing.assert_array_equal(np.sort(found, axis=1), np.sort(expected, axis=1))


def test_the_inner_strategy_ranks_exactly_the_union_of_neighbours(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    strategy = SEALS(RandomSampling(), n_neighbors=5, embedding=flattened_rows, random_state=0)
    picks = strategy.select(None, X_pool, 10, X_labeled=X_init[:8], y_labeled=y_init[:8])
    expected = np.unique(_brute_force(flattened_rows(X_pool), flattened_rows(X_init[:8]), 5))
    np.testing.assert_array_equal(strategy.neighbourhood_, expected)
    assert set(picks) <= set(expected) and len(set(picks)) == 10
    np.testing.assert_array_equal(picks, strategy.indices_)


def test_without_labels_or_with_too_few_neighbours_random_rows_fill_up(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    alone = SEALS(RandomSampling(), embedding=flattened_rows, random_state=0)
    assert len(set(alone.select(None, X_pool, 6))) == 6
    few = SEALS(RandomSampling(), n_neighbors=1, embedding=flattened_rows, random_state=0)
    picks = few.select(None, X_pool, 6, X_labeled=X_init[:2], y_labeled=y_init[:2])
    assert len(few.neighbourhood_) == 6 and len(set(picks)) == 6


def test_seals_with_dfal_through_the_learner_hands_over_the_twins(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(
        tiny_net(max_epochs=3), SEALS(DFAL(), n_neighbors=10), random_state=0
    ).fit(X_init, y_init)
    idx = learner.query(X_pool, n=5)
    chosen = learner.query_strategy_
    assert set(idx) <= set(chosen.neighbourhood_)
    learner.teach(X_pool[idx], y_pool[idx])
    X, y, _ = learner.training_set()
    assert len(y) == len(y_init) + 5 + 5  # every queried row and its twin
    # Without embedding=, the search runs in the net's penultimate layer.
    entropy = SEALS(EntropySampling(), n_neighbors=10).select(
        learner.estimator_, X_pool, 5, X_labeled=X, y_labeled=y
    )
    assert len(set(entropy)) == 5


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"index": "annoy"}, "index"),
        ({"strategy": "dfal"}, "strategy"),
    ],
)
def test_bad_parameters_are_named(digits_split, params, match):
    settings = {"strategy": RandomSampling(), "embedding": flattened_rows, **params}
    with pytest.raises(InvalidParameterError, match=match):
        SEALS(**settings).select(None, digits_split[2], 3)
