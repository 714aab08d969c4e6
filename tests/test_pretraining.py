"""DeepCluster pretraining and the pretrained weights every fit starts from."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from skorch.callbacks import Callback

from skactive import ActiveLearner
from skactive.augmentation import default_augmentation
from skactive.embeddings import Embedding
from skactive.models import make_net
from skactive.pretraining import (
    PretrainedWeights,
    nt_xent_loss,
    pretrain_contrastive,
    pretrain_deepcluster,
)
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


# --- SimCLR --------------------------------------------------------------------------------


def _nt_xent_by_hand(z1, z2, temperature):
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        sims = {j: float(z[i] @ z[j]) / temperature for j in range(2 * n) if j != i}
        total -= sims[positive] - np.log(sum(np.exp(s) for s in sims.values()))
    return total / (2 * n)


def test_nt_xent_equals_a_hand_computation():
    rng = np.random.RandomState(0)
    z1, z2 = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    loss = nt_xent_loss(torch.tensor(z1), torch.tensor(z2), temperature=0.5)
    assert float(loss) == pytest.approx(_nt_xent_by_hand(z1, z2, 0.5), rel=1e-10)


def test_nt_xent_is_log_2n_minus_1_when_views_tell_rows_apart_no_better_than_chance():
    n = 8
    same = torch.ones(n, 5)  # every projection points the same way
    assert float(nt_xent_loss(same, same * 3.0)) == pytest.approx(np.log(2 * n - 1))
    # Independent random directions in many dimensions: cosines near 0, in expectation.
    generator = torch.Generator().manual_seed(0)
    z1, z2 = (torch.randn(n, 4096, generator=generator, dtype=torch.float64) for _ in range(2))
    assert float(nt_xent_loss(z1, z2, temperature=1.0)) == pytest.approx(
        np.log(2 * n - 1), abs=0.02
    )
    # Matching views score below chance.
    assert float(nt_xent_loss(z1, z1 + 0.01 * z2)) < np.log(2 * n - 1)


@pytest.fixture(scope="module")
def contrastive(digits_split):
    X_pool = digits_split[2]
    return pretrain_contrastive(
        tiny_net(max_epochs=2), X_pool[:256], n_epochs=8, batch_size=64, random_state=0
    )


def _trunk_output(net, X):
    return Embedding(net).fit().transform(X)


def test_two_views_of_a_row_end_closer_than_views_of_different_rows(contrastive, digits_split):
    X = torch.as_tensor(digits_split[2][:64], dtype=torch.float32)
    views = default_augmentation(1).set_params(value_range=(0.0, 1.0))

    def gap(net):
        embed = Embedding(net).fit()
        first = embed(views(X, torch.Generator().manual_seed(1)).numpy())
        second = embed(views(X, torch.Generator().manual_seed(2)).numpy())
        similarity = first @ second.T
        same = np.diag(similarity).mean()
        other = similarity[~np.eye(len(X), dtype=bool)].mean()
        return same - other

    assert gap(contrastive) > gap(tiny_net(max_epochs=2)) + 0.05
    history = dict(contrastive.callbacks)["pretrained_weights"].history
    assert len(history) == 8 and history[-1]["loss"] < history[0]["loss"]


def test_fits_clones_and_pickles_start_from_the_simclr_trunk(contrastive, digits_split):
    X_init, y_init, *_ = digits_split
    state = dict(contrastive.callbacks)["pretrained_weights"].state_dict
    assert not any(name.startswith("classifier.5.") for name in state)
    for net in (contrastive, clone(contrastive), pickle.loads(pickle.dumps(contrastive))):
        start = _starts(net, X_init, y_init)
        for name, value in state.items():
            torch.testing.assert_close(start[name], value)


def test_contrastive_pretraining_is_reproducible(digits_split):
    X = digits_split[2][:128]

    def weights(seed):
        net = pretrain_contrastive(tiny_net(), X, n_epochs=1, batch_size=32, random_state=seed)
        return dict(net.callbacks)["pretrained_weights"].state_dict

    first, again, other = weights(0), weights(0), weights(1)
    for name in first:
        torch.testing.assert_close(first[name], again[name])
    assert any(not torch.equal(first[name], other[name]) for name in first)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"n_epochs": 0}, "n_epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": 500}, "batch_size"),
        ({"method": "byol"}, "method"),
        ({"augment": "strong"}, "augment"),
        ({"projection_dim": 0}, "projection_dim"),
    ],
)
def test_bad_contrastive_parameters_are_named(digits_split, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        pretrain_contrastive(tiny_net(), digits_split[2][:300], **{"batch_size": 64, **kwargs})


def test_rows_with_nan_and_rows_that_are_not_images_are_refused(digits_split):
    X = np.array(digits_split[2][:128], dtype=np.float32)
    X[3, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="X"):
        pretrain_contrastive(tiny_net(), X, batch_size=32)
    flat = np.asarray(digits_split[2][:128]).reshape(128, -1)
    with pytest.raises(ValueError, match="augment"):
        pretrain_contrastive(tiny_net(), flat, batch_size=32)
