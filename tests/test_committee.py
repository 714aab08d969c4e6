"""Committee, query-by-committee measures and ensemble BALD: known answers."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier

from skactive import ActiveLearner, Committee
from skactive.strategies import QueryByCommittee

from .conftest import snapshot, tiny_net


def test_committee_members_differ_and_a_seed_repeats_bit_for_bit(committee, digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    weights = [m.module_.classifier[-1].weight.detach().numpy() for m in committee.estimators_]
    assert not np.array_equal(weights[0], weights[1])
    again = Committee(tiny_net(max_epochs=3), n_members=3, random_state=0).fit(X_init, y_init)
    assert_array_equal(again.member_probabilities(X_pool), committee.member_probabilities(X_pool))
    other = Committee(tiny_net(max_epochs=3), n_members=3, random_state=1).fit(X_init, y_init)
    assert not np.array_equal(other.predict_proba(X_pool), committee.predict_proba(X_pool))


def test_committee_prediction_is_the_members_mean(committee, digits_split):
    X_pool = digits_split[2][:50]
    stack = committee.member_probabilities(X_pool)
    assert stack.shape == (3, 50, 10)
    assert_allclose(committee.predict_proba(X_pool), stack.mean(axis=0))
    assert_array_equal(committee.predict(X_pool), stack.mean(axis=0).argmax(axis=1))


@pytest.mark.slow
def test_parallel_training_gives_the_same_committee(flat_digits):
    X, y = flat_digits
    tree = DecisionTreeClassifier(max_features=0.3)
    serial = Committee(tree, n_members=4, bootstrap=True, random_state=0).fit(X[:200], y[:200])
    parallel = Committee(tree, n_members=4, bootstrap=True, n_jobs=2, random_state=0)
    parallel.fit(X[:200], y[:200])
    assert_array_equal(serial.member_probabilities(X[200:]), parallel.member_probabilities(X[200:]))


def test_bootstrap_members_keep_every_class(flat_digits):
    X, y = flat_digits
    keep = np.flatnonzero(y < 3)[:12]
    committee = Committee(DecisionTreeClassifier(), n_members=8, bootstrap=True, random_state=0)
    committee.fit(X[keep], y[keep])
    stack = committee.member_probabilities(X[:20])
    assert stack.shape == (8, 20, 3)
    assert_allclose(stack.sum(axis=2), 1.0)


def test_committee_is_a_scikit_learn_citizen(flat_digits):
    X, y = flat_digits
    committee = Committee(LogisticRegression(max_iter=200), n_members=2, random_state=0)
    assert clone(committee).get_params()["estimator__max_iter"] == 200
    search = GridSearchCV(committee, {"estimator__C": [0.1, 1.0]}, cv=2).fit(X[:200], y[:200])
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    assert_array_equal(restored.predict(X[200:260]), search.best_estimator_.predict(X[200:260]))
    labels = np.array(["a", "b", "c"])[y[:90] % 3]
    assert set(committee.fit(X[:90], labels).predict(X[:20])) <= {"a", "b", "c"}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_members": 1}, "n_members must be an integer >= 2"),
        ({"n_members": 2.5}, "n_members must be an integer >= 2"),
        ({"bootstrap": "yes"}, "bootstrap must be True or False"),
        ({"n_jobs": 0}, "n_jobs must be None or a non-zero integer"),
    ],
)
def test_committee_bad_parameters(flat_digits, params, message):
    X, y = flat_digits
    committee = Committee(LogisticRegression(), **params)
    with pytest.raises(ValueError, match=message):
        committee.fit(X[:30], y[:30])
    assert not hasattr(committee, "estimators_")


def test_committee_inside_active_learner_refits_every_member(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(
        Committee(tiny_net(max_epochs=2), n_members=2, bootstrap=True),
        QueryByCommittee("variation_ratio", candidates=200),
        random_state=0,
    ).fit(X_init, y_init)
    first = learner.estimator_
    idx = learner.query(X_pool, 5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert learner.estimator_ is not first and len(learner.estimator_.estimators_) == 2
    assert learner.predict_proba(X_pool[:3]).shape == (3, 10)
    before = snapshot(learner)
    learner.set_params(query_strategy__measure="nope")
    with pytest.raises(ValueError, match="measure must be one of"):
        learner.query(X_pool, 2)
    learner.set_params(query_strategy__measure="variation_ratio")
    assert snapshot(learner) == before


def test_a_seeded_learner_reproduces_a_committee_campaign(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split

    def campaign():
        committee = Committee(tiny_net(max_epochs=1), n_members=2)  # no seed of its own
        learner = ActiveLearner(committee, QueryByCommittee(candidates=150), random_state=4)
        learner.fit(X_init, y_init)
        idx = learner.query(X_pool, 4)
        learner.teach(X_pool[idx], y_pool[idx])
        return learner.query(X_pool, 4), learner.predict_proba(X_pool[:5])

    (first, proba_first), (second, proba_second) = campaign(), campaign()
    assert_array_equal(first, second)
    assert_array_equal(proba_first, proba_second)


@pytest.mark.slow
def test_runner_and_command_line_build_committees(tmp_path):
    from skactive.__main__ import main
    from skactive.experiments import QUICK, ExperimentConfig, read_results, run_experiments
    from skactive.experiments.registry import estimator_for

    assert estimator_for("qbc", tiny_net()).n_members == 5
    assert estimator_for("suggestive", tiny_net()).bootstrap
    assert not isinstance(estimator_for("dfal", tiny_net()), Committee)
    settings = dict(QUICK, strategies=("qbc", "suggestive"), seeds=(0,), budget=40, epochs=2)
    config = ExperimentConfig(**settings, output_dir=tmp_path / "runner", progress=False)
    rows = read_results(run_experiments(config))
    assert {r["strategy"] for r in rows} == {"qbc", "suggestive"} and len(rows) == 4
    args = ["--strategies", "qbc", "--initial", "20", "--query-size", "10", "--budget", "30"]
    assert (
        main(
            [
                *args,
                "--epochs",
                "1",
                "--seeds",
                "1",
                "--no-progress",
                "--output-dir",
                str(tmp_path / "cli"),
            ]
        )
        == 0
    )


def test_committee_classes_cover_labels_missing_from_the_rows(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    keep = y_init != 9
    committee = Committee(tiny_net(max_epochs=1), n_members=2, classes=np.arange(10))
    committee.fit(X_init[keep], y_init[keep])
    assert committee.member_probabilities(X_pool[:4]).shape == (2, 4, 10)
    with pytest.raises(ValueError, match=r"y has labels \[9\] not listed in classes"):
        Committee(tiny_net(), classes=np.arange(9)).fit(X_init, y_init)


class _HandBuiltEnsemble(ClassifierMixin, BaseEstimator):
    """An ensemble whose members were trained on raw, different label sets."""

    def __init__(self, members=None, classes=None):
        self.members, self.classes = members, classes
        self.estimators_, self.classes_ = members, np.asarray(classes)

    def fit(self, X, y):  # pragma: no cover - built fitted
        return self

    def predict_proba(self, X):  # pragma: no cover - not used by the strategy
        raise NotImplementedError

    def __sklearn_is_fitted__(self):
        return True


def test_members_disagreeing_on_classes_are_a_clear_error(flat_digits):
    X, _ = flat_digits
    first = LogisticRegression().fit(X[:40], np.array(["a", "b"] * 20))
    second = LogisticRegression().fit(X[:40], np.array(["a", "c"] * 20))
    ensemble = _HandBuiltEnsemble([first, second], ["a", "b", "c"])
    with pytest.raises(ValueError, match="the members disagree on classes"):
        QueryByCommittee().select(ensemble, X[40:80], 2)


def test_a_bad_committee_leaves_the_learner_as_it_was(digits_split):
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(Committee(tiny_net(max_epochs=1), n_members=1))
    with pytest.raises(ValueError, match="n_members must be an integer >= 2"):
        learner.fit(X_init, y_init)
    assert not hasattr(learner, "estimator_") and not hasattr(learner, "n_features_in_")
