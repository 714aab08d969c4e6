"""FixMatch and FlexMatch: the mechanism on known answers, then through the library."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from skorch import NeuralNetClassifier

from skactive import ActiveLearner
from skactive.fixmatch import FixMatchNet, flexmatch_thresholds
from skactive.models import make_net
from skactive.param_validation import InvalidParameterError
from skactive.pretraining import pretrain_contrastive
from skactive.strategies import DFAL, EntropySampling


def _identity(x, generator=None):
    return x


class Linear(torch.nn.Module):
    """Logits = flattened rows times a fixed matrix: outputs are chosen by the test."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, x):
        return x.flatten(1) @ self.weight


def _step_loss(net, X_labeled, y_labeled, X_unlabeled):
    """The loss of one FixMatch step on every labelled and unlabelled row, drawn in order."""
    net.initialize()
    y = np.concatenate([y_labeled, np.full(len(X_unlabeled), -1)])
    X = np.concatenate([X_labeled, X_unlabeled]).astype(np.float32)
    losses = []
    original = net.train_step_single

    def record(batch, **fit_params):
        result = original(batch, **fit_params)
        losses.append(float(result["loss"].detach()))
        return result

    net.train_step_single = record
    net.fit(X, y)
    return losses[0]


def _fixed_net(threshold, weight=1.0, thresholds="fixed"):
    # Rows are one-hot-ish 2-vectors; the identity matrix makes logits = rows.
    return FixMatchNet(
        Linear,
        module__weight=np.eye(2) * 1.0,
        threshold=threshold,
        unlabeled_weight=weight,
        unlabeled_ratio=2,
        steps_per_epoch=1,
        max_epochs=1,
        batch_size=1,
        lr=0.0,
        weak=_identity,
        strong=_identity,
        augment_labeled=False,
        thresholds=thresholds,
        random_state=0,
    )


def _ce(logits, label):
    logits = np.asarray(logits, dtype=float)
    return float(np.log(np.exp(logits).sum()) - logits[label])


def test_a_confident_weak_view_is_the_target_and_an_unsure_one_adds_nothing(monkeypatch):
    # One labelled row, two unlabelled: one confident (softmax 0.98 on class 0),
    # one unsure (0.5 / 0.5). Drawn rows are fixed to [0, 1].
    X_l, y_l = np.array([[2.0, 0.0]]), np.array([0])
    X_u = np.array([[4.0, 0.0], [1.0, 1.0]])
    monkeypatch.setattr(FixMatchNet, "_draw_unlabeled", lambda self, state, n: torch.tensor([0, 1]))
    supervised = _ce([2.0, 0.0], 0)
    confident = _ce([4.0, 0.0], 0)  # the strong view's CE against the weak view's argmax
    loss = _step_loss(_fixed_net(threshold=0.95, weight=1.0), X_l, y_l, X_u)
    assert loss == pytest.approx(supervised + (confident + 0.0) / 2, rel=1e-6)
    # Above every confidence nothing counts; lambda scales the term.
    assert _step_loss(_fixed_net(threshold=0.99), X_l, y_l, X_u) == pytest.approx(supervised)
    loss = _step_loss(_fixed_net(threshold=0.95, weight=3.0), X_l, y_l, X_u)
    assert loss == pytest.approx(supervised + 3.0 * confident / 2, rel=1e-6)


def test_flexmatch_thresholds_follow_the_learning_status():
    # Warm-up: while most rows are unused every class has a low threshold.
    assert_allclose(flexmatch_thresholds(np.array([0, -1, -1, -1]), 2, 0.9), [0.9 / 5, 0.0])
    # Class 0 learnt twice as often as class 1: beta = (1, 0.5), M = (1, 1/3).
    assert_allclose(flexmatch_thresholds(np.array([0, 0, 0, 0, 1, 1]), 2, 0.9), [0.9, 0.3])
    # A class never predicted confidently accepts any pseudo-label (threshold 0).
    assert_allclose(flexmatch_thresholds(np.array([1, 1]), 3, 0.95), [0.0, 0.95, 0.0])


def test_flexmatch_lets_a_row_below_tau_count_during_warm_up(monkeypatch):
    # The unsure row (0.73 on class 0) is below tau = 0.95 but above class 0's
    # warm-up threshold (no row confidently predicted yet: every threshold is 0).
    X_l, y_l = np.array([[2.0, 0.0]]), np.array([0])
    X_u = np.array([[1.0, 0.0], [1.0, 0.0]])
    monkeypatch.setattr(FixMatchNet, "_draw_unlabeled", lambda self, state, n: torch.tensor([0, 1]))
    supervised, pseudo = _ce([2.0, 0.0], 0), _ce([1.0, 0.0], 0)
    fixed = _step_loss(_fixed_net(threshold=0.95), X_l, y_l, X_u)
    flex = _step_loss(_fixed_net(threshold=0.95, thresholds="flexmatch"), X_l, y_l, X_u)
    assert fixed == pytest.approx(supervised)
    assert flex == pytest.approx(supervised + pseudo, rel=1e-6)


def test_with_no_unlabelled_weight_the_unlabelled_rows_change_nothing(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    y = np.concatenate([y_init, np.full(200, -1)])
    weights = []
    for unlabeled in (X_pool[:200], X_pool[200:400] * 0.5):
        net = make_net(
            "lenet5",
            image_size=8,
            max_epochs=2,
            net_class=FixMatchNet,
            unlabeled_weight=0.0,
            steps_per_epoch=3,
            random_state=0,
        )
        torch.manual_seed(0)
        net.fit(np.concatenate([X_init, unlabeled]), y)
        weights.append([p.detach().clone() for p in net.module_.parameters()])
    for a, b in zip(*weights, strict=True):
        assert torch.equal(a, b)


def test_without_unlabelled_rows_it_is_the_plain_skorch_net(digits_split):
    X_init, y_init, *_ = digits_split
    fitted = []
    for net_class in (NeuralNetClassifier, FixMatchNet):
        net = make_net("lenet5", image_size=8, max_epochs=2, net_class=net_class)
        torch.manual_seed(0)
        fitted.append(net.fit(X_init, y_init).predict_proba(X_init))
    assert_array_equal(*fitted)


@pytest.fixture(scope="module")
def fixmatch_learner_data(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    return X_init, y_init, X_pool[:300], y_pool[:300], X_test, y_test


def _fixmatch(**params):
    base = dict(
        image_size=8,
        max_epochs=4,
        lr=3e-3,
        net_class=FixMatchNet,
        steps_per_epoch=20,
        threshold=0.7,
        unlabeled_ratio=2,
    )
    return make_net("lenet5", **{**base, **params})


@pytest.mark.parametrize("strategy", [EntropySampling(), DFAL()], ids=["entropy", "dfal"])
def test_an_active_learner_trains_it_on_the_pool_and_queries(fixmatch_learner_data, strategy):
    X_init, y_init, X_pool, y_pool, X_test, y_test = fixmatch_learner_data
    learner = ActiveLearner(
        _fixmatch(), query_strategy=strategy, semi_supervised=True, random_state=0
    )
    learner.fit(X_init, y_init, unlabeled=X_pool)
    net = learner.estimator_
    assert net.unlabeled_history_ and "mask_rate" in net.history[-1]
    assert 0.0 <= net.unlabeled_history_[-1]["mask_rate"] <= 1.0
    picked = learner.query(X_pool, n=5)
    learner.teach(X_pool[picked], y_pool[picked])
    assert len(learner.y_labeled_) == len(y_init) + 5
    # 80 steps on 45 labels (digits): the plain net's 8 epochs reach 0.13 here.
    assert learner.score(X_test, y_test) > 0.4
    assert getattr(learner.estimator_, "_consistency", None) is None  # the pool is not kept


def test_it_is_reproducible_and_survives_clone_and_pickle(fixmatch_learner_data):
    import pickle

    X_init, y_init, X_pool, *_ = fixmatch_learner_data
    X = np.concatenate([X_init, X_pool])
    y = np.concatenate([y_init, np.full(len(X_pool), -1)])
    net = _fixmatch(random_state=3)
    outputs = []
    for candidate in (net, clone(net)):
        torch.manual_seed(0)
        outputs.append(candidate.fit(X, y).predict_proba(X_init))
    assert_array_equal(*outputs)
    restored = pickle.loads(pickle.dumps(net))
    assert_array_equal(restored.predict_proba(X_init), outputs[0])


def test_bad_parameters_are_refused_by_name(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    X = np.concatenate([X_init, X_pool[:10]])
    y = np.concatenate([y_init, np.full(10, -1)])
    with pytest.raises(InvalidParameterError, match="threshold"):
        _fixmatch(threshold=1.5).fit(X, y)
    with pytest.raises(InvalidParameterError, match="thresholds"):
        _fixmatch(thresholds="curriculum").fit(X, y)
    with pytest.raises(ValueError, match="every label is -1"):
        _fixmatch().fit(X_pool[:10], np.full(10, -1))
    with pytest.raises(ValueError, match="weak: the default views need image rows"):
        _fixmatch().fit(X.reshape(len(X), -1), y)


def test_it_starts_from_a_simclr_trunk(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    pretrained = pretrain_contrastive(
        _fixmatch(lr=0.0), X_pool[:256], n_epochs=1, batch_size=64, random_state=0
    )
    state = dict(pretrained.callbacks)["pretrained_weights"].state_dict
    X = np.concatenate([X_init, X_pool[:100]])
    net = pretrained.fit(X, np.concatenate([y_init, np.full(100, -1)]))
    trained = net.module_.state_dict()
    # lr = 0: the weights the FixMatch fit ends with are the trunk it started from.
    assert state and all(torch.equal(trained[name], value) for name, value in state.items())
