import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from skactive import ActiveLearner
from skactive.models import make_net
from skactive.strategies import EGL

from .conftest import tiny_net


def _reference_egl(module, X, last_layer_only=False):
    """Per-sample loop: one backward pass per row and class."""
    module.eval()
    last = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
    params = (
        list(last.parameters())
        if last_layer_only
        else [p for p in module.parameters() if p.requires_grad]
    )
    scores = []
    for x in torch.as_tensor(X):
        logits = module(x.unsqueeze(0))
        proba = torch.softmax(logits, 1)[0].detach()
        total = 0.0
        for k in range(logits.shape[1]):
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([k]))
            grads = torch.autograd.grad(loss, params, retain_graph=True)
            total += float(proba[k]) * float(torch.sqrt(sum((g**2).sum() for g in grads)))
        scores.append(total)
    return np.array(scores)


@pytest.fixture(scope="module")
def net(digits_split):
    X_init, y_init, *_ = digits_split
    return tiny_net(max_epochs=3).fit(X_init, y_init)


def test_all_parameters_match_the_per_sample_loop(net, digits_split):
    X_pool = digits_split[2][:30]
    strategy = EGL(batch_size=8)
    strategy.select(net, X_pool, 3)
    assert_allclose(strategy.scores_, _reference_egl(net.module_, X_pool), rtol=1e-4)


def test_last_layer_closed_form_matches_the_loop(net, digits_split):
    X_pool = digits_split[2][:30]
    strategy = EGL(parameters="last_layer")
    idx = strategy.select(net, X_pool, 3)
    expected = _reference_egl(net.module_, X_pool, last_layer_only=True)
    assert_allclose(strategy.scores_, expected, rtol=1e-4)
    assert set(idx) == set(np.argsort(-expected)[:3])


def test_batch_norm_net(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    vgg = make_net("vgg8", image_size=8, max_epochs=1, module__width=4).fit(X_init, y_init)
    strategy = EGL(batch_size=5)
    strategy.select(vgg, X_pool[:10], 2)
    assert_allclose(strategy.scores_, _reference_egl(vgg.module_, X_pool[:10]), rtol=1e-4)


def test_errors(net, digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    with pytest.raises(ValueError, match="parameters must be one of"):
        EGL(parameters="some").select(net, X_pool[:5], 1)
    flat = X_init.reshape(len(X_init), -1)
    with pytest.raises(TypeError, match="estimator: EGL needs a fitted skorch NeuralNet"):
        EGL().select(LogisticRegression().fit(flat, y_init), flat, 1)

    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)

        def forward(self, x):
            return 3.0 * self.lin(x.flatten(1)) + 1.0

    from skorch import NeuralNetClassifier

    odd = NeuralNetClassifier(
        Scaled, criterion=torch.nn.CrossEntropyLoss, max_epochs=1, train_split=None, verbose=0
    ).fit(X_init, y_init)
    with pytest.raises(ValueError, match=r"parameters=.last_layer.: .*does not output the logits"):
        EGL(parameters="last_layer").select(odd, X_pool[:5], 1)
    EGL().select(odd, X_pool[:5], 1)  # "all" works for any network


def test_through_active_learner_with_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), EGL(candidates=100), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 5
