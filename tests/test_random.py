import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skactive import ActiveLearner
from skactive.strategies import RandomSampling

from .conftest import fixed_proba, tiny_net


def test_reproducible_distinct_and_in_range():
    est, pool = fixed_proba(np.full((500, 2), 0.5))
    a = RandomSampling(random_state=7).select(est, pool, 50)
    b = RandomSampling(random_state=7).select(est, pool, 50)
    c = RandomSampling(random_state=8).select(est, pool, 50)
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(set(a.tolist())) == 50
    assert a.min() >= 0 and a.max() < 500
    assert a.dtype.kind == "i"


def test_uniform_over_pool():
    est, pool = fixed_proba(np.full((10, 2), 0.5))
    counts = np.zeros(10)
    for seed in range(2000):
        counts[RandomSampling(random_state=seed).select(est, pool, 1)] += 1
    assert counts.min() > 150 and counts.max() < 250


def test_candidates_bound_the_draw():
    est, pool = fixed_proba(np.full((100, 2), 0.5))
    strategy = RandomSampling(candidates=10, random_state=0)
    idx = strategy.select(est, pool, 10)
    assert_array_equal(np.sort(idx), strategy.candidates_)
    with pytest.raises(ValueError, match="n=11 is larger than candidates=10"):
        strategy.select(est, pool, 11)


def test_through_active_learner_with_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), RandomSampling(), random_state=0)
    learner.fit(X_init, y_init)
    first = learner.query(X_pool, n=5)
    learner.teach(X_pool[first], y_pool[first])
    again = ActiveLearner(tiny_net(max_epochs=2), RandomSampling(), random_state=0)
    assert_array_equal(again.fit(X_init, y_init).query(X_pool, n=5), first)
