"""Schedule: phases switched by the labelled set's size."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skactive import ActiveLearner
from skactive.strategies import (
    DFAL,
    EntropySampling,
    MarginSampling,
    RandomSampling,
    Schedule,
)

from .conftest import tiny_net


def test_schedule_switches_at_the_labelled_set_size(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split  # 40 initial labels
    schedule = Schedule([(RandomSampling(), 50), (DFAL(), None)], random_state=0)
    learner = ActiveLearner(tiny_net(max_epochs=2), schedule, random_state=0).fit(X_init, y_init)
    phases = []
    for _ in range(3):
        idx = learner.query(X_pool, 6)
        phases.append(learner.query_strategy_.active_phase_)
        twins = learner.query_strategy_.extras_.n_twins
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert phases == [0, 0, 1]  # 40 and 46 labels are below 50; 52 is not
    assert twins > 0 and len(learner.y_twins_) == twins  # DFAL's twins flowed through


def test_schedule_equals_its_phases(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=2).fit(X_init, y_init)
    schedule = Schedule([(EntropySampling(), 30), (MarginSampling(), None)])
    for labeled, inner in ((X_init[:20], EntropySampling()), (X_init, MarginSampling())):
        picks = schedule.select(net, X_pool, 5, X_labeled=labeled)
        assert_array_equal(picks, inner.select(net, X_pool, 5, X_labeled=labeled))
        assert_array_equal(schedule.scores_, inner.scores_)


@pytest.mark.parametrize(
    "phases, message",
    [
        ([], "non-empty list"),
        ([(RandomSampling(), 10)], "the last phase must have until=None"),
        ([(RandomSampling(), 20), (RandomSampling(), 10), (DFAL(), None)], "do not increase"),
        ([(RandomSampling(), None), (DFAL(), None)], "thresholds"),
        ([("random", None)], "non-empty list of \\(QueryStrategy, until\\) pairs"),
        ("bogus", "phases must be"),
    ],
)
def test_bad_schedules(digits_split, phases, message):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=1).fit(X_init, y_init)
    with pytest.raises(ValueError, match=message):
        Schedule(phases).select(net, X_pool, 2)


def test_schedule_is_cloned_and_grid_searched(digits):
    X, y = digits
    flat = X.reshape(len(X), -1)
    schedule = Schedule([(RandomSampling(), 30), (EntropySampling(), None)])
    copied = clone(schedule)
    assert copied.phases[0][1] == 30
    learner = ActiveLearner(LogisticRegression(max_iter=300), schedule, random_state=0)
    grid = {"query_strategy__phases": [[(EntropySampling(), None)], schedule.phases]}
    search = GridSearchCV(learner, grid, cv=2).fit(flat[:200], y[:200])
    assert len(search.best_estimator_.query(flat[200:400], 3)) == 3


def test_the_recommended_schedule():
    from skactive.experiments.registry import RECOMMENDED_SWITCH, make_strategy

    schedule = make_strategy("schedule", query_size=25, candidates=500)
    (early, until), (late, last) = schedule.phases
    assert until == RECOMMENDED_SWITCH and last is None
    assert isinstance(early, DFAL) and early.candidates == 25  # random rows with twins
    assert isinstance(late, DFAL) and late.candidates == 500
