"""LeNet5 and VGG8: shapes and pickling."""

import pickle

import numpy as np
import pytest
import torch

from skactive.models import VGG8, LeNet5, make_net


@pytest.mark.parametrize("cls", [LeNet5, VGG8])
@pytest.mark.parametrize("channels, size, classes", [(1, 8, 10), (1, 28, 10), (3, 32, 4)])
def test_models_return_logits_of_the_right_shape(cls, channels, size, classes):
    module = cls(in_channels=channels, image_size=size, n_classes=classes).eval()
    out = module(torch.randn(5, channels, size, size))
    assert out.shape == (5, classes)
    assert not torch.allclose(out.softmax(1).sum(1), out.sum(1))  # logits, not probabilities


def test_skorch_net_with_model_pickles_after_fit(digits):
    X, y = digits
    net = make_net("vgg8", image_size=8, max_epochs=1).fit(X[:64], y[:64])
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.predict_proba(X[:5]), net.predict_proba(X[:5]), atol=1e-6)
    with pytest.raises(ValueError, match="architecture must be one of"):
        make_net("resnet")
