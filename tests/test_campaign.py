"""The learner's state as immutable values: known answers for each transition."""

from dataclasses import replace

import numpy as np
import pytest

from skactive._campaign import (
    Campaign,
    ClassSpace,
    LabeledSet,
    ParameterTracker,
    PendingQuery,
    base_seed,
)
from skactive.base import TrainingExtras
from skactive.strategies import CEAL, EntropySampling


def _rows(*values):
    return np.array([[v, v] for v in values], dtype=np.float64)


def test_a_taught_set_appends_and_numbers_twin_sources_after_the_old_rows():
    start = LabeledSet.start(_rows(0, 1), np.array([0, 1]))
    assert len(start.twins) == 0 and start.twins.shape[1:] == (2,)
    taught = start.taught(
        _rows(2, 3), np.array([1, 0]), _rows(30), np.array([0]), np.array([1]), _rows(), []
    )
    assert start.X.shape == (2, 2)  # the old value is untouched
    np.testing.assert_array_equal(taught.y, [0, 1, 1, 0])
    np.testing.assert_array_equal(taught.twin_sources, [3])  # row 1 of the new rows
    X, y, groups = taught.training_set()
    np.testing.assert_array_equal(groups, [0, 1, 2, 3, 3])
    np.testing.assert_array_equal(X[-1], [30, 30])
    assert y[-1] == 0  # the twin's label


def test_a_pending_query_hands_over_the_twins_of_the_rows_taught_only():
    pool = _rows(10, 11, 12)
    extras = TrainingExtras(twins=_rows(100, 120), twin_sources=np.array([0, 1]))
    pending = PendingQuery.of(pool, np.array([0, 2]), extras, np.array([]))
    labeled = LabeledSet.start(_rows(0), np.array([0]))
    keys = list(pending.positions)[1:]  # only row 12 is taught
    twins, twin_y, twin_rows, positions = pending.twins_for(keys, np.array([1]), labeled)
    np.testing.assert_array_equal(twins, _rows(120))
    np.testing.assert_array_equal(twin_y, [1])
    assert positions == frozenset({1})
    np.testing.assert_array_equal(twin_rows, [0])  # the first (only) row taught


def test_the_class_space_encodes_grows_and_aligns_columns():
    space = ClassSpace(np.array([1, 5, 9]), np.array([1, 9]))
    np.testing.assert_array_equal(space.encode([9, 1], name="y"), [2, 0])
    with pytest.raises(ValueError, match=r"y has labels \[4\] outside the classes"):
        space.encode([4], name="y")
    np.testing.assert_array_equal(space.grown_to([1, 5, 9, 11]), [1, 5, 9, 11])
    with pytest.raises(ValueError, match="never shrink"):
        space.grown_to([1, 9])
    # The model knows classes 1 and 9 only: class 5's column is 0.
    np.testing.assert_allclose(space.align(np.array([[0.3, 0.7]]), None), [[0.3, 0.0, 0.7]])


def test_the_tracker_notices_a_changed_parameter_until_it_is_marked_used():
    params = dict(estimator=1, query_strategy=None, random_state=0, classes=None)
    tracker = ParameterTracker.of(params)
    params["random_state"] = 1
    assert tracker.changed(params, "random_state")
    assert not tracker.changed(params, "estimator")
    assert not tracker.marked(params, "random_state").changed(params, "random_state")


def _campaign(params, strategy):
    labeled = LabeledSet.start(_rows(0, 1), np.array([0, 1]))
    return replace(Campaign.started(params, labeled), strategy=strategy)


def test_a_new_strategy_of_the_same_class_keeps_the_round_state():
    params = dict(estimator=None, query_strategy=CEAL(delta=0.1), random_state=None, classes=None)
    fitted = CEAL(delta=0.1)
    fitted.round_ = 4  # round state a query left
    campaign = _campaign(params, fitted)
    assert campaign.strategy_for_query(params) is not fitted  # a copy: select may fail
    params["query_strategy"] = CEAL(delta=0.3)
    kept = campaign.strategy_for_query(params)
    assert kept.delta == 0.3 and kept.round_ == 4 and fitted.delta == 0.1
    params["query_strategy"] = None
    assert type(campaign.strategy_for_query(params)) is EntropySampling


def test_seeds_are_reproducible_and_differ_by_round_and_purpose():
    assert base_seed(None) is None and base_seed(3) == base_seed(3)
    params = dict(estimator=None, query_strategy=None, random_state=3, classes=None)
    campaign = Campaign.started(params, LabeledSet.start(_rows(0), np.array([0])))
    assert campaign.round_seed("fit") == campaign.round_seed("fit")
    assert campaign.round_seed("fit") != campaign.round_seed("query")
    later = replace(campaign, n_iter=1)
    assert later.round_seed("fit") != campaign.round_seed("fit")
