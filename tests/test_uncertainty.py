import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from skactive import ActiveLearner
from skactive.strategies import EntropySampling, LeastConfidence, MarginSampling
from skactive.strategies.uncertainty import entropy, least_confidence, margin

from .conftest import fixed_proba, tiny_net

PROBA = [
    [1.0, 0.0, 0.0],  # certain: entropy 0, no NaN from 0 log 0
    [0.5, 0.5, 0.0],  # two-way tie
    [1 / 3, 1 / 3, 1 / 3],  # maximal entropy
    [0.6, 0.3, 0.1],
    [0.45, 0.1, 0.45],
]


def test_measures_match_hand_computation():
    p = np.array(PROBA)
    assert_allclose(
        entropy(p),
        [
            0,
            np.log(2),
            np.log(3),
            -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1)),
            -(2 * 0.45 * np.log(0.45) + 0.1 * np.log(0.1)),
        ],
    )
    assert_allclose(margin(p), [1.0, 0.0, 0.0, 0.3, 0.0], atol=1e-12)
    assert_allclose(least_confidence(p), [0.0, 0.5, 2 / 3, 0.4, 0.55])
    assert not np.isnan(entropy(p)).any()


@pytest.mark.parametrize(
    "strategy, expected_first",
    [(EntropySampling(), [2, 4, 3]), (LeastConfidence(), [2, 4, 1])],
)
def test_uncertainty_ranking(strategy, expected_first):
    est, pool = fixed_proba(PROBA)
    idx = strategy.select(est, pool, 3)
    assert_array_equal(idx, expected_first)
    assert strategy.scores_.shape == (5,)


def test_margin_ties_broken_reproducibly():
    est, pool = fixed_proba(PROBA)
    picks = {tuple(MarginSampling(random_state=s).select(est, pool, 3)) for s in range(20)}
    # rows 1, 2 and 4 all have margin 0: any order of them, reproducible per seed
    assert all(set(p) == {1, 2, 4} for p in picks)
    assert len(picks) > 1
    first = MarginSampling(random_state=3).select(est, pool, 3)
    assert_array_equal(first, MarginSampling(random_state=3).select(est, pool, 3))


def test_candidates_restrict_scoring():
    rng = np.random.RandomState(0)
    proba = rng.dirichlet(np.ones(4), size=200)
    est, pool = fixed_proba(proba)
    strategy = EntropySampling(candidates=50, random_state=1)
    idx = strategy.select(est, pool, 5)
    assert len(strategy.candidates_) == 50
    assert set(idx) <= set(strategy.candidates_)
    best = strategy.candidates_[np.argsort(-entropy(proba[strategy.candidates_]))[:5]]
    assert_array_equal(idx, best)


def test_chunked_scoring_equals_one_shot():
    rng = np.random.RandomState(0)
    proba = rng.dirichlet(np.ones(3), size=101)
    est, pool = fixed_proba(proba)
    small = EntropySampling(batch_size=7, random_state=0)
    big = EntropySampling(batch_size=1000, random_state=0)
    assert_array_equal(small.select(est, pool, 10), big.select(est, pool, 10))
    assert_allclose(small.scores_, big.scores_)


def test_estimator_without_predict_proba_is_rejected():
    X = np.random.RandomState(0).randn(40, 3)
    y = (X[:, 0] > 0).astype(int)
    svc = SVC().fit(X, y)
    with pytest.raises(TypeError, match="estimator: EntropySampling needs predict_proba"):
        EntropySampling().select(svc, X, 2)


def test_torch_path_matches_skorch_predict_proba(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net().fit(X_init, y_init)
    strategy = EntropySampling(batch_size=64)
    strategy.select(net, X_pool[:200].astype(np.float64), 5)
    assert_allclose(strategy.scores_, entropy(net.predict_proba(X_pool[:200])), atol=1e-5)


@pytest.mark.parametrize("cls", [EntropySampling, MarginSampling, LeastConfidence])
def test_through_active_learner_with_cnn(cls, digits_split):
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    net = tiny_net(max_epochs=25, batch_size=16)
    learner = ActiveLearner(net, cls(), random_state=0).fit(X_init, y_init)
    idx = learner.query(X_pool, n=10)
    assert len(set(idx)) == 10
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 10
    assert learner.score(X_test, y_test) > 0.4  # four times chance


def test_works_with_any_classifier():
    X = np.random.RandomState(0).randn(100, 4)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = LogisticRegression().fit(X[:20], y[:20])
    idx = EntropySampling().select(clf, X[20:], 5)
    p = clf.predict_proba(X[20:])
    assert_array_equal(np.sort(idx), np.sort(np.argsort(-entropy(p))[:5]))
