import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate

from skactive import ActiveLearner
from skactive.model_selection import GroupedKFold, transferred_queries
from skactive.models import VGG8, LeNet5
from skactive.strategies import DFAL

from .conftest import tiny_net


@pytest.fixture(scope="module")
def learner(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=3), DFAL(candidates=300), random_state=0)
    learner.fit(X_init, y_init)
    for _ in range(2):
        idx = learner.query(X_pool, 20)
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    return learner


def test_no_group_is_ever_split(learner):
    X, y, cv = transferred_queries(learner, random_state=0)
    groups = cv.groups
    assert len(X) > len(learner.y_labeled_)  # twins included
    seen_test = []
    for train, test in cv.split(X, y):
        assert not set(groups[train]) & set(groups[test])
        seen_test.append(test)
    assert sorted(np.concatenate(seen_test).tolist()) == list(range(len(X)))


def test_without_twins(learner):
    X, _, cv = transferred_queries(learner, twins=False)
    assert len(X) == len(learner.y_labeled_)
    assert len(cv.groups) == len(X)


def test_grid_search_over_two_architectures(learner):
    X, y, cv = transferred_queries(learner, n_splits=3, random_state=0)
    # VGG8 takes `width`, LeNet5 does not: one grid per architecture
    search = GridSearchCV(
        tiny_net(max_epochs=2),
        [{"module": [LeNet5]}, {"module": [VGG8], "module__width": [8]}],
        cv=cv,
        error_score="raise",
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert search.best_params_["module"] in (LeNet5, VGG8)
    assert len(cross_val_score(tiny_net(max_epochs=1), X, y, cv=cv)) == 3
    result = cross_validate(tiny_net(max_epochs=1), X, y, cv=cv)
    assert len(result["test_score"]) == 3


def test_groups_are_required_and_checked():
    cv = GroupedKFold(n_splits=2)
    with pytest.raises(ValueError, match="groups: GroupedKFold needs groups"):
        list(cv.split(np.zeros((4, 1))))
    with pytest.raises(ValueError, match="groups has 3 entries but X has 4 rows"):
        list(GroupedKFold([0, 1, 2], n_splits=2).split(np.zeros((4, 1))))
    folds = list(GroupedKFold([0, 0, 1, 1], n_splits=2, stratify=False).split(np.zeros((4, 1))))
    assert sorted(map(sorted, (t for _, t in folds))) == [[0, 1], [2, 3]]


def test_nested_cv_splits_no_group_at_either_level(learner):
    X, y, cv = transferred_queries(learner, n_splits=3, random_state=0)
    group_of = dict(zip(map(bytes, X.reshape(len(X), -1)), cv.groups, strict=True))

    def groups(rows):
        return {group_of[bytes(row)] for row in rows.reshape(len(rows), -1)}

    for train, test in cv.split(X, y):
        assert not groups(X[train]) & groups(X[test])
        for inner_train, inner_test in cv.split(X[train], y[train]):
            assert not groups(X[train][inner_train]) & groups(X[train][inner_test])
    search = GridSearchCV(tiny_net(max_epochs=1), {"lr": [1e-3, 3e-3]}, cv=cv, error_score="raise")
    scores = cross_val_score(search, X, y, cv=cv, error_score="raise")
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_a_subset_without_rows_is_refused_clearly():
    cv = GroupedKFold([0, 0, 1, 1, 2, 2], n_splits=2, stratify=False)
    with pytest.raises(ValueError, match="pass rows= to GroupedKFold"):
        list(cv.split(np.zeros((4, 1))))
    known = GroupedKFold([0, 1], n_splits=2, rows=np.array([[0.0], [1.0]]), stratify=False)
    with pytest.raises(ValueError, match="not among the rows"):
        list(known.split(np.array([[5.0], [6.0]])))
