"""Image data sets as (n, channels, height, width) float32 arrays in [0, 1].

Nothing here downloads: digits ship with scikit-learn and Fashion-MNIST comes
from Debian's ``dataset-fashion-mnist`` package (or any folder holding the
same four gzipped IDX files).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skactive.param_validation import options, validate_params

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as 1x8x8 images.

    Returns
    -------
    X : ndarray of shape (1797, 1, 8, 8), float32 in [0, 1]
    y : ndarray of shape (1797,), int64 in 0..9
    """
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    return X, digits.target.astype(np.int64)


def load_fashion_mnist(
    path: str | os.PathLike | None = None, *, subset: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Xiao et al., 2017) from local IDX files.

    Parameters
    ----------
    path : path-like, default=None
        Folder with the four ``*-ubyte.gz`` files; by default the folder of
        Debian's ``dataset-fashion-mnist`` package.
    subset : {"train", "test"}, default="train"
        60,000 training or 10,000 test images.

    Returns
    -------
    X : ndarray of shape (n, 1, 28, 28), float32 in [0, 1]
    y : ndarray of shape (n,), int64 in 0..9

    Raises
    ------
    FileNotFoundError
        When the files are absent, with the command that installs them.
    """
    validate_params(
        {"subset": subset}, {"subset": [options("train", "test", description="'train' or 'test'")]}
    )
    folder = Path(path) if path is not None else FASHION_MNIST_DIR
    image_file, label_file = (folder / name for name in _FASHION_FILES[subset])
    for file in (image_file, label_file):
        if not file.is_file():
            raise FileNotFoundError(
                f"Fashion-MNIST file {file} not found. Install Debian's package with "
                "'apt-get install -y dataset-fashion-mnist', or pass path= to a folder "
                "holding the four *-ubyte.gz files."
            )
    X = read_idx(image_file).astype(np.float32)[:, None, :, :] / 255.0
    y = read_idx(label_file).astype(np.int64)
    if len(X) != len(y):
        raise ValueError(f"{image_file} has {len(X)} images but {label_file} has {len(y)} labels")
    return X, y


def read_idx(file: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes into an array."""
    opener = gzip.open if str(file).endswith(".gz") else open
    with opener(file, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        raise ValueError(f"{file} is not an IDX file of unsigned bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _digits_split(test_size: float = 0.3):
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=0
    )
    return X_train, y_train, X_test, y_test


def _fashion_mnist_split(test_size: float = 0.3):
    # Fashion-MNIST ships its own split; test_size does not apply.
    return (*load_fashion_mnist(subset="train"), *load_fashion_mnist(subset="test"))


#: name -> function ``(test_size=0.3) -> (X_train, y_train, X_test, y_test)``,
#: the data sets of the command line and the experiment runner. Adding one
#: (MNIST, Quick-Draw, Shoe-Bag from local files) is one entry here.
DATASETS = {"digits": _digits_split, "fashion-mnist": _fashion_mnist_split}
