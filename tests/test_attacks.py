import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skactive.attacks import deepfool, deepfool_batch
from skactive.models import LeNet5

from ._reference import deepfool_loop


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
