"""The local data sets: digits and Fashion-MNIST from Debian's package."""

import gzip

import numpy as np
import pytest

from skactive.datasets import load_digits_images, load_fashion_mnist, read_idx


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
