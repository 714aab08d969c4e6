"""Committee, query-by-committee measures and ensemble BALD: known answers."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import BaggingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from skactive import ActiveLearner, Committee
from skactive.strategies import BALD, QueryByCommittee
from skactive.strategies.query_by_committee import (
    MEASURES,
    consensus_entropy,
    kl_max,
    kl_mean,
    mutual_information,
    variation_ratio,
    vote_entropy,
)

from .conftest import snapshot, tiny_net


def _one_hot_stack(votes, n_classes):
    """A stack whose member m puts all mass on class votes[m], for one row."""
    return np.eye(n_classes)[np.asarray(votes)][:, None, :]


@pytest.mark.parametrize(
    "votes, expected",
    [([0, 0, 1, 1], np.log(2)), ([0, 0, 0, 0], 0.0), ([0, 1, 2, 3], np.log(4))],
)
def test_vote_entropy_known_answers(votes, expected):
    for n_classes in (4, 7):  # classes nobody voted for do not matter
        assert_allclose(vote_entropy(_one_hot_stack(votes, n_classes)), [expected])


def test_two_opposite_members():
    stack = _one_hot_stack([0, 1], 2)
    assert_allclose(consensus_entropy(stack), [np.log(2)])
    assert_allclose(mutual_information(stack), [np.log(2)])
    assert_allclose(kl_mean(stack), [np.log(2)])
    assert_allclose(kl_max(stack), [np.log(2)])
    assert_allclose(variation_ratio(stack), [0.5])


def test_hand_written_soft_stack():
    stack = np.array([[[0.7, 0.2, 0.1]], [[0.1, 0.6, 0.3]], [[0.5, 0.25, 0.25]]])
    mean = stack.mean(axis=0)[0]
    assert_allclose(consensus_entropy(stack), [-(mean * np.log(mean)).sum()])
    kls = [(p * np.log(p / mean)).sum() for p in stack[:, 0]]
    assert_allclose(kl_mean(stack), [np.mean(kls)])
    assert_allclose(kl_max(stack), [np.max(kls)])
    assert_allclose(vote_entropy(stack), [-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))])
    assert_allclose(variation_ratio(stack), [1 / 3])


def test_identical_members_score_zero_on_every_measure():
    rng = np.random.RandomState(0)
    proba = rng.dirichlet(np.ones(5), size=20)
    stack = np.stack([proba] * 4)
    for name, measure in MEASURES.items():
        if name == "consensus_entropy":
            assert_allclose(measure(stack), -(proba * np.log(proba)).sum(axis=1))
        else:
            assert_allclose(measure(stack), 0.0, atol=1e-12, err_msg=name)


def test_kl_mean_equals_bald_and_bounds_kl_max():
    rng = np.random.RandomState(1)
    stack = rng.dirichlet(np.ones(6) * 0.5, size=(5, 50))
    stack[0, :5] = np.eye(6)[:5]  # exact zeros: 0 log 0 = 0, no NaN or inf
    assert_allclose(kl_mean(stack), mutual_information(stack), rtol=1e-10, atol=1e-12)
    assert np.all(kl_max(stack) >= kl_mean(stack) - 1e-12)
    assert np.isfinite(kl_max(stack)).all()


def test_measures_check_the_stack_shape():
    with pytest.raises(ValueError, match=r"proba_samples must have shape \(n_members"):
        vote_entropy(np.ones((3, 4)))


@pytest.fixture(scope="module")
def flat_digits(digits):
    X, y = digits
    return X.reshape(len(X), -1), y


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_random_forest_scores_equal_the_formula_on_its_trees(flat_digits, measure):
    X, y = flat_digits
    forest = RandomForestClassifier(n_estimators=7, random_state=0).fit(X[:150], y[:150])
    pool = X[150:400]
    strategy = QueryByCommittee(measure, random_state=0)
    strategy.select(forest, pool, 5)
    stack = np.stack([tree.predict_proba(pool) for tree in forest.estimators_])
    assert_allclose(strategy.scores_, MEASURES[measure](stack), rtol=1e-12)


def test_bagging_members_see_their_own_features(flat_digits):
    X, y = flat_digits
    bag = BaggingClassifier(
        LogisticRegression(max_iter=300), n_estimators=4, max_features=0.5, random_state=0
    ).fit(X[:200], y[:200])
    strategy = QueryByCommittee("consensus_entropy")
    strategy.select(bag, X[200:300], 3)
    stack = np.stack(
        [
            member.predict_proba(X[200:300][:, features])
            for member, features in zip(bag.estimators_, bag.estimators_features_, strict=True)
        ]
    )
    assert_allclose(strategy.scores_, consensus_entropy(stack))


def test_ensemble_members_missing_a_class_are_aligned(flat_digits):
    X, y = flat_digits
    keep = np.flatnonzero(y[:300] < 3)
    # k-NN takes no sample weights, so each member really sees only its resample.
    bag = BaggingClassifier(KNeighborsClassifier(1), n_estimators=6, max_samples=4, random_state=0)
    bag.fit(X[keep], y[keep])
    assert any(len(m.classes_) < 3 for m in bag.estimators_)  # some resample missed a class
    strategy = QueryByCommittee("vote_entropy")
    strategy.select(bag, X[300:340], 3)
    assert np.isfinite(strategy.scores_).all()


def test_voting_classifier_needs_soft_members(flat_digits):
    X, y = flat_digits
    soft = VotingClassifier(
        [("a", LogisticRegression(max_iter=300)), ("b", DecisionTreeClassifier(random_state=0))],
        voting="soft",
    ).fit(X[:150], y[:150])
    assert len(QueryByCommittee("kl_max").select(soft, X[150:200], 3)) == 3


@pytest.fixture(scope="module")
def committee(digits_split):
    X_init, y_init, *_ = digits_split
    return Committee(tiny_net(max_epochs=3), n_members=3, random_state=0).fit(X_init, y_init)


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


def test_ensemble_bald_is_the_mutual_information_of_the_members(committee, digits_split):
    X_pool = digits_split[2][:80]
    strategy = BALD()
    strategy.select(committee, X_pool, 4)
    assert_allclose(strategy.scores_, mutual_information(committee.member_probabilities(X_pool)))


def test_on_a_committee_scores_ignore_batch_size_and_row_order(committee, digits_split):
    X_pool = digits_split[2][:90]
    first, second = QueryByCommittee("kl_mean"), QueryByCommittee("kl_mean", batch_size=7)
    picks = first.select(committee, X_pool, 3)
    assert_array_equal(second.select(committee, X_pool, 3), picks)
    assert_allclose(second.scores_, first.scores_, rtol=1e-5)  # float32 sums per batch
    order = np.random.RandomState(0).permutation(len(X_pool))
    third = QueryByCommittee("kl_mean")
    third.select(committee, X_pool[order], 3)
    assert_allclose(third.scores_, first.scores_[order])


def test_a_plain_classifier_is_refused(flat_digits):
    X, y = flat_digits
    with pytest.raises(TypeError, match="estimator: QueryByCommittee needs a skactive Committee"):
        QueryByCommittee().select(LogisticRegression(max_iter=200).fit(X[:50], y[:50]), X, 2)


def test_single_net_parameters(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=1).fit(X_init, y_init)
    with pytest.raises(ValueError, match="n_samples must be at least 2"):
        QueryByCommittee(n_samples=1).select(net, X_pool[:20], 2)
    strategy = QueryByCommittee("bald", n_samples=4, random_state=0)
    strategy.select(net, X_pool[:40], 2)
    bald = BALD(n_samples=4, random_state=0)
    bald.select(net, X_pool[:40], 2)
    assert_allclose(strategy.scores_, bald.scores_)  # the same samples, the same measure


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
    from skactive.registry import estimator_for

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
