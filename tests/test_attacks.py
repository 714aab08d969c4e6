import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from skactive import ActiveLearner
from skactive.attacks import deepfool, deepfool_batch, fgsm, pgd
from skactive.models import LeNet5

from ._reference import deepfool_loop
from .conftest import tiny_net


def _linear_problem(seed, n_features=6, n_classes=5, n_rows=40):
    gen = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(n_features, n_classes).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(n_classes, n_features, generator=gen, dtype=torch.float64))
        lin.bias.copy_(torch.randn(n_classes, generator=gen, dtype=torch.float64))
    X = np.random.RandomState(seed).randn(n_rows, n_features)
    return lin, X, lin.weight.detach().numpy(), lin.bias.detach().numpy()


def _closed_form(X, W, b, dual_ord, classes=None):
    """Exact distance to the nearest boundary of an affine classifier."""
    F = X @ W.T + b
    out = []
    for i, f in enumerate(F):
        k0 = f.argmax()
        ks = range(len(f)) if classes is None else classes[i]
        out.append(
            min(
                abs(f[k] - f[k0]) / np.linalg.norm(W[k] - W[k0], ord=dual_ord)
                for k in ks
                if k != k0
            )
        )
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_l2_on_affine_classifier_is_the_exact_distance(seed):
    lin, X, W, b = _linear_problem(seed)
    result = deepfool(lin, X, overshoot=0.0, batch_size=16)
    # one step lands on the nearest hyperplane, plus the reference's 1e-4 margin
    assert_allclose(result.norms, _closed_form(X, W, b, 2) + 1e-4, rtol=1e-9, atol=1e-9)
    assert result.converged.all() and (result.n_iter == 1).all()
    assert (result.adversarial_class != result.original_class).all()


@pytest.mark.parametrize("seed", range(5))
def test_linf_on_affine_classifier_matches_its_closed_form(seed):
    lin, X, W, b = _linear_problem(seed)
    result = deepfool(lin, X, overshoot=0.0, norm=np.inf)
    assert_allclose(result.norms, _closed_form(X, W, b, 1) + 1e-4, rtol=1e-9, atol=1e-9)
    assert result.converged.all()


def test_overshoot_scales_the_total_once():
    lin, X, W, b = _linear_problem(0)
    result = deepfool(lin, X, overshoot=0.5)
    assert_allclose(result.norms, 1.5 * (_closed_form(X, W, b, 2) + 1e-4), rtol=1e-9)


def test_top_k_restricts_the_target_classes():
    lin, X, W, b = _linear_problem(1)
    top2 = np.argsort(-(X @ W.T + b), axis=1)[:, :2]
    result = deepfool(lin, X, overshoot=0.0, top_k=2)
    assert_allclose(result.norms, _closed_form(X, W, b, 2, classes=top2) + 1e-4, rtol=1e-9)


@pytest.fixture(scope="module")
def small_cnn():
    torch.manual_seed(0)
    module = LeNet5(image_size=8, dropout=0.0).double().eval()
    X = torch.rand(24, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return module, X


@pytest.mark.parametrize("norm", [2, np.inf])
def test_batched_equals_per_sample_reference_on_a_cnn(small_cnn, norm):
    module, X = small_cnn
    params = dict(max_iter=50, overshoot=0.02, norm=norm)
    ref_norms, ref_adv = deepfool_loop(module, X, **params)
    result = deepfool(module, X.numpy(), batch_size=7, **params)
    assert_allclose(result.norms, ref_norms, rtol=1e-6)
    assert_allclose(result.adversarial, ref_adv.numpy(), rtol=1e-6, atol=1e-9)
    with torch.no_grad():
        adv_pred = module(torch.as_tensor(result.adversarial)).argmax(1).numpy()
        src_pred = module(X).argmax(1).numpy()
    assert (adv_pred != src_pred).all()
    assert (adv_pred == result.adversarial_class).all()


def test_clip_keeps_examples_in_range(small_cnn):
    module, X = small_cnn
    ref_norms, _ = deepfool_loop(module, X[:6], clip=(0.0, 1.0))
    result = deepfool(module, X[:6].numpy(), clip=(0.0, 1.0))
    assert result.adversarial.min() >= 0.0 and result.adversarial.max() <= 1.0
    assert_allclose(result.norms, ref_norms, rtol=1e-6)


class _Constant(torch.nn.Module):
    """Logits that do not depend on the input: nothing can flip them."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([1.0, 0.0, -1.0]))

    def forward(self, x):
        return self.bias + 0.0 * x.sum(dim=1, keepdim=True)


class _Exploding(torch.nn.Module):
    """Row 0 gets an infinite gradient (a numerical failure); row 1 is linear."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        a = self.scale * torch.sqrt(x[:, 0].abs())
        return torch.stack([a + 0.1, x[:, 1]], dim=1)


def test_rows_that_never_flip_score_inf():
    result = deepfool(_Constant(), np.random.RandomState(0).randn(5, 4), max_iter=5)
    assert np.isinf(result.norms).all()
    assert not result.converged.any()
    assert (result.n_iter == 5).all()


def test_numerical_failure_scores_inf():
    X = np.array([[0.0, 0.0], [1.0, 0.5]])
    result = deepfool(_Exploding(), X, max_iter=5)
    assert np.isinf(result.norms[0]) and not result.converged[0]
    assert np.isfinite(result.norms[1]) and result.converged[1]


def test_converged_rows_leave_the_batch(small_cnn):
    module, X = small_cnn
    sizes = []

    def counting(x):
        sizes.append(x.shape[0])
        return module(x)

    result = deepfool_batch(counting, X, max_iter=50)
    assert len(set(result.n_iter.tolist())) > 1  # rows need different step counts
    # After the initial forward, step i checks the rows still running (i > 0)
    # and takes gradients only of the rows that have not flipped yet.
    expected = [len(X)]
    for i in range(int(result.n_iter.max()) + 1):
        if i > 0:
            expected.append(int((result.n_iter >= i).sum()))
        if (result.n_iter > i).any():
            expected.append(int((result.n_iter > i).sum()))
    assert sizes == expected
    assert sizes[-1] < sizes[1]


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(max_iter=0), "max_iter must be a positive integer"),
        (dict(overshoot=-1), "overshoot must be a non-negative number"),
        (dict(norm=1), "norm must be 2 or numpy.inf"),
        (dict(top_k=1), "top_k must be None or an integer >= 2"),
        (dict(clip=(1, 0)), "clip must be None"),
    ],
)
def test_parameter_errors(params, message):
    lin, X, _, _ = _linear_problem(0)
    with pytest.raises(ValueError, match=message):
        deepfool(lin, X, **params)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_cpu(small_cnn):
    module, X = small_cnn
    cpu = deepfool(module, X.numpy())
    gpu = deepfool(module.to("cuda"), X.numpy())
    module.to("cpu")
    assert_allclose(gpu.norms, cpu.norms, rtol=1e-5)


def test_attack_leaves_the_module_as_it_was():
    torch.manual_seed(0)
    module = LeNet5(image_size=8)
    module.train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    deepfool(module, np.random.RandomState(0).rand(10, 1, 8, 8).astype(np.float32))
    assert all(m.training for m in module.modules())
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key])
        assert value.is_contiguous()  # channels_last was only for the attack


def _affine(weight, bias):
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        layer.bias.copy_(torch.as_tensor(bias))
    return layer


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


def test_attacks_take_labels_of_the_estimator_and_a_learner(trained, digits_split):
    _, X, y = trained
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), random_state=0).fit(X_init, y_init + 10)
    # The learner's classes are 10..19; its net was trained on 0..9.
    adversarial = pgd(learner, X[:4], y[:4] + 10, eps=0.1, step_size=0.05, n_steps=2)
    assert adversarial.shape == X[:4].shape
    with pytest.raises(ValueError, match=r"y: labels \[3\] are not among"):
        pgd(learner, X[:4], np.array([10, 11, 3, 12]), eps=0.1, step_size=0.05, n_steps=2)


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
