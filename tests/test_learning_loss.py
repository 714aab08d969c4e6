"""Learning Loss: the ranking loss, the jointly trained head and the strategy."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skactive import ActiveLearner
from skactive.models import make_net
from skactive.nets import LossPredictionNet, margin_ranking_loss
from skactive.strategies import LearningLoss

from .conftest import tiny_net


def _loss_net(**params):
    settings = dict(image_size=8, max_epochs=4, lr=3e-3, batch_size=32, loss_dim=16)
    settings.update(params)
    return make_net("lenet5", net_class=LossPredictionNet, **settings)


def test_ranking_loss_known_answers():
    pred = torch.tensor([3.0, 1.0, 0.0, 2.0])
    target = torch.tensor([1.0, 2.0, 0.5, 0.0])
    assert margin_ranking_loss(pred, target).item() == 0.0
    constant = torch.full((6,), 0.7)
    assert margin_ranking_loss(constant, torch.rand(6)).item() == pytest.approx(1.0)
    # Tied targets count as "i not larger": the loss is max(0, 1 + (p_i - p_j)).
    tied = margin_ranking_loss(torch.tensor([0.5, 0.0]), torch.tensor([1.0, 1.0]))
    assert tied.item() == pytest.approx(1.5)
    with pytest.raises(ValueError, match="needs an even batch, got 3 rows"):
        margin_ranking_loss(torch.zeros(3), torch.zeros(3))


def test_the_loss_head_is_registered_and_trained(digits_split):
    X_init, y_init, *_ = digits_split
    torch.manual_seed(0)
    net = _loss_net(max_epochs=1)
    net.fit(X_init, y_init)
    head = {k: v.clone() for k, v in net.loss_module_.state_dict().items()}
    net.partial_fit(X_init, y_init)
    after = net.loss_module_.state_dict()
    assert not torch.equal(head["out.weight"], after["out.weight"])
    assert sum(not torch.equal(head[k], v) for k, v in after.items()) >= len(after) - 2
    names = {id(p) for p in net.loss_module_.parameters()}
    in_optimizer = {id(p) for group in net.optimizer_.param_groups for p in group["params"]}
    assert names <= in_optimizer


def _backbone_grads(net, X, y):
    net.module_.zero_grad()
    net.loss_module_.zero_grad()
    net.train_step_single((torch.as_tensor(X), torch.as_tensor(y)))
    return [p.grad.clone() for p in net.module_.parameters()]


def _plain_grads(net, X, y):
    net.module_.zero_grad()
    net._set_training(True)
    loss = torch.nn.functional.cross_entropy(net.module_(torch.as_tensor(X)), torch.as_tensor(y))
    loss.backward()
    return [p.grad.clone() for p in net.module_.parameters()]


def test_after_the_stop_epoch_the_head_sends_no_gradient_to_the_network(digits_split):
    X_init, y_init, *_ = digits_split
    X, y = X_init[:16], y_init[:16].astype(np.int64)
    for detach_after, equal in [(0.0, True), (1.0, False)]:
        net = _loss_net(max_epochs=1, detach_after=detach_after, loss_weight=10.0)
        net.fit(X_init, y_init)
        torch.manual_seed(0)
        joint = _backbone_grads(net, X, y)
        torch.manual_seed(0)
        plain = _plain_grads(net, X, y)
        same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(joint, plain, strict=True))
        assert same is equal


def test_predicted_losses_follow_the_rows_and_survive_pickling(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = _loss_net().fit(X_init, y_init)
    scores = net.predict_loss(X_pool[:50])
    order = np.random.RandomState(0).permutation(50)
    np.testing.assert_allclose(net.predict_loss(X_pool[:50][order]), scores[order], rtol=1e-5)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.predict_loss(X_pool[:50]), scores, rtol=1e-6)
    assert restored.predict_loss(X_pool[:3], batch_size=1).shape == (3,)


def test_the_module_default_levels_and_bad_layer_names(digits_split):
    X_init, y_init, *_ = digits_split
    net = _loss_net(max_epochs=1).fit(X_init, y_init)
    assert len(net.loss_module_.levels) == 4  # LeNet5's loss_layers
    assert net.loss_module_.levels[0].in_features == 6  # GAP of the first pooled map
    with pytest.raises(ValueError, match=r"loss_layers: \['nope'\] name no submodule"):
        _loss_net(loss_layers=["nope"]).fit(X_init, y_init)
    with pytest.raises(ValueError, match="known names"):
        _loss_net(loss_layers=["features.9"]).fit(X_init, y_init)
    with pytest.raises(ValueError, match="detach_after must be a number in"):
        _loss_net(detach_after=2).fit(X_init, y_init)
    with pytest.raises(ValueError, match="loss_dim must be a positive integer"):
        _loss_net(loss_dim=0).fit(X_init, y_init)


def test_an_odd_batch_trains_its_last_row_on_cross_entropy_only(digits_split):
    X_init, y_init, *_ = digits_split
    net = _loss_net(batch_size=7, max_epochs=2).fit(X_init[:33], y_init[:33])
    assert np.isfinite(net.history[-1]["train_loss"])


def test_learning_loss_queries_the_highest_predicted_loss(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = _loss_net(max_epochs=1).fit(X_init, y_init)
    pool = X_pool[:40].copy()
    pool[:, 0, 0, 0] = np.random.RandomState(0).permutation(40) / 40.0
    net.predict_loss = lambda X, **kwargs: np.asarray(X)[:, 0, 0, 0]
    strategy = LearningLoss(random_state=0)
    chosen = strategy.select(net, pool, 5)
    np.testing.assert_array_equal(chosen, np.argsort(-pool[:, 0, 0, 0])[:5])
    np.testing.assert_allclose(strategy.scores_, pool[strategy.candidates_, 0, 0, 0])


def test_learning_loss_on_a_net_without_a_head_names_what_to_use(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=1), LearningLoss()).fit(X_init, y_init)
    with pytest.raises(TypeError, match=r"NeuralNetClassifier has none; train a skactive\.nets"):
        learner.query(X_pool, 3)


def test_campaign_with_a_loss_prediction_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    learner = ActiveLearner(_loss_net(max_epochs=15), LearningLoss(candidates=300), random_state=0)
    learner.fit(X_init, y_init)
    for _ in range(2):
        idx = learner.query(X_pool, 10)
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.y_labeled_) == len(y_init) + 20
    assert learner.score(X_test, y_test) > 0.2  # twice chance; the joint loss slows tiny sets
    assert clone(learner).get_params()["estimator"].loss_dim == 16
