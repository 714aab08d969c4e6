"""TypiClust, ProbCover and Schedule: known answers on Gaussian blobs."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression

from skactive import ActiveLearner
from skactive.strategies import (
    DFAL,
    ProbCover,
    TypiClust,
)

from .conftest import tiny_net

CENTRES = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
SIZES = (50, 30, 20)


@pytest.fixture
def blobs():
    """Three well separated Gaussian blobs of 50, 30 and 20 points, shuffled."""
    rng = np.random.RandomState(0)
    X = np.concatenate([c + rng.randn(size, 2) for c, size in zip(CENTRES, SIZES, strict=True)])
    blob = np.repeat(np.arange(3), SIZES)
    order = rng.permutation(len(X))
    return X[order], blob[order]


def identity(rows):
    return np.asarray(rows, dtype=np.float64)


def _closest_40_percent(X, blob, k):
    members = np.flatnonzero(blob == k)
    distance = np.linalg.norm(X[members] - X[members].mean(axis=0), axis=1)
    return set(members[np.argsort(distance)[: int(0.4 * len(members))]])


def test_typiclust_picks_one_typical_row_per_blob_largest_first(blobs):
    X, blob = blobs
    strategy = TypiClust(embedding=identity, random_state=0)
    picks = strategy.select(None, X, 3)  # the very first query: no model, no labels
    assert_array_equal(blob[picks], [0, 1, 2])
    for k, pick in enumerate(picks):
        assert pick in _closest_40_percent(X, blob, k)


def test_typiclust_skips_blobs_that_hold_a_label(blobs):
    X, blob = blobs
    labeled = X[blob == 0][:1]
    picks = TypiClust(embedding=identity, random_state=0).select(None, X, 2, X_labeled=labeled)
    assert sorted(blob[picks]) == [1, 2]


def test_typiclust_is_independent_of_row_order(blobs):
    X, _ = blobs
    first = TypiClust(embedding=identity, random_state=0)
    picks = first.select(None, X, 3)
    order = np.random.RandomState(1).permutation(len(X))
    second = TypiClust(embedding=identity, random_state=0)
    assert_array_equal(order[second.select(None, X[order], 3)], picks)
    assert_array_equal(second.scores_, first.scores_[order])


def test_typiclust_more_picks_than_clusters_are_distinct():
    X = np.repeat(np.eye(2), 5, axis=0)  # two distinct rows, five times each
    picks = TypiClust(embedding=identity, n_neighbors=50, random_state=0).select(None, X, 6)
    assert len(set(picks.tolist())) == 6


def test_probcover_covers_each_blob_once(blobs):
    X, blob = blobs
    strategy = ProbCover(delta=0.5, embedding=lambda rows: rows - rows.mean(axis=0))
    picks = strategy.select(None, X, 3)
    assert sorted(blob[picks]) == [0, 1, 2]
    assert blob[picks[0]] == 0  # the largest blob covers most rows
    assert strategy.coverage_ > 0.9


def test_probcover_never_picks_a_blob_a_label_covers(blobs):
    X, blob = blobs
    embedding = lambda rows: rows - X.mean(axis=0)  # noqa: E731
    labeled = X[blob == 0][:1]
    picks = ProbCover(delta=0.5, embedding=embedding).select(None, X, 2, X_labeled=labeled)
    assert sorted(blob[picks]) == [1, 2]


@pytest.mark.parametrize(("alpha", "delta", "purity"), [(1.0, 0.5, 1.0), (0.6, 0.8, 0.6)])
def test_probcover_purity_is_the_share_of_balls_without_another_cluster(alpha, delta, purity):
    # Two clusters on the unit circle, at angles 0, 0.1, 0.2 and 1.0, 1.1 rad.
    angles = np.array([0.0, 0.1, 0.2, 1.0, 1.1])
    X = np.c_[np.cos(angles), np.sin(angles)]
    clusters = angles > 0.5
    # Brute force: a closed ball is pure when no row of the other cluster lies in it.
    distances = np.linalg.norm(X[:, None] - X[None], axis=-1)
    expected = {
        d: np.mean([not np.any((distances[i] <= d) & (clusters != clusters[i])) for i in range(5)])
        for d in (0.5, 0.8, 0.9)
    }
    assert expected == {0.5: 1.0, 0.8: 0.6, 0.9: 0.2}
    strategy = ProbCover(
        embedding=lambda rows: rows,
        n_clusters=2,
        deltas=[0.5, 0.8, 0.9],
        alpha=alpha,
        random_state=0,
    )
    strategy.select(None, X, 1)
    assert strategy.delta_ == delta and strategy.purity_ == pytest.approx(purity)


def test_probcover_chooses_delta_by_purity(blobs):
    X, blob = blobs
    embedding = lambda rows: rows - X.mean(axis=0)  # noqa: E731
    strategy = ProbCover(embedding=embedding, n_clusters=3, random_state=0)
    picks = strategy.select(None, X, 3)
    assert strategy.purity_ >= 0.95 and 0 < strategy.delta_ <= 1.0
    assert sorted(blob[picks]) == [0, 1, 2]
    with pytest.warns(UserWarning, match="no radius in deltas reaches purity"):
        ProbCover(embedding=embedding, n_clusters=3, deltas=[2.0], alpha=1.0).select(None, X, 2)


@pytest.mark.parametrize(
    "strategy, message",
    [
        (TypiClust(n_neighbors=0, embedding=identity), "n_neighbors must be a positive integer"),
        (ProbCover(delta=0, embedding=identity), r"delta must be None or a number in \(0, 2\]"),
        (ProbCover(delta=-1.0, embedding=identity), "delta must be None or a number"),
        (ProbCover(alpha=1.5, embedding=identity), "alpha must be a number"),
        (TypiClust(embedding=lambda rows: rows[:-1]), "embedding returned shape"),
        (TypiClust(embedding="nope"), "embedding must be None or a callable"),
    ],
)
def test_bad_cold_start_parameters(blobs, strategy, message):
    X, _ = blobs
    with pytest.raises(ValueError, match=message):
        strategy.select(None, X, 2)


def test_without_embedding_a_model_is_needed(blobs):
    X, blob = blobs
    with pytest.raises(TypeError, match="estimator: TypiClust needs a fitted estimator, got None"):
        TypiClust().select(None, X, 2)
    with pytest.raises(TypeError, match="TypiClust without embedding= needs a fitted skorch"):
        TypiClust().select(LogisticRegression().fit(X, blob), X, 2)


@pytest.mark.parametrize("strategy", [TypiClust(), ProbCover()])
def test_cold_start_through_active_learner(digits_split, strategy):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), strategy, random_state=0)
    learner.fit(X_init, y_init)
    for _ in range(2):
        idx = learner.query(X_pool[:400], 10)
        assert len(set(idx.tolist())) == 10
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)


def test_random_twins_selects_every_attacked_row(digits_split):
    from skactive.experiments.registry import make_strategy

    X_init, y_init, X_pool, *_ = digits_split
    strategy = make_strategy("random_twins", query_size=7, candidates=2000)
    assert isinstance(strategy, DFAL) and strategy.candidates == 7
    net = tiny_net(max_epochs=2).fit(X_init, y_init)
    picks = strategy.select(net, X_pool, 7)
    assert set(picks) == set(strategy.candidates_)  # every random candidate is picked
    assert strategy.extras_.n_twins > 0


def test_typicality_equals_scikit_learn_neighbours():
    from sklearn.neighbors import NearestNeighbors

    from skactive.strategies.cold_start import _mean_knn_distance

    rows = np.random.RandomState(0).rand(3000, 5)  # more than one block of rows
    distances, _ = NearestNeighbors(n_neighbors=21).fit(rows).kneighbors(rows)
    np.testing.assert_allclose(_mean_knn_distance(rows, 20), distances[:, 1:].mean(axis=1))
