"""Learning from the pool: label propagation and the -1 convention."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import SelfTrainingClassifier

from skactive import ActiveLearner
from skactive.models import make_net
from skactive.semi_supervised import (
    LabelPropagationNet,
    _diffuse,
    _normalized_graph,
    label_propagation,
)
from skactive.strategies import CEAL, DFAL, RandomSampling

from .conftest import snapshot, tiny_net


def _two_cliques(size=5, seed=0):
    """Rows [1, 0, t, 0] (clique 0) and [0, 1, 0, s] (clique 1): cosine 0 across, no edge."""
    rng = np.random.RandomState(seed)
    features = np.zeros((2 * size, 4))
    features[:size, 0], features[:size, 2] = 1.0, rng.uniform(0, 0.1, size)
    features[size:, 1], features[size:, 3] = 1.0, rng.uniform(0, 0.1, size)
    y = np.full(2 * size, -1)
    y[0], y[size] = 0, 1
    return features, y


def test_two_disconnected_cliques_take_their_seed_label_with_full_weight():
    features, y = _two_cliques()
    labels, weights = label_propagation(features, y, k=4)
    np.testing.assert_array_equal(labels, [0] * 5 + [1] * 5)
    np.testing.assert_allclose(weights, 1.0)


def test_conjugate_gradient_equals_a_dense_solve():
    rng = np.random.RandomState(1)
    features = np.abs(rng.normal(size=(50, 6)))
    graph = _normalized_graph(features, 8, 3.0, "sklearn")
    dense = graph.toarray()
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)
    assert np.abs(np.linalg.eigvalsh(dense)).max() <= 1 + 1e-9
    seeds = np.zeros((50, 3))
    seeds[[0, 1], 0], seeds[2, 1], seeds[[3, 4, 5], 2] = 0.5, 1.0, 1 / 3
    expected = np.linalg.solve(np.eye(50) - 0.99 * dense, seeds)
    solved = _diffuse(graph, seeds, 0.99, max_iter=2000, rtol=1e-12)
    np.testing.assert_allclose(solved, expected, atol=1e-6)


@pytest.mark.parametrize("knn", ["sklearn", "faiss", "auto"])
def test_an_isolated_row_gets_label_minus_one_and_weight_zero(knn):
    if knn == "faiss":
        pytest.importorskip("faiss", reason="faiss-cpu (optional extra) is not installed")
    features, y = _two_cliques()
    lonely = np.zeros((1, 4))  # cosine 0 with everyone: no edge
    features, y = np.vstack([features, lonely]), np.append(y, -1)
    labels, weights = label_propagation(features, y, k=4, knn=knn)
    assert labels[-1] == -1 and weights[-1] == 0.0
    assert np.isfinite(weights).all()


def test_a_zero_row_is_isolated_among_real_neighbours(digits):
    # With the unit-row shortcut, a zero row had similarity 0.5 to every row
    # under scikit-learn (and 0 under faiss): the backends built other graphs.
    X, y = digits
    features = np.vstack([X[:100].reshape(100, -1), np.zeros((2, 64))])
    partial = np.append(np.where(np.arange(100) % 5 == 0, y[:100], -1), [-1, -1])
    labels, weights = label_propagation(features, partial, k=8, knn="sklearn")
    assert labels[-2:].tolist() == [-1, -1] and weights[-2:].tolist() == [0.0, 0.0]


def test_labels_keep_their_own_values_and_weights_are_in_unit_interval(digits):
    X, y = digits
    features = X[:300].reshape(300, -1)
    partial = np.where(np.arange(300) % 10 == 0, y[:300] + 5, -1)  # labels 5..14
    labels, weights = label_propagation(features, partial, k=10)
    known = partial != -1
    np.testing.assert_array_equal(labels[known], partial[known])
    assert set(labels[~known]) <= set(partial[known])
    assert (weights >= 0).all() and (weights <= 1).all() and weights[known].min() == 1
    # Pixels propagate digits well: most unlabelled rows get their true class.
    assert np.mean(labels[~known] - 5 == y[:300][~known]) > 0.8


def test_sklearn_and_faiss_neighbours_agree(digits):
    pytest.importorskip("faiss")
    X, y = digits
    features = X[:200].reshape(200, -1)
    partial = np.where(np.arange(200) % 8 == 0, y[:200], -1)
    by_sklearn = label_propagation(features, partial, k=10, knn="sklearn")
    by_faiss = label_propagation(features, partial, k=10, knn="faiss")
    assert np.mean(by_sklearn[0] == by_faiss[0]) > 0.99
    np.testing.assert_allclose(by_sklearn[1], by_faiss[1], atol=1e-3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": 10}, r"k \(10\) must be smaller than the number of rows \(10\)"),
        ({"alpha": 1.0}, r"alpha must be a number in \(0, 1\)"),
        ({"alpha": 0.0}, r"alpha must be a number in \(0, 1\)"),
        ({"gamma": 0}, "gamma must be a positive number"),
        ({"max_iter": 0}, "max_iter must be"),
        ({"knn": "annoy"}, "knn must be one of"),
    ],
)
def test_bad_propagation_parameters(params, message):
    features, y = _two_cliques()
    with pytest.raises(ValueError, match=message):
        label_propagation(features, y, **{"k": 4, **params})


def test_propagation_needs_a_labelled_row_and_finite_features():
    features, y = _two_cliques()
    with pytest.raises(ValueError, match="no labelled row"):
        label_propagation(features, np.full(len(y), -1), k=4)
    features[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        label_propagation(features, y, k=4)


# -- the -1 convention through ActiveLearner ----------------------------------


def _flat(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, _y_test = digits_split
    flat = [a.reshape(len(a), -1) for a in (X_init, X_pool, X_test)]
    return flat[0], y_init, flat[1][:300], y_pool[:300]


def test_self_training_sees_labelled_rows_plus_the_pool(digits_split):
    X_init, y_init, X_pool, y_pool = _flat(digits_split)
    learner = ActiveLearner(
        SelfTrainingClassifier(LogisticRegression(max_iter=300)),
        RandomSampling(),
        semi_supervised=True,
        random_state=0,
    )
    learner.fit(X_init, y_init, unlabeled=X_pool)
    assert len(learner.estimator_.transduction_) == len(X_init) + len(X_pool)
    idx = learner.query(X_pool, n=7)
    learner.teach(X_pool[idx], y_pool[idx])
    # The taught rows are labelled now, not unlabelled any more.
    assert len(learner.estimator_.transduction_) == len(X_init) + len(X_pool)
    assert len(learner.y_labeled_) == len(X_init) + 7
    transduction = learner.estimator_.transduction_
    np.testing.assert_array_equal(
        learner.classes_[transduction[: len(y_init) + 7]], learner.y_labeled_
    )


def test_the_pool_of_the_last_query_is_used_and_taught_rows_leave_it(digits_split):
    X_init, y_init, X_pool, y_pool = _flat(digits_split)
    learner = ActiveLearner(
        SelfTrainingClassifier(LogisticRegression(max_iter=300)),
        semi_supervised=True,
        random_state=0,
    ).fit(X_init, y_init)
    assert len(learner.estimator_.transduction_) == len(X_init)  # no pool yet
    idx = learner.query(X_pool[:100], n=5)
    learner.teach(X_pool[:100][idx], y_pool[:100][idx])
    assert len(learner.estimator_.transduction_) == len(X_init) + 100
    # A row taught outside the query leaves the pool too.
    learner.teach(X_pool[50:52], y_pool[50:52])
    expected = len(X_init) + 100 - len(set(idx) | {50, 51}) + 7
    assert len(learner.estimator_.transduction_) == expected


def test_ceal_pseudo_labels_are_not_also_unlabelled(digits_split):
    X_init, y_init, X_pool, y_pool = _flat(digits_split)
    learner = ActiveLearner(
        SelfTrainingClassifier(LogisticRegression(max_iter=300)),
        CEAL(delta=0.5, max_pseudo=20),
        semi_supervised=True,
        random_state=0,
    ).fit(X_init, y_init, unlabeled=X_pool)
    idx = learner.query(X_pool, n=5)
    learner.teach(X_pool[idx], y_pool[idx])
    n_pseudo = len(learner.y_pseudo_)
    assert n_pseudo > 0
    total = len(learner.y_labeled_) + n_pseudo + (len(X_pool) - 5 - n_pseudo)
    assert len(learner.estimator_.transduction_) == total


def test_a_memmap_pool_is_referenced_not_copied(tmp_path, digits_split):
    X_init, y_init, X_pool, _ = _flat(digits_split)
    pool = np.lib.format.open_memmap(tmp_path / "pool.npy", "w+", np.float32, X_pool.shape)
    pool[:] = X_pool
    learner = ActiveLearner(
        SelfTrainingClassifier(LogisticRegression(max_iter=300)), semi_supervised=True
    ).fit(X_init, y_init)
    learner.query(pool, n=2)
    assert learner._campaign.unlabeled.rows is pool


def test_an_estimator_that_learns_minus_one_as_a_class_is_refused(digits_split):
    X_init, y_init, X_pool, _ = _flat(digits_split)
    learner = ActiveLearner(LogisticRegression(max_iter=300), semi_supervised=True)
    before = snapshot(learner)
    with pytest.raises(ValueError, match="semi_supervised=True: LogisticRegression learnt"):
        learner.fit(X_init, y_init, unlabeled=X_pool)
    assert snapshot(learner) == before


def test_a_net_that_rejects_minus_one_is_refused_and_labels_are_kept(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=1), semi_supervised=True, random_state=0)
    with pytest.raises(ValueError, match="semi_supervised=True passes 50 unlabelled"):
        learner.fit(X_init, y_init, unlabeled=X_pool[:50])
    learner.set_params(semi_supervised=False).fit(X_init, y_init)
    learner.set_params(semi_supervised=True)
    idx = learner.query(X_pool[:50], n=3)
    model = learner.estimator_
    with pytest.raises(ValueError, match="semi_supervised=True passes 47 unlabelled"):
        learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 3  # the oracle's labels stay
    assert learner.estimator_ is model


def test_unlabeled_rows_without_semi_supervised_are_an_error(digits_split):
    X_init, y_init, X_pool, _ = _flat(digits_split)
    with pytest.raises(ValueError, match="semi_supervised=False"):
        ActiveLearner(LogisticRegression()).fit(X_init, y_init, unlabeled=X_pool)
    with pytest.raises(TypeError, match="semi_supervised must be True or False"):
        ActiveLearner(LogisticRegression(), semi_supervised="yes").fit(X_init, y_init)


# -- LabelPropagationNet ----------------------------------------------------


def _lp_net(**params):
    settings = dict(image_size=8, max_epochs=6, lr=3e-3, batch_size=32, k=10, lp_every=2)
    settings.update(params)
    return make_net("lenet5", net_class=LabelPropagationNet, **settings)


def test_lp_net_without_unlabelled_rows_is_the_plain_net(digits_split):
    X_init, y_init, *_ = digits_split
    torch.manual_seed(0)
    plain = tiny_net(max_epochs=3).fit(X_init, y_init)
    torch.manual_seed(0)
    lp = _lp_net(max_epochs=3).fit(X_init, y_init)
    for a, b in zip(plain.module_.parameters(), lp.module_.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_lp_net_learns_from_minus_one_rows(digits_split):
    X_init, y_init, X_pool, _y_pool, X_test, _y_test = digits_split
    X = np.concatenate([X_init, X_pool[:400]])
    y = np.concatenate([y_init, np.full(400, -1)])
    net = _lp_net(max_unlabeled=300, unlabeled_fraction=0.5, random_state=0).fit(X, y)
    assert len(net.lp_history_) == 3  # 6 epochs, a propagation every 2
    assert [h["n_pseudo"] for h in net.lp_history_] == [150] * 3
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    assert net.predict_proba(X_test).shape == (len(X_test), 10)
    assert len(net.history) == 6


def test_lp_net_in_an_active_learner_clones_and_pickles(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, _y_test = digits_split
    learner = ActiveLearner(
        _lp_net(max_unlabeled=200), DFAL(max_iter=20), semi_supervised=True, random_state=0
    ).fit(X_init, y_init, unlabeled=X_pool[:300])
    idx = learner.query(X_pool[:300], n=5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_twins_) > 0  # DFAL's twins still come along
    restored = pickle.loads(pickle.dumps(learner))
    np.testing.assert_allclose(restored.predict_proba(X_test), learner.predict_proba(X_test))
    assert clone(learner).get_params()["semi_supervised"] is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"unlabeled_fraction": 0.0}, r"unlabeled_fraction must be a number in \(0, 1\]"),
        ({"lp_every": 0}, "lp_every must be"),
        ({"max_unlabeled": 0}, "max_unlabeled must be"),
        ({"train_split": lambda ds, y: (ds, ds)}, "train_split must be None"),
        ({"k": 500}, r"k \(500\) must be smaller than the rows propagated over"),
    ],
)
def test_lp_net_bad_parameters_fail_at_fit(digits_split, params, message):
    X_init, y_init, X_pool, *_ = digits_split
    X = np.concatenate([X_init, X_pool[:100]])
    y = np.concatenate([y_init, np.full(100, -1)])
    with pytest.raises(ValueError, match=message):
        _lp_net(**params).fit(X, y)


def test_a_warm_learner_propagates_on_each_refit(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(
        _lp_net(max_unlabeled=100), RandomSampling(), semi_supervised=True, warm_start=True
    ).fit(X_init, y_init, unlabeled=X_pool[:200])
    idx = learner.query(X_pool[:200], n=5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.estimator_.lp_history_) == 3  # the warm refit propagated again
    assert len(learner.estimator_.history) == 12  # and trained on: 6 + 6 epochs
