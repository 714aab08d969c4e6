"""Diversified: a spread-out batch among another strategy's best rows."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid

from skactive import ActiveLearner
from skactive.strategies import (
    DFAL,
    Diversified,
    EntropySampling,
    RandomSampling,
)

from .conftest import FixedProba, tiny_net


def _clustered_pool():
    """Rows [i, position]: probabilities from row i, distances from position.

    The four most uncertain rows (0-3) sit at positions 0, 0.001, 0.002 and
    1000: a top-2 batch by entropy takes two near-duplicates.
    """
    proba = np.array(
        [[0.5, 0.5], [0.51, 0.49], [0.52, 0.48], [0.53, 0.47]]
        + [[0.9 + 0.01 * k, 0.1 - 0.01 * k] for k in range(6)]
    )
    positions = np.array([0.0, 0.001, 0.002, 1000.0, 3, 4, 5, 6, 7, 8])
    X = np.column_stack([np.arange(10.0), positions * 1000])
    return FixedProba(proba).fit(X, [0, 1]), X


def test_diversified_normalize_compares_directions():
    # Rows 0-3 shortlisted; row 3 points the same way as row 0, only longer.
    proba = np.array([[0.5, 0.5], [0.51, 0.49], [0.52, 0.48], [0.53, 0.47], [0.9, 0.1]])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [50.0, 0.0], [0.0, 3.0]])
    model = _IndexedProba(proba).fit(X, [0, 1])
    raw = Diversified(EntropySampling(), factor=2).select(model, X, 2)
    unit = Diversified(EntropySampling(), factor=2, normalize=True).select(model, X, 2)
    assert_array_equal(raw, [0, 3])  # the long row is far in raw space
    assert_array_equal(unit, [0, 1])  # but the same direction as row 0


class _IndexedProba(FixedProba):
    """FixedProba keyed by row position, so the features can be anything."""

    def predict_proba(self, X):
        return np.asarray(self.proba, dtype=float)[: len(X)]


@pytest.mark.parametrize("method", ["kcenter", "kmeans++"])
def test_diversified_takes_the_far_row_of_the_shortlist(method):
    model, X = _clustered_pool()
    assert_array_equal(EntropySampling().select(model, X, 2), [0, 1])
    strategy = Diversified(EntropySampling(), factor=2, method=method, random_state=0)
    assert_array_equal(strategy.select(model, X, 2), [0, 3])
    assert_array_equal(strategy.shortlist_, [0, 1, 2, 3])
    assert_array_equal(strategy.candidates_, np.arange(10))


def test_diversified_starts_from_the_labelled_rows():
    model, X = _clustered_pool()
    # Row 0's twin is labelled, so its cluster is covered: take 3, then the cluster.
    labelled = np.array([[0.0, 0.0]])
    picks = Diversified(EntropySampling(), factor=2).select(model, X, 2, X_labeled=labelled)
    assert_array_equal(picks, [2, 3])


def test_diversified_with_factor_one_equals_the_inner_strategy(net, digits_split):
    X_init, _, X_pool, *_ = digits_split
    inner = DFAL(max_iter=20, candidates=200, random_state=4)
    expected = clone(inner).select(net, X_pool, 8, X_labeled=X_init)
    reference = inner.select(net, X_pool, 8, X_labeled=X_init)
    strategy = Diversified(inner, factor=1)
    picks = strategy.select(net, X_pool, 8, X_labeled=X_init)
    assert_array_equal(picks, expected)
    assert_array_equal(strategy.extras_.twin_sources, inner.extras_.twin_sources)
    assert_allclose(strategy.extras_.twins, inner.extras_.twins)
    assert_array_equal(reference, expected)


def test_diversified_dfal_hands_over_the_twins_of_the_kept_rows(net, digits_split):
    X_init, _, X_pool, *_ = digits_split
    strategy = Diversified(DFAL(max_iter=30, candidates=300), factor=5, random_state=0)
    picks = strategy.select(net, X_pool, 6, X_labeled=X_init)
    assert set(picks) <= set(strategy.shortlist_) and len(strategy.shortlist_) == 30
    # Kept rows come back in the inner order (best first).
    order = {row: i for i, row in enumerate(strategy.shortlist_)}
    assert [order[p] for p in picks] == sorted(order[p] for p in picks)
    extras = strategy.extras_
    assert 0 < extras.n_twins <= 6
    for twin, source in zip(extras.twins, extras.twin_sources, strict=True):
        gaps = np.linalg.norm((X_pool[picks] - twin).reshape(len(picks), -1), axis=1)
        assert np.argmin(gaps) == source
        # The twin is the DeepFool point of that row: it changes the prediction.
        assert net.predict(twin[None]) != net.predict(X_pool[picks[source]][None])


def test_diversified_through_active_learner_with_a_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    strategy = Diversified(DFAL(max_iter=20, candidates=200), factor=4)
    learner = ActiveLearner(tiny_net(max_epochs=2), strategy, random_state=0)
    learner.fit(X_init, y_init)
    for _ in range(2):
        idx = learner.query(X_pool, n=5)
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.y_labeled_) == len(y_init) + 10
    # Twins arrived with the queried rows only, at most one each, in their groups.
    _, _, groups = learner.training_set()
    twin_groups = groups[len(learner.y_labeled_) :]
    assert 0 < len(twin_groups) <= 10
    assert twin_groups.min() >= len(y_init) and len(set(twin_groups)) == len(twin_groups)


def test_diversified_is_clonable_and_grid_searchable():
    strategy = Diversified(DFAL(max_iter=50), factor=3)
    params = strategy.get_params()
    assert params["strategy__max_iter"] == 50
    grid = list(ParameterGrid({"strategy__max_iter": [5, 10], "factor": [2, 4]}))
    built = [clone(strategy).set_params(**point) for point in grid]
    assert {(s.strategy.max_iter, s.factor) for s in built} == {(5, 2), (5, 4), (10, 2), (10, 4)}
    assert strategy.strategy.max_iter == 50


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"factor": 0}, "factor must be an integer >= 1"),
        ({"factor": 2.5}, "factor must be an integer >= 1"),
        ({"method": "kmedoids"}, "method must be one of"),
        ({"strategy": LogisticRegression()}, "strategy must be a QueryStrategy"),
        ({"strategy": RandomSampling()}, "strategy: RandomSampling does not score rows"),
        ({"layer": "features"}, "layer='features' names a submodule"),
        ({"normalize": "yes"}, "normalize must be True or False"),
    ],
)
def test_diversified_refuses_bad_input(params, message):
    model, X = _clustered_pool()
    strategy = Diversified(EntropySampling(), factor=2).set_params(**params)
    with pytest.raises(ValueError, match=message):
        strategy.select(model, X, 2)
    assert not hasattr(strategy, "indices_")


def _meta_strategies():
    from skactive.strategies import MarginSampling, Schedule, ShiftedTwins

    return {
        "Schedule": Schedule([(MarginSampling(), 10), (DFAL(max_iter=20), None)]),
        "ShiftedTwins": ShiftedTwins(MarginSampling(), random_state=0),
        "Diversified": Diversified(DFAL(max_iter=20, candidates=300, random_state=0), factor=2),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_meta_strategies()))
def test_diversified_around_a_meta_strategy(name, net, digits_split):
    X_init, _, X_pool, *_ = digits_split
    inner = _meta_strategies()[name]
    strategy = Diversified(inner, factor=3)
    picks = strategy.select(net, X_pool, 5, X_labeled=X_init)
    assert len(set(picks)) == 5 and set(picks) <= set(strategy.shortlist_)
    # The shortlist is the inner strategy's own selection of 15 rows, and each
    # twin handed over is the inner strategy's twin of that kept row.
    reference = clone(inner)
    assert_array_equal(reference.select(net, X_pool, 15, X_labeled=X_init), strategy.shortlist_)
    extras = strategy.extras_
    assert extras.n_twins > 0
    for twin, source in zip(extras.twins, extras.twin_sources, strict=True):
        at = int(np.flatnonzero(strategy.shortlist_ == picks[source])[0])
        own = np.flatnonzero(np.asarray(reference.extras_.twin_sources) == at)
        assert any(np.array_equal(twin, reference.extras_.twins[j]) for j in own)
    # factor=1 keeps the whole shortlist: the inner strategy's own picks and twins.
    alone = clone(inner).select(net, X_pool, 5, X_labeled=X_init)
    whole = Diversified(clone(inner), factor=1)
    assert_array_equal(whole.select(net, X_pool, 5, X_labeled=X_init), alone)
