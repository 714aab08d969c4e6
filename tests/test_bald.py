import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression

from skactive import ActiveLearner
from skactive.models import make_net
from skactive.strategies import BALD
from skactive.strategies.bald import mutual_information

from .conftest import tiny_net


def test_mutual_information_on_hand_built_stacks():
    agree = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])  # same prediction every time
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # confident, opposite
    mixed = np.array([[[0.9, 0.1]], [[0.3, 0.7]]])
    assert_allclose(mutual_information(agree), [0.0], atol=1e-12)
    assert_allclose(mutual_information(disagree), [np.log(2)])  # no NaN from 0 log 0
    h = lambda p: -(p * np.log(p)).sum()  # noqa: E731
    expected = h(np.array([0.6, 0.4])) - (h(np.array([0.9, 0.1])) + h(np.array([0.3, 0.7]))) / 2
    assert_allclose(mutual_information(mixed), [expected])


def test_a_net_whose_dropout_drops_nothing_is_refused_not_scored_zero(digits_split):
    # Every pass of such a net agrees, so every score would be 0: the picks
    # would be tie-breaks dressed as BALD.
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=2, module__dropout=0.0).fit(X_init, y_init)
    with pytest.raises(ValueError, match="only dropout layers with p = 0"):
        BALD(n_samples=5).select(net, X_pool[:100], 3)


def test_dropout_net_scores_positive_and_reproducible(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=2, module__dropout=0.5).fit(X_init, y_init)
    a, b = BALD(random_state=1), BALD(random_state=1)
    assert_array_equal(a.select(net, X_pool[:200], 5), b.select(net, X_pool[:200], 5))
    assert_array_equal(a.scores_, b.scores_)
    assert (a.scores_ >= 0).all() and a.scores_.max() > 1e-4
    c = BALD(random_state=2)
    c.select(net, X_pool[:200], 5)
    assert not np.array_equal(a.scores_, c.scores_)  # other dropout masks


def test_chunked_scores_equal_one_chunk(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=10).fit(X_init, y_init)
    net.module_.eval()
    small = BALD(batch_size=7, n_samples=200, random_state=0)
    big = BALD(batch_size=500, n_samples=200, random_state=0)
    small.select(net, X_pool[:50], 2)
    big.select(net, X_pool[:50], 2)
    # Other chunks draw other masks, so the estimates differ a little; but each
    # row keeps its own score (scrambled chunks give a rank correlation near 0).
    assert spearmanr(small.scores_, big.scores_)[0] > 0.85
    assert np.abs(small.scores_ - big.scores_).mean() < 0.15 * big.scores_.mean()
    assert spearmanr(small.scores_[::-1], big.scores_)[0] < 0.5


def test_batch_norm_is_not_touched(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = make_net("vgg8", image_size=8, max_epochs=1).fit(X_init, y_init)
    bn = net.module_.features[1]
    before, was_training = bn.running_mean.clone(), net.module_.training
    BALD(n_samples=3).select(net, X_pool[:64], 2)
    assert np.array_equal(bn.running_mean.numpy(), before.numpy())
    assert net.module_.training == was_training  # mode restored


def test_net_without_dropout_is_rejected(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    import torch

    class NoDropout(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.lin(x.flatten(1))

    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(
        NoDropout, criterion=torch.nn.CrossEntropyLoss, max_epochs=1, train_split=None, verbose=0
    ).fit(X_init, y_init)
    with pytest.raises(ValueError, match="BALD on a single net needs dropout layers"):
        BALD().select(net, X_pool[:10], 2)
    flat = X_init.reshape(len(X_init), -1)
    with pytest.raises(TypeError, match="estimator: BALD needs a skactive Committee"):
        BALD().select(LogisticRegression().fit(flat, y_init), flat, 2)


def test_through_active_learner_with_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(
        tiny_net(max_epochs=3), BALD(n_samples=4, candidates=300), random_state=0
    ).fit(X_init, y_init)
    idx = learner.query(X_pool, n=10)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 10
    assert learner.history_[0]["scores"].shape == (10,)


@pytest.mark.parametrize("name", ["bald", "batchbald", "bgadl"])
def test_dropout_layers_that_drop_nothing_are_refused_like_no_dropout(name):
    # A net built with dropout=0.0 has dropout layers, and every pass agrees.
    from skactive.datasets import load_digits_images
    from skactive.experiments.registry import estimator_for, make_strategy
    from skactive.models import make_net

    X, y = load_digits_images()
    net = make_net("lenet5", image_size=8, max_epochs=1, module__dropout=0.0)
    learner = ActiveLearner(
        estimator_for(name, net), make_strategy(name, query_size=5), random_state=0
    ).fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="only dropout layers with p = 0"):
        learner.query(X[40:140], n=5)
    assert learner.history_ == []
