import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.svm import SVC

from skactive import ActiveLearner
from skactive.strategies import CEAL

from .conftest import fixed_proba, tiny_net

PROBA = np.array(
    [
        [0.999, 0.001],  # entropy 0.0079: confident class 0
        [0.5, 0.5],  # most uncertain
        [0.02, 0.98],  # entropy 0.098
        [0.001, 0.999],  # confident class 1
        [0.6, 0.4],  # uncertain
        [0.995, 0.005],  # entropy 0.031
    ]
)


def test_queries_uncertain_and_pseudo_labels_confident_rows():
    est, pool = fixed_proba(PROBA)
    strategy = CEAL(delta=0.05)
    idx = strategy.select(est, pool, 2)
    assert_array_equal(idx, [1, 4])
    assert_array_equal(strategy.pseudo_indices_, [0, 3, 5])  # most confident first
    assert_array_equal(strategy.pseudo_labels_, [0, 1, 0])
    assert_array_equal(strategy.extras_.pseudo_X, pool[[0, 3, 5]])
    assert strategy.extras_.n_twins == 0


def test_pseudo_labels_never_include_queried_rows():
    est, pool = fixed_proba(PROBA)
    strategy = CEAL(delta=10.0)  # every row is "confident"
    idx = strategy.select(est, pool, 2)
    assert not set(idx) & set(strategy.pseudo_indices_)
    assert len(strategy.pseudo_indices_) == 4


def test_threshold_decays_per_round():
    est, pool = fixed_proba(PROBA)
    strategy = CEAL(delta=0.05, delta_decay=0.02)
    strategy.select(est, pool, 1)
    assert strategy.delta_ == pytest.approx(0.05)
    assert len(strategy.pseudo_indices_) == 3
    strategy.select(est, pool, 1)
    assert strategy.delta_ == pytest.approx(0.03)
    assert_array_equal(strategy.pseudo_indices_, [0, 3])  # 0.031 no longer passes
    for _ in range(5):
        strategy.select(est, pool, 1)
    assert strategy.delta_ == 0.0 and strategy.n_rounds_ == 7
    assert len(strategy.pseudo_indices_) == 0


def test_labels_in_the_estimator_label_space():
    est, pool = fixed_proba(PROBA)
    est.classes_ = np.array([3, 7])
    strategy = CEAL(max_pseudo=2)
    strategy.select(est, pool, 1)
    assert_array_equal(strategy.pseudo_labels_, [3, 7])  # rows 0 and 3 tie; stable order


@pytest.mark.slow
def test_pseudo_labels_are_temporary_in_the_learner(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(
        tiny_net(max_epochs=40, batch_size=8, lr=1e-2),
        CEAL(delta=0.1, delta_decay=0.05, max_pseudo=50),
        random_state=0,
    )
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=10)
    pseudo = learner.query_strategy_.pseudo_indices_
    assert len(pseudo) > 0 and not set(idx) & set(pseudo)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 10  # oracle set untouched
    assert len(learner.y_pseudo_) == len(pseudo)
    assert len(learner.training_set()[0]) == len(y_init) + 10
    assert len(learner.training_set(include_pseudo=True)[0]) == len(y_init) + 10 + len(pseudo)
    # the round count travels with the learner: the threshold decays
    idx = learner.query(X_pool, n=10)
    assert learner.query_strategy_.delta_ == pytest.approx(0.05)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_pseudo_) == len(learner.query_strategy_.pseudo_indices_)


def test_errors():
    est, pool = fixed_proba(PROBA)
    with pytest.raises(ValueError, match="delta must be a non-negative number"):
        CEAL(delta=-1).select(est, pool, 1)
    with pytest.raises(ValueError, match="criterion must be one of"):
        CEAL(criterion="bald").select(est, pool, 1)
    X = np.random.RandomState(0).randn(30, 2)
    svc = SVC().fit(X, (X[:, 0] > 0).astype(int))
    with pytest.raises(TypeError, match="estimator: CEAL needs predict_proba"):
        CEAL().select(svc, X, 1)
