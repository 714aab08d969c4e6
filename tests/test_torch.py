import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch import NeuralNetClassifier

from skactive import ActiveLearner, _torch
from skactive.models import VGG8

from .conftest import NoInverse, tiny_net


@pytest.fixture(scope="module")
def fitted_net(digits_split):
    X_init, y_init, *_ = digits_split
    return tiny_net(max_epochs=2).fit(X_init, y_init)


def test_find_network_everywhere(fitted_net, digits_split):
    X_init, y_init, *_ = digits_split
    assert _torch.find_network(fitted_net).net is fitted_net
    learner = ActiveLearner(tiny_net(max_epochs=1)).fit(X_init, y_init)
    assert _torch.find_network(learner).net is learner.estimator_
    search = GridSearchCV(tiny_net(max_epochs=1), {"lr": [1e-3]}, cv=2).fit(X_init, y_init)
    assert _torch.find_network(search).net is search.best_estimator_


def test_pipeline_transform_and_inverse(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    double = FunctionTransformer(lambda X: X * 2.0, inverse_func=lambda X: X / 2.0)
    pipe = Pipeline([("double", double), ("net", tiny_net(max_epochs=1))])
    pipe.fit(X_init, y_init)
    network = _torch.find_network(pipe)
    assert network.net is pipe[-1]
    assert_allclose(network.transform(X_pool[:3]), X_pool[:3] * 2.0)
    assert_allclose(network.inverse_transform(X_pool[:3]), X_pool[:3] / 2.0)
    no_inverse = Pipeline([("f", FunctionTransformer(np.abs)), ("net", tiny_net(max_epochs=1))])
    no_inverse.steps[0] = ("f", NoInverse())
    no_inverse.fit(X_init, y_init)
    assert _torch.find_network(no_inverse).inverse_transform is None


def test_find_network_errors(digits_split):
    X_init, y_init, *_ = digits_split
    flat = X_init.reshape(len(X_init), -1)
    with pytest.raises(TypeError, match="estimator: DFAL needs a fitted skorch NeuralNet"):
        _torch.find_network(LogisticRegression().fit(flat, y_init), what="DFAL")
    with pytest.raises(ValueError, match="not fitted"):
        _torch.find_network(tiny_net())


def test_predict_logits_and_proba_match_skorch(fitted_net, digits_split):
    X_pool = digits_split[2][:100]
    network = _torch.find_network(fitted_net)
    logits = _torch.predict_logits(network, X_pool.astype(np.float64), batch_size=17)
    assert logits.shape == (100, 10) and logits.dtype == np.float32
    proba = _torch.predict_proba(network, X_pool, batch_size=33)
    assert_allclose(proba, fitted_net.predict_proba(X_pool), atol=1e-6)
    assert network.module.training == fitted_net.module_.training


def test_logits_of_a_probability_net_are_log_probabilities(digits_split):
    X_init, y_init, X_pool, *_ = digits_split

    class Softmaxed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)

        def forward(self, x):
            return torch.softmax(self.lin(x.flatten(1)), dim=1)

    net = NeuralNetClassifier(Softmaxed, max_epochs=1, train_split=None, verbose=0)
    net.fit(X_init, y_init)
    network = _torch.find_network(net)
    assert network.outputs_probabilities
    logits = _torch.predict_logits(network, X_pool[:5])
    assert_allclose(np.exp(logits), net.predict_proba(X_pool[:5]), rtol=1e-5)


def test_embeddings_default_to_input_of_last_linear(fitted_net, digits_split):
    X = digits_split[2][:7]
    network = _torch.find_network(fitted_net)
    emb = _torch.embed(network, X, batch_size=3)
    assert emb.shape == (7, 84)
    module = fitted_net.module_.eval()
    with torch.no_grad():
        expected = module.classifier[:5](module.features(torch.as_tensor(X)))
    assert_allclose(emb, expected.numpy(), atol=1e-6)
    named = _torch.embed(network, X, layer="features")
    assert named.shape == (7, 16 * 2 * 2)
    with pytest.raises(ValueError, match="layer='nope' is not a submodule"):
        _torch.embed(network, X, layer="nope")


def test_mc_dropout_switches_only_dropout():
    module = VGG8(image_size=8)
    module.train()
    with _torch.mc_dropout(module) as n_dropout:
        assert n_dropout == 1
        kinds = {type(m): m.training for m in module.modules()}
        assert kinds[torch.nn.Dropout] is True
        assert kinds[torch.nn.BatchNorm2d] is False
        x = torch.randn(4, 1, 8, 8)
        stats = module.features[1].running_mean.clone()
        a, b = module(x), module(x)
        assert not torch.allclose(a, b)  # stochastic
        assert torch.equal(module.features[1].running_mean, stats)  # BN untouched
    assert all(m.training for m in module.modules())  # restored


def test_seeded_is_reproducible_and_restores_global_state():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    with _torch.seeded(7):
        a = torch.rand(3)
    with _torch.seeded(7):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(1), expected_next)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_inference_on_gpu(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=1, device="cuda").fit(X_init, y_init)
    network = _torch.find_network(net)
    assert network.device.type == "cuda"
    proba = _torch.predict_proba(network, X_pool[:50])
    assert_allclose(proba, net.predict_proba(X_pool[:50]), atol=1e-5)


def test_the_adapter_decides_batch_sizes_and_module_inputs():
    cpu = torch.device("cpu")
    assert _torch.batch_size_on(cpu, None) == _torch.default_batch_size(cpu) == 128
    assert _torch.batch_size_on(torch.device("cuda"), None, per_row_cost=4) == 256
    assert _torch.batch_size_on(cpu, 7) == 7
    module = torch.nn.Linear(3, 2).double()
    assert _torch.module_device(module) == cpu
    assert _torch.module_device(torch.nn.ReLU()) == cpu
    x = _torch.module_input(module)(np.arange(6, dtype=np.float32).reshape(2, 3)[::-1])
    assert x.dtype == torch.float64 and x.tolist() == [[3, 4, 5], [0, 1, 2]]
