"""Query-by-committee measures on posterior stacks, on ensembles and on MC dropout."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import BaggingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

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

from .conftest import tiny_net


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


def test_ensemble_bald_is_the_mutual_information_of_the_members(committee, digits_split):
    X_pool = digits_split[2][:80]
    strategy = BALD()
    strategy.select(committee, X_pool, 4)
    # rtol: scoring runs CPU conv nets in channels_last layout, whose float32
    # outputs differ from member_probabilities' by rounding.
    expected = mutual_information(committee.member_probabilities(X_pool))
    assert_allclose(strategy.scores_, expected, rtol=1e-5)


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
