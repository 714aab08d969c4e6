"""Suggestive Annotation: max cover, member variance, campaigns."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skactive import ActiveLearner, Committee
from skactive.strategies import SuggestiveAnnotation
from skactive.strategies.suggestive_annotation import greedy_max_cover, member_variance

from .conftest import tiny_net


def test_max_cover_on_a_hand_made_similarity_matrix():
    similarity = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],  # B: covers u1 only
            [1.0, 1.0, 1.0, 0.0],  # A: covers u1, u2, u3
            [0.0, 0.0, 0.0, 1.0],  # C: covers u4
        ]
    )
    picks, gains = greedy_max_cover(similarity, 3)
    assert_array_equal(picks, [1, 2, 0])  # A, then what adds most (C), then B adds nothing
    assert_allclose(gains, [3.0, 1.0, 0.0])


def test_max_cover_on_a_line_of_points():
    points = np.arange(10.0)
    similarity = (np.abs(points[:, None] - points[None, :]) <= 1).astype(float)
    picks, gains = greedy_max_cover(similarity, 4)
    assert_array_equal(picks, [1, 4, 7, 8])  # 8 and 9 both cover point 9: ties go to the lowest
    assert_allclose(gains, [3, 3, 3, 1])
    assert np.all(np.diff(gains) <= 0)  # submodular: gains never grow


def test_max_cover_checks_its_input():
    with pytest.raises(ValueError, match="non-negative"):
        greedy_max_cover(-np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match=r"n=3 is larger than the candidates"):
        greedy_max_cover(np.ones((2, 2)), 3)


def test_member_variance():
    stack = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert_allclose(member_variance(stack), [0.25])
    assert_allclose(member_variance(np.stack([stack[0]] * 3)), [0.0])


@pytest.fixture(scope="module")
def committee_learner(digits_split):
    X_init, y_init, *_ = digits_split
    committee = Committee(tiny_net(max_epochs=4), n_members=3, bootstrap=True)
    return ActiveLearner(committee, SuggestiveAnnotation(), random_state=0).fit(X_init, y_init)


def test_suggestive_annotation_covers_among_the_uncertain(committee_learner, digits_split):
    X_pool = digits_split[2][:300]
    strategy = SuggestiveAnnotation(n_uncertain=20, random_state=0)
    picks = strategy.select(committee_learner, X_pool, 5)
    stack = committee_learner.estimator_.member_probabilities(X_pool)
    # rtol: float32 rounding of the channels_last layout used while scoring.
    assert_allclose(strategy.scores_, member_variance(stack), rtol=1e-5)
    top = np.argsort(-strategy.scores_)[:20]
    assert set(strategy.uncertain_) == set(top)
    assert set(picks) <= set(top)
    assert np.all(np.diff(strategy.cover_gains_) <= 1e-9)
    everything = SuggestiveAnnotation(n_uncertain=5, random_state=0).select(
        committee_learner, X_pool, 5
    )
    assert set(everything) == set(top[:5])  # n_uncertain = n keeps all of them


def test_suggestive_annotation_campaign(committee_learner, digits_split):
    _, _, X_pool, y_pool, *_ = digits_split
    learner = committee_learner
    for _ in range(2):
        idx = learner.query(X_pool, 6)
        assert len(set(idx.tolist())) == 6
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    with pytest.raises(ValueError, match="n_uncertain=3 must be at least n=4"):
        SuggestiveAnnotation(n_uncertain=3).select(learner, X_pool, 4)


def test_suggestive_annotation_on_a_forest_uses_the_rows(digits):
    from sklearn.ensemble import RandomForestClassifier

    X, y = digits
    flat = X.reshape(len(X), -1)
    forest = RandomForestClassifier(10, random_state=0).fit(flat[:200], y[:200])
    picks = SuggestiveAnnotation(random_state=0).select(forest, flat[200:400], 4)
    assert len(set(picks.tolist())) == 4
