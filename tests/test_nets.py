"""AdversarialTrainingNet: robustness it buys, and that it stays a skorch citizen."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skactive import ActiveLearner
from skactive.metrics import robust_accuracy
from skactive.models import make_net
from skactive.nets import AdversarialTrainingNet
from skactive.strategies import EntropySampling

FAST = dict(eps=0.1, step_size=0.025, n_steps=10)


def _net(net_class=None, **params):
    settings = {"image_size": 8, "max_epochs": 15, "lr": 3e-3, **params}
    return make_net("lenet5", net_class=net_class, **settings)


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    order = np.random.RandomState(0).permutation(len(X))
    return X[order[:1200]], y[order[:1200]], X[order[1200:1500]], y[order[1200:1500]]


@pytest.mark.slow
def test_adversarial_training_buys_robust_accuracy(split):
    X, y, X_test, y_test = split
    torch.manual_seed(0)
    plain = _net().fit(X, y)
    torch.manual_seed(0)
    robust = _net(AdversarialTrainingNet, **FAST).fit(X, y)
    attack = dict(eps=0.1, n_steps=20, random_state=0)
    plain_robust = robust_accuracy(plain, X_test, y_test, **attack)
    trained_robust = robust_accuracy(robust, X_test, y_test, **attack)
    assert trained_robust > plain_robust + 0.15
    assert robust.score(X_test, y_test) > 0.85


def test_no_adversarial_rows_is_plain_training(split):
    X, y, X_test, _ = split
    torch.manual_seed(0)
    plain = _net(max_epochs=2).fit(X, y)
    torch.manual_seed(0)
    same = _net(AdversarialTrainingNet, max_epochs=2, adversarial_fraction=0.0).fit(X, y)
    np.testing.assert_allclose(same.predict_proba(X_test), plain.predict_proba(X_test), rtol=1e-5)


def test_clone_pickle_and_params(split):
    X, y, X_test, _ = split
    net = _net(AdversarialTrainingNet, max_epochs=1, **FAST)
    assert clone(net).get_params()["eps"] == 0.1
    fitted = net.fit(X[:200], y[:200])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.predict_proba(X_test), fitted.predict_proba(X_test))


def test_works_as_the_learner_estimator(split):
    X, y, *_ = split
    net = _net(AdversarialTrainingNet, max_epochs=2, **FAST)
    learner = ActiveLearner(net, EntropySampling(), random_state=0).fit(X[:60], y[:60])
    idx = learner.query(X[60:400], n=10)
    learner.teach(X[60:400][idx], y[60:400][idx])
    assert len(learner.y_labeled_) == 70
    assert isinstance(learner.estimator_, AdversarialTrainingNet)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"eps": -0.1}, "eps must be a non-negative number"),
        ({"n_steps": 0}, "n_steps must be a positive integer"),
        ({"step_size": 0.0}, "step_size must be a positive number"),
        ({"adversarial_fraction": 1.5}, "adversarial_fraction must be a number in"),
        ({"clip": (1.0, 0.0)}, "clip must be None or a pair"),
    ],
)
def test_bad_parameters_are_refused_at_fit(split, params, message):
    X, y, *_ = split
    net = _net(AdversarialTrainingNet, max_epochs=1, **{**FAST, **params})
    with pytest.raises(ValueError, match=message):
        net.fit(X[:50], y[:50])
