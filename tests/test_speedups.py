"""The CPU speed-ups: a faster layout that leaves the net exactly as it was."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from skorch import NeuralNetClassifier

from skactive import _speedups
from skactive.strategies import BALD, EntropySampling
from skactive.strategies.uncertainty import entropy

from .conftest import tiny_net


@pytest.fixture(scope="module")
def fitted_net(digits_split):
    X_init, y_init, *_ = digits_split
    return tiny_net(max_epochs=2).fit(X_init, y_init)


def _record_conv_layouts(module):
    """Record, at every call of the last conv, whether its weight is channels_last.

    The last conv: a 1-channel input's weight counts as contiguous in both
    layouts.
    """
    conv = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    seen = []

    def record(layer, inputs):
        weight = layer.weight
        nhwc = weight.is_contiguous(memory_format=torch.channels_last)
        seen.append(nhwc and not weight.is_contiguous())

    return seen, conv.register_forward_pre_hook(record)


@pytest.mark.parametrize(
    "strategy", [EntropySampling(), BALD(n_samples=3, random_state=0)], ids=["entropy", "bald"]
)
def test_scoring_runs_cpu_conv_nets_channels_last_and_restores_them(
    fitted_net, digits_split, strategy
):
    # The layout is only for scoring: the same parameter objects, in their
    # own layout, are back afterwards (an optimizer holding them must not
    # notice), and the scores match the default layout's up to rounding.
    X_pool = digits_split[2][:150]
    module = fitted_net.module_
    parameters = list(module.parameters())
    seen, hook = _record_conv_layouts(module)
    try:
        strategy.select(fitted_net, X_pool, 5)
    finally:
        hook.remove()
    assert seen and all(seen)
    assert all(a is b for a, b in zip(module.parameters(), parameters, strict=True))
    assert all(p.is_contiguous() for p in module.parameters())
    seen, hook = _record_conv_layouts(module)
    proba = fitted_net.predict_proba(X_pool)
    hook.remove()
    assert not any(seen)  # the net's own predict_proba is untouched
    if isinstance(strategy, EntropySampling):
        assert_allclose(strategy.scores_, entropy(proba), rtol=1e-5, atol=1e-6)


def test_conv_free_modules_keep_their_layout(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    flat = NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)),
        max_epochs=1,
        train_split=None,
    ).fit(X_init.astype(np.float32), y_init)
    with _speedups.cpu_channels_last(flat.module_) as converted:
        assert not converted
    EntropySampling().select(flat, X_pool.astype(np.float32), 3)
    assert all(p.is_contiguous() for p in flat.module_.parameters())
