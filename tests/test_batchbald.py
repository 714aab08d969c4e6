"""BatchBALD: joint entropies, the greedy batch, consistent MC dropout, and a campaign."""

import itertools

import numpy as np
import pytest
import torch

from skactive import ActiveLearner, _torch
from skactive.strategies import BALD, BatchBALD
from skactive.strategies.batchbald import batchbald_greedy, joint_entropy
from skactive.strategies.query_by_committee import mutual_information
from tests.conftest import tiny_net


def _random_stack(seed, n_samples=8, n_rows=40, n_classes=4):
    rng = np.random.RandomState(seed)
    return rng.dirichlet(np.full(n_classes, 0.4), size=(n_samples, n_rows))


def test_the_joint_entropy_of_three_rows_and_three_classes_equals_enumeration():
    stack = _random_stack(0, n_samples=5, n_rows=3, n_classes=3)
    expected = 0.0
    for labels in itertools.product(range(3), repeat=3):
        p = np.mean([np.prod([stack[k, i, y] for i, y in enumerate(labels)]) for k in range(5)])
        expected -= p * np.log(p)
    assert joint_entropy(stack) == pytest.approx(expected, rel=1e-12)
    # The greedy's exact path gives the same number for the same rows.
    assert joint_entropy(stack, n_configurations=27) == pytest.approx(expected, rel=1e-12)


def test_the_sampled_estimate_is_close_to_the_exact_joint_entropy():
    stack = _random_stack(1, n_samples=10, n_rows=4, n_classes=10)  # 10,000 configurations
    exact = joint_entropy(stack)
    rng = np.random.RandomState(0)
    estimates = [joint_entropy(stack, n_configurations=2000, rng=rng) for _ in range(5)]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.01)


@pytest.mark.parametrize("seed", range(5))
def test_the_first_pick_is_balds_top_pick(seed):
    stack = _random_stack(seed)
    picks, information = batchbald_greedy(stack, 5)
    assert picks[0] == np.argmax(mutual_information(stack))
    assert information[0] == pytest.approx(mutual_information(stack).max())
    assert len(set(picks.tolist())) == 5
    # The batch's information grows with each pick and never exceeds H(model) = log K.
    assert np.all(np.diff(information) >= -1e-12) and information[-1] <= np.log(8) + 1e-9


def _duplicates_pool():
    """Four models, two classes: row 0 splits them {0,2}|{1,3}, rows 1-2 are its copies.

    Row 3 splits them {0,1}|{2,3} and row 4 {0,3}|{1,2}, slightly softer, so
    their BALD is a little lower than row 0's.
    """
    hard = {0: [0, 1, 0, 1], 3: [0, 0, 1, 1], 4: [0, 1, 1, 0]}
    stack = np.empty((4, 5, 2))
    for row, votes in {**hard, 1: hard[0], 2: hard[0]}.items():
        sharp = 1.0 if row in (0, 1, 2) else 0.97
        for k, vote in enumerate(votes):
            stack[k, row, vote], stack[k, row, 1 - vote] = sharp, 1 - sharp
    return stack


def test_batchbald_skips_the_duplicates_that_bald_takes_all_of():
    stack = _duplicates_pool()
    bald_top3 = np.argsort(-mutual_information(stack), kind="stable")[:3]
    assert set(bald_top3.tolist()) == {0, 1, 2}  # BALD takes every copy
    picks, information = batchbald_greedy(stack, 3)
    assert picks[0] in (0, 1, 2) and set(picks[1:].tolist()) == {3, 4}
    assert information[-1] == pytest.approx(np.log(4), abs=0.05)  # two bits of four models


def test_consistent_dropout_gives_every_row_the_same_masks():
    module = torch.nn.Sequential(
        torch.nn.Linear(6, 32), torch.nn.Dropout(0.5), torch.nn.Linear(32, 3)
    )
    module.train()
    x = torch.randn(1, 6).repeat(4, 1)  # four identical rows
    dropout = _torch.ConsistentDropout(module, seed=7)
    with torch.no_grad(), dropout.active():
        dropout.set_pass(0)
        first = module(x)
        again = module(x[:1])
        dropout.set_pass(1)
        other = module(x)
    assert torch.allclose(first, first[:1].expand_as(first))  # one mask for every row
    assert torch.allclose(again, first[:1])  # and for every batch
    assert not torch.allclose(other, first)  # another pass, another mask
    assert module[1].training  # modes restored


def test_batchbald_through_active_learner_with_a_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(), BatchBALD(n_samples=6), random_state=0)
    learner.fit(X_init, y_init)
    for _ in range(2):
        idx = learner.query(X_pool[:300], n=8)
        learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 16
    strategy = learner.query_strategy_
    assert strategy.indices_[0] == strategy.candidates_[np.argmax(strategy.scores_)]
    # Exact while 10 classes give at most 1,000 configurations: three picks.
    assert np.all(np.diff(strategy.batch_information_[:3]) >= -1e-9)


def test_consistent_samples_do_not_depend_on_batch_size_or_row_order(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net().fit(X_init, y_init)
    pool = X_pool[:120]
    picks = BatchBALD(n_samples=5, random_state=3).select(net, pool, 6)
    small = BatchBALD(n_samples=5, batch_size=7, random_state=3).select(net, pool, 6)
    order = np.random.RandomState(0).permutation(len(pool))
    permuted = BatchBALD(n_samples=5, random_state=3).select(net, pool[order], 6)
    np.testing.assert_array_equal(picks, small)
    np.testing.assert_array_equal(order[permuted], picks)


def test_on_a_committee_the_members_are_the_samples(committee, digits_split):
    _, _, X_pool, *_ = digits_split
    strategy = BatchBALD(random_state=0)
    picks = strategy.select(committee, X_pool[:100], 4)
    bald = BALD(random_state=0).select(committee, X_pool[:100], 1)
    assert picks[0] == bald[0]
