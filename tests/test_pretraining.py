"""DeepCluster pretraining and the pretrained weights every fit starts from."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from skorch.callbacks import Callback

from skactive import ActiveLearner
from skactive.models import make_net
from skactive.pretraining import PretrainedWeights, pretrain_deepcluster
from skactive.strategies import EntropySampling

from .conftest import tiny_net


class _RecordStart(Callback):
    """Copies the module's parameters when training begins (after the pretrained load)."""

    def on_train_begin(self, net, **kwargs):
        self.start_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


@pytest.fixture(scope="module")
def pretrained(digits_split):
    X_pool = digits_split[2]
    net = tiny_net(max_epochs=2)
    return pretrain_deepcluster(net, X_pool[:400], n_epochs=2, random_state=0)


def _starts(net, X, y):
    net = clone(net)
    net.set_params(callbacks=[*net.callbacks, ("record", _RecordStart())])
    net.fit(X, y)
    return dict(net.callbacks_)["record"].start_


def test_every_fit_starts_from_the_pretrained_weights(pretrained, digits_split):
    X_init, y_init, *_ = digits_split
    state = dict(pretrained.callbacks)["pretrained_weights"].state_dict
    assert "classifier.5.weight" not in state  # the head is left fresh
    for net in (pretrained, clone(pretrained), pickle.loads(pickle.dumps(pretrained))):
        start = _starts(net, X_init, y_init)
        for name, value in state.items():
            torch.testing.assert_close(start[name], value)


def test_refits_of_a_learner_start_from_the_pretrained_weights(pretrained, digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    net = clone(pretrained)
    net.set_params(callbacks=[*net.callbacks, ("record", _RecordStart())])
    learner = ActiveLearner(net, EntropySampling(), random_state=0).fit(X_init, y_init)
    idx = learner.query(X_pool, n=4)
    learner.teach(X_pool[idx], y_pool[idx])
    start = dict(learner.estimator_.callbacks_)["record"].start_
    state = dict(pretrained.callbacks)["pretrained_weights"].state_dict
    for name, value in state.items():
        torch.testing.assert_close(start[name], value)


def test_a_warm_refit_trains_on_instead_of_reloading(pretrained, digits_split):
    X_init, y_init, *_ = digits_split
    net = clone(pretrained).set_params(max_epochs=2)
    net.set_params(callbacks=[*net.callbacks, ("record", _RecordStart())])
    net.fit(X_init, y_init)
    trained = {k: v.clone() for k, v in net.module_.state_dict().items()}
    net.partial_fit(X_init, y_init)
    start = dict(net.callbacks_)["record"].start_
    for name, value in trained.items():
        torch.testing.assert_close(start[name], value)


def test_pretraining_history_and_bad_input(digits_split):
    X_pool = digits_split[2]
    net = pretrain_deepcluster(tiny_net(), X_pool[:200], n_epochs=3, random_state=0)
    history = dict(net.callbacks)["pretrained_weights"].history
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert history[0]["nmi_to_previous"] is None and 0 <= history[2]["nmi_to_previous"] <= 1
    with pytest.raises(ValueError, match=r"n_clusters \(50\) must not exceed the rows"):
        pretrain_deepcluster(tiny_net(), X_pool[:30], n_epochs=1)
    with pytest.raises(TypeError, match="net must be a skorch NeuralNet"):
        pretrain_deepcluster(LogisticRegression(), X_pool[:100])
    with pytest.raises(ValueError, match="n_epochs must be"):
        pretrain_deepcluster(tiny_net(), X_pool[:100], n_epochs=0)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        pretrain_deepcluster(tiny_net(), X_pool[:100], lr=0.0)
    sgd = pretrain_deepcluster(
        tiny_net(), X_pool[:100], n_clusters=5, n_epochs=1, optimizer=torch.optim.SGD, lr=0.05
    )
    assert dict(sgd.callbacks)["pretrained_weights"].history[0]["loss"] > 0


def test_balanced_cluster_order_draws_every_cluster_equally():
    from skactive.pretraining import _balanced_order

    targets = np.array([0] * 90 + [1] * 9 + [2])
    order = _balanced_order(targets, np.random.RandomState(0))
    assert len(order) == 100
    counts = np.bincount(targets[order], minlength=3)
    assert counts.max() - counts.min() <= 2  # equal up to the rounding of 100 / 3


def test_weights_of_another_architecture_are_refused(pretrained, digits_split):
    X_init, y_init, *_ = digits_split
    state = dict(pretrained.callbacks)["pretrained_weights"].state_dict
    other = make_net("vgg8", image_size=8, max_epochs=1)
    other.set_params(callbacks=[("pretrained_weights", PretrainedWeights(state))])
    with pytest.raises(ValueError, match="pretrained weights do not fit"):
        other.fit(X_init, y_init)


def test_a_collapsed_pretraining_warns(digits_split):
    X_pool = digits_split[2]
    with pytest.warns(RuntimeWarning, match="DeepCluster collapsed"):
        pretrain_deepcluster(
            tiny_net(), X_pool[:200], n_clusters=10, n_epochs=4, optimizer=torch.optim.SGD,
            lr=10.0, random_state=0,
        )  # fmt: skip
    with pytest.raises(ValueError, match="DeepCluster diverged"):
        pretrain_deepcluster(
            tiny_net(), X_pool[:200], n_clusters=10, n_epochs=4, optimizer=torch.optim.SGD,
            lr=1e4, random_state=0,
        )  # fmt: skip
