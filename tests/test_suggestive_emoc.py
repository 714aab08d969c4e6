"""Suggestive Annotation and EMOC: known answers and brute force."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from torch import nn

from skactive import ActiveLearner, Committee
from skactive.strategies import EMOC, SuggestiveAnnotation
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
    assert_allclose(strategy.scores_, member_variance(stack))
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


class TwoLayer(nn.Module):
    def __init__(self, n_in=64, n_hidden=6, n_out=10, bias=True):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out, bias=bias)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x.flatten(1)))).squeeze(-1)


def _brute_force_emoc(module, X_candidates, X_reference, gamma, binary=False):
    """One SGD step on the last layer per hypothetical label; mean L1 output change."""
    x_ref = torch.as_tensor(X_reference)
    with torch.no_grad():
        before = module(x_ref)
    scores = []
    for row in torch.as_tensor(X_candidates):
        with torch.no_grad():
            out = module(row[None])
        proba = torch.sigmoid(out) if binary else torch.softmax(out, dim=1)[0]
        labels = [0, 1] if binary else range(len(proba))
        total = 0.0
        for label in labels:
            layer = module.out
            saved = [p.detach().clone() for p in layer.parameters()]
            layer.zero_grad()
            logit = module(row[None])
            if binary:
                target = torch.tensor([float(label)])
                loss = nn.functional.binary_cross_entropy_with_logits(logit, target)
                weight = proba if label == 1 else 1 - proba
            else:
                loss = nn.functional.cross_entropy(logit, torch.tensor([label]))
                weight = proba[label]
            loss.backward()
            with torch.no_grad():
                for param in layer.parameters():
                    param -= gamma * param.grad
                change = (module(x_ref) - before).abs()
                change = change if binary else change.sum(dim=1)
                for param, value in zip(layer.parameters(), saved, strict=True):
                    param.copy_(value)
            total += float(weight) * float(change.mean())
        scores.append(total)
    return np.array(scores)


@pytest.mark.parametrize("bias", [True, False])
def test_emoc_equals_one_sgd_step_per_label(digits_split, bias):
    X_init, y_init, X_pool, *_ = digits_split
    net = NeuralNetClassifier(
        TwoLayer,
        module__bias=bias,
        criterion=nn.CrossEntropyLoss,
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
    ).fit(X_init, y_init)
    pool = X_pool[:40]
    strategy = EMOC(n_reference=1000, learning_rate=0.3, random_state=0)
    strategy.select(net, pool, 3)
    assert_array_equal(strategy.reference_, np.arange(40))  # the whole (small) pool
    expected = _brute_force_emoc(net.module_, pool, pool, gamma=0.3)
    assert_allclose(strategy.scores_, expected, rtol=1e-4)


def test_emoc_on_a_binary_net_equals_brute_force(digits):
    X, y = digits
    keep = np.isin(y, [1, 7])
    X, y = X[keep], (y[keep] == 7).astype(np.float32)
    net = NeuralNetBinaryClassifier(
        TwoLayer, module__n_out=1, max_epochs=5, lr=0.1, train_split=None, verbose=0
    ).fit(X[:60], y[:60])
    strategy = EMOC(n_reference=30, random_state=0)
    strategy.select(net, X[60:90], 3)
    expected = _brute_force_emoc(net.module_, X[60:90], X[60:90][strategy.reference_], 1.0, True)
    assert_allclose(strategy.scores_, expected, rtol=1e-4)


def test_emoc_learning_rate_scales_scores_not_picks(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=2).fit(X_init, y_init)
    one, ten = EMOC(random_state=0), EMOC(learning_rate=10.0, random_state=0)
    assert_array_equal(one.select(net, X_pool[:200], 5), ten.select(net, X_pool[:200], 5))
    assert_allclose(ten.scores_, 10 * one.scores_, rtol=1e-10)
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        EMOC(learning_rate=0).select(net, X_pool[:20], 2)


def test_emoc_through_active_learner(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), EMOC(candidates=200), random_state=0)
    learner.fit(X_init, y_init)
    for _ in range(2):
        idx = learner.query(X_pool, 5)
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.y_labeled_) == len(y_init) + 10
