import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist
from sklearn.linear_model import LogisticRegression
from skorch import NeuralNetClassifier
from torch import nn

from skactive import ActiveLearner, _torch
from skactive.strategies import (
    CoreSet,
    FarthestFirst,
)
from skactive.strategies.coreset import k_center_greedy, min_distances, robust_k_center

from .conftest import tiny_net


def test_min_distances_match_cdist_in_small_chunks():
    rng = np.random.RandomState(0)
    points, centers = rng.randn(103, 5), rng.randn(37, 5)
    expected = cdist(points, centers).min(axis=1)
    assert_allclose(min_distances(points, centers, chunk_size=10), expected, atol=1e-10)
    same = min_distances(points, points, chunk_size=7)
    assert (same >= 0).all() and not np.isnan(same).any()  # clamped before the root
    assert_allclose(same, 0.0, atol=1e-6)


def test_greedy_on_points_on_a_line():
    points = np.arange(11, dtype=float).reshape(-1, 1)  # 0, 1, ..., 10
    picks, pick_distances, radius = k_center_greedy(points, np.array([[0.0]]), 3)
    assert_array_equal(picks, [10, 5, 2])  # farthest first; ties go to the lower index
    assert_allclose(pick_distances, [10, 5, 2])
    assert radius == 2.0  # centers 0, 2, 5, 10: point 7 (and 8) is 2 away


def test_greedy_on_a_grid_without_labelled_points():
    grid = np.array([[x, y] for x in range(3) for y in range(3)], dtype=float)
    picks, _, radius = k_center_greedy(grid, np.empty((0, 2)), 2, rng=np.random.RandomState(0))
    first = grid[picks[0]]
    assert_allclose(np.abs(grid[picks[1]] - first).sum() >= 2, True)  # farthest from the first
    assert radius <= np.sqrt(5)


def _brute_force(points, centers, n, outliers=0):
    best = np.inf
    for subset in itertools.combinations(range(len(points)), n):
        all_centers = np.vstack([centers, points[list(subset)]])
        d = np.sort(cdist(points, all_centers).min(axis=1))
        best = min(best, d[len(d) - 1 - outliers])
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("outliers", [0, 1])
def test_mip_radius_is_the_brute_force_optimum(seed, outliers):
    rng = np.random.RandomState(seed)
    points, centers, n = rng.rand(11, 2), rng.rand(2, 2), 3
    picks, _, greedy_radius = k_center_greedy(points, centers, n)
    mip_picks, radius, solves = robust_k_center(
        points, centers, n, picks, greedy_radius, outliers=outliers, max_bisections=30
    )
    assert radius <= greedy_radius + 1e-12
    assert radius == pytest.approx(_brute_force(points, centers, n, outliers), abs=1e-9)
    covered = np.sort(cdist(points, np.vstack([centers, points[mip_picks]])).min(axis=1))
    assert covered[len(covered) - 1 - outliers] <= radius + 1e-9
    assert len(set(mip_picks.tolist())) == n
    assert all(s["status"] in ("OPTIMAL", "FEASIBLE", "INFEASIBLE") for s in solves)


def test_mip_time_out_counts_as_infeasible():
    rng = np.random.RandomState(0)
    points, centers = rng.randn(300, 8), rng.randn(5, 8)
    picks, _, greedy_radius = k_center_greedy(points, centers, 20)
    _, radius, solves = robust_k_center(
        points, centers, 20, picks, greedy_radius, time_limit=1e-4, max_bisections=3
    )
    assert all(s["status"] == "UNKNOWN" for s in solves)
    assert radius == greedy_radius  # nothing better was proven feasible


@pytest.fixture(scope="module")
def net(digits_split):
    X_init, y_init, *_ = digits_split
    return tiny_net(max_epochs=2).fit(X_init, y_init)


def test_strategy_uses_penultimate_embeddings(net, digits_split):
    X_init, _, X_pool, *_ = digits_split
    strategy = CoreSet(batch_size=50)
    idx = strategy.select(net, X_pool[:200], 5, X_labeled=X_init)
    network = _torch.find_network(net)
    emb_pool, emb_lab = _torch.embed(network, X_pool[:200]), _torch.embed(network, X_init)
    expected, _, radius = k_center_greedy(emb_pool.astype(float), emb_lab.astype(float), 5)
    assert_array_equal(idx, expected)
    assert strategy.greedy_radius_ == pytest.approx(radius)
    assert_allclose(strategy.scores_, cdist(emb_pool, emb_lab).min(axis=1), rtol=1e-4)


def test_mip_strategy_never_worse_than_greedy(net, digits_split):
    X_init, _, X_pool, *_ = digits_split
    strategy = CoreSet(method="mip", time_limit=1.0, max_bisections=4, random_state=0)
    idx = strategy.select(net, X_pool[:150], 5, X_labeled=X_init)
    assert len(set(idx.tolist())) == 5
    assert strategy.radius_ <= strategy.greedy_radius_
    assert 1 <= len(strategy.mip_solves_) <= 4


def test_through_active_learner_with_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), CoreSet(candidates=300), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=10)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 10
    # the labelled set is used: a queried row is never a labelled one
    taught = learner.X_labeled_[-10:].reshape(10, -1)
    assert cdist(taught, X_init.reshape(len(X_init), -1)).min() > 0


def test_errors(net, digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    with pytest.raises(ValueError, match="layer='fc9' is not a submodule"):
        CoreSet(layer="fc9").select(net, X_pool[:20], 2)
    with pytest.raises(ValueError, match="method must be one of"):
        CoreSet(method="lp").select(net, X_pool[:20], 2)
    with pytest.raises(ValueError, match="outliers must be a non-negative integer"):
        CoreSet(outliers=-1).select(net, X_pool[:20], 2)
    flat = X_init.reshape(len(X_init), -1)
    with pytest.raises(TypeError, match="estimator: CoreSet needs a fitted skorch NeuralNet"):
        CoreSet().select(LogisticRegression().fit(flat, y_init), flat, 2)


def test_mip_over_the_pair_budget_keeps_greedy_with_a_warning():
    rng = np.random.RandomState(0)
    points, centers = rng.randn(200, 4), rng.randn(3, 4)
    picks, _, greedy_radius = k_center_greedy(points, centers, 5)
    with pytest.warns(UserWarning, match="more than max_pairs=100 pairs"):
        mip_picks, radius, solves = robust_k_center(
            points, centers, 5, picks, greedy_radius, max_pairs=100
        )
    assert radius == greedy_radius and solves == []
    assert set(mip_picks.tolist()) == set(picks.tolist())


class _BiasFreeMLP(nn.Module):
    """ReLU layers without biases: the embedding of c * x is c times that of x."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(64, 12, bias=False), nn.ReLU())
        self.out = nn.Linear(12, 10, bias=False)

    def forward(self, x):
        return self.out(self.hidden(x))


def test_normalize_makes_picks_blind_to_the_scale_of_each_row(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = NeuralNetClassifier(
        _BiasFreeMLP, criterion=nn.CrossEntropyLoss, max_epochs=3, train_split=None, verbose=0
    ).fit(X_init, y_init)
    pool = X_pool[:120]
    scaled = pool * np.where(np.arange(len(pool)) % 3 == 0, 25.0, 1.0)[:, None, None, None]

    def picks(X, normalize):
        strategy = CoreSet(normalize=normalize)
        return strategy.select(net, X, 8, X_labeled=X_init), strategy

    same, fitted = picks(pool, True)
    assert_array_equal(picks(scaled, True)[0], same)
    # Unit vectors: no distance exceeds the sphere's diameter.
    assert fitted.scores_.max() <= 2.0 + 1e-9
    # The raw metric chases the enlarged rows (so the check above could fail).
    raw, _ = picks(scaled, False)
    assert (raw % 3 == 0).mean() > 0.9


def test_farthest_first_equals_coreset_greedy(net, digits_split):
    X_init, _, X_pool, *_ = digits_split
    picks = FarthestFirst(candidates=400, random_state=3).select(net, X_pool, 12, X_labeled=X_init)
    expected = CoreSet(method="greedy", candidates=400, random_state=3).select(
        net, X_pool, 12, X_labeled=X_init
    )
    assert_array_equal(picks, expected)
    assert "method" not in FarthestFirst().get_params()


def test_farthest_first_order_on_points_on_a_line():
    from skactive.strategies.coreset import k_center_greedy

    points = np.array([[0.0], [1.0], [2.0], [10.0]])
    picks, _, _ = k_center_greedy(points[1:], points[:1], 3)
    assert_array_equal(picks + 1, [3, 2, 1])  # 10, then 2, then 1
