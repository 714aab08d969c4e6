import gzip
import pickle

import numpy as np
import pytest
import torch

from skactive.datasets import load_digits_images, load_fashion_mnist, read_idx
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


def test_digits_images():
    X, y = load_digits_images()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def _write_idx(path, array):
    header = b"\x00\x00\x08" + bytes([array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reader_on_local_files(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(6, 28, 28))
    labels = rng.randint(0, 10, size=6)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    X, y = load_fashion_mnist(tmp_path, subset="test")
    assert X.shape == (6, 1, 28, 28) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, 0] * 255.0, images, atol=1e-4)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz"), labels)


def test_fashion_mnist_missing_files_name_the_apt_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(ValueError, match="subset must be 'train' or 'test'"):
        load_fashion_mnist(tmp_path, subset="valid")
