"""FGSM, PGD, robust accuracy and DRE: known answers."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import cross_val_score
from torch import nn

from skactive import ActiveLearner
from skactive.attacks import fgsm, pgd
from skactive.metrics import robust_accuracy, robust_accuracy_scorer
from skactive.strategies import DRE
from skactive.strategies.dre import entropy_stratified_sample

from .conftest import FixedProba, tiny_net


@pytest.fixture(scope="module")
def trained(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    net = tiny_net(max_epochs=15).fit(
        np.concatenate([X_init, X_pool]), np.concatenate([y_init, y_pool])
    )
    return net, X_test[:150], y_test[:150]


def _affine(weight, bias):
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        layer.bias.copy_(torch.as_tensor(bias))
    return layer


# -- attacks --------------------------------------------------------------------


@pytest.mark.parametrize("norm", [np.inf, 2])
def test_eps_zero_gives_the_clean_rows(trained, norm):
    net, X, y = trained
    assert_allclose(pgd(net, X, y, eps=0.0, step_size=0.1, n_steps=3, norm=norm), X)
    assert_allclose(fgsm(net, X, y, eps=0.0, norm=norm), X)


@pytest.mark.parametrize("norm", [np.inf, 2])
def test_pgd_stays_in_the_ball_and_the_clip(trained, norm):
    net, X, y = trained
    eps = 0.2 if norm == np.inf else 1.5
    adversarial = pgd(
        net, X, y, eps=eps, step_size=eps / 4, n_steps=8, norm=norm, random_start=True,
        clip=(0.0, 1.0), random_state=0,
    )  # fmt: skip
    delta = (adversarial - X).reshape(len(X), -1)
    assert np.linalg.norm(delta, ord=norm, axis=1).max() <= eps + 1e-5
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0


def test_fgsm_on_an_affine_classifier_follows_the_weight_difference():
    weight = np.array([[1.0, -2.0, 0.5], [-1.0, 3.0, -0.5]], dtype=np.float32)
    model = _affine(weight, np.zeros(2, dtype=np.float32))
    X = np.random.RandomState(0).rand(5, 3).astype(np.float32)
    y = np.zeros(5, dtype=int)
    adversarial = fgsm(model, X, y, eps=0.1)
    # Raising the loss at class 0 moves along the sign of w_1 - w_0.
    expected = X + 0.1 * np.sign(weight[1] - weight[0])
    assert_allclose(adversarial, expected, atol=1e-6)
    l2 = fgsm(model, X, y, eps=0.1, norm=2)
    direction = (weight[1] - weight[0]) / np.linalg.norm(weight[1] - weight[0])
    assert_allclose(l2, X + 0.1 * direction, atol=1e-6)


def test_robust_accuracy_never_exceeds_clean_accuracy(trained):
    net, X, y = trained
    clean = net.score(X, y)
    assert robust_accuracy(net, X, y, eps=0.0, n_steps=2) == pytest.approx(clean)
    fgsm_acc = robust_accuracy(net, X, y, eps=0.1, attack="fgsm")
    pgd_acc = robust_accuracy(net, X, y, eps=0.1, n_steps=20, random_state=0)
    assert pgd_acc <= fgsm_acc + 0.02 and fgsm_acc < clean
    assert pgd_acc < clean - 0.2


def test_attacks_take_labels_of_the_estimator_and_a_learner(trained, digits_split):
    _, X, y = trained
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), random_state=0).fit(X_init, y_init + 10)
    # The learner's classes are 10..19; its net was trained on 0..9.
    adversarial = pgd(learner, X[:4], y[:4] + 10, eps=0.1, step_size=0.05, n_steps=2)
    assert adversarial.shape == X[:4].shape
    with pytest.raises(ValueError, match=r"y: labels \[3\] are not among"):
        pgd(learner, X[:4], np.array([10, 11, 3, 12]), eps=0.1, step_size=0.05, n_steps=2)


def test_robust_accuracy_scorer_works_in_cross_validation(digits_split):
    X_pool, y_pool = digits_split[2:4]
    X, y = X_pool[:200], y_pool[:200]
    scores = cross_val_score(
        tiny_net(max_epochs=3), X, y, cv=2, scoring=robust_accuracy_scorer(eps=0.05, n_steps=3)
    )
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"eps": -0.1}, "eps must be a non-negative number"),
        ({"step_size": 0.0}, "step_size must be a positive number"),
        ({"n_steps": 0}, "n_steps must be a positive integer"),
        ({"norm": 1}, "norm must be 2 or numpy.inf"),
        ({"clip": (1.0, 0.0)}, "clip must be None or a pair"),
    ],
)
def test_pgd_refuses_bad_parameters(trained, params, message):
    net, X, y = trained
    settings = {"eps": 0.1, "step_size": 0.05, "n_steps": 2, **params}
    with pytest.raises(ValueError, match=message):
        pgd(net, X[:3], y[:3], **settings)


# -- DRE ------------------------------------------------------------------------


def test_allocation_follows_the_entropy_histogram():
    scores = np.array([0.0] * 40 + [1.0] * 60)
    picks = entropy_stratified_sample(scores, 10, 50, np.random.RandomState(0))
    assert len(set(picks.tolist())) == 10
    assert (scores[picks] == 0).sum() == 4 and (scores[picks] == 1).sum() == 6


def test_ties_at_the_maximum_still_give_exactly_n():
    # The reference's half-open last bin returns 5 of 10 here.
    scores = np.array([0.9] * 50 + [0.1] * 50)
    picks = entropy_stratified_sample(scores, 10, 50, np.random.RandomState(0))
    assert len(set(picks.tolist())) == 10 and (scores[picks] == 0.9).sum() == 5


def test_equal_entropies_give_uniform_picks():
    counts = np.zeros(20)
    for seed in range(400):
        counts[entropy_stratified_sample(np.ones(20), 5, 50, np.random.RandomState(seed))] += 1
    assert counts.min() > 60 and counts.max() < 140  # 100 expected each


def test_surplus_is_trimmed_from_the_lowest_bins():
    scores = np.array([0.0] * 3 + [0.5] * 3 + [1.0] * 4)
    picks = entropy_stratified_sample(scores, 3, 2, np.random.RandomState(0))
    # ceil(0.3 * 3) + ceil(0.7 * 3) = 1 + 3 (bins [0, .5) and [.5, 1]); the low pick goes.
    assert np.all(scores[picks] >= 0.5)


def test_dre_scores_entropy_in_bits_and_picks_through_the_histogram():
    proba = np.array([[1.0, 0.0]] * 40 + [[0.5, 0.5]] * 60)
    model = FixedProba(proba).fit(np.zeros((2, 1)), [0, 1])
    X = np.arange(100.0)[:, None]
    strategy = DRE(random_state=0)
    picks = strategy.select(model, X, 10)
    assert_allclose(strategy.scores_, [0.0] * 40 + [1.0] * 60, atol=1e-12)
    assert (picks >= 40).sum() == 6
    assert_array_equal(DRE(random_state=0).select(model, X, 10), picks)


def test_dre_through_active_learner_with_a_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), DRE(n_bins=10), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=12)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 12


def test_dre_refuses_bad_bins():
    model = FixedProba(np.full((5, 2), 0.5)).fit(np.zeros((2, 1)), [0, 1])
    with pytest.raises(ValueError, match="n_bins"):
        DRE(n_bins=0).select(model, np.arange(5.0)[:, None], 2)


def test_eps_zero_is_the_clean_accuracy_behind_a_scaler(digits_split):
    # The default clip bounds pixels; behind a StandardScaler the net's inputs
    # are not pixels, and clipping them to [0, 1] would change the predictions.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    flat = FunctionTransformer(lambda X: X.reshape(len(X), -1))
    scaled = FunctionTransformer(lambda X: X.reshape(len(X), 1, 8, 8))
    pipe = make_pipeline(flat, StandardScaler(), scaled, tiny_net(max_epochs=10))
    learner = ActiveLearner(pipe, random_state=0).fit(
        np.concatenate([X_init, X_pool]), np.concatenate([y_init, y_pool])
    )
    clean = learner.score(X_test, y_test)
    assert robust_accuracy(learner, X_test, y_test, eps=0.0, n_steps=1) == pytest.approx(clean)
    scorer = robust_accuracy_scorer(eps=0.0, n_steps=1)
    assert scorer(learner, X_test, y_test) == pytest.approx(clean)
    # The old default, clipping the scaled inputs, gives another number.
    clipped = robust_accuracy(learner, X_test, y_test, eps=0.0, n_steps=1, clip=(0.0, 1.0))
    assert clipped != pytest.approx(clean)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_steps": 0}, "n_steps must be a positive integer, got 0"),
        ({"clip": "pixels"}, "clip must be 'auto', None or a pair"),
    ],
)
def test_bad_robust_accuracy_parameters(trained, params, message):
    net, X, y = trained
    with pytest.raises(ValueError, match=message):
        robust_accuracy(net, X, y, eps=0.1, **params)
