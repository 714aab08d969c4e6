"""Checks of data shared by the learner and the strategies.

Rows, labels, the number of rows to select and class lists; parameters are
checked by :mod:`skactive.param_validation`. Every message names the
offending argument and says what was expected, and no check mutates its
input.
"""

from __future__ import annotations

import hashlib
import numbers

import numpy as np
from scipy import sparse
from sklearn import get_config
from sklearn.utils import check_random_state
from torch.utils.data import Dataset

from skactive._chunking import READ_CHUNK, DatasetPool, canonical_strides, chunk_slices, take_rows
from skactive.param_validation import RANDOM_STATE, validate_params


def check_rows(X, *, name: str, feature_shape: tuple | None = None) -> np.ndarray:
    """Validate a 2-D or image-shaped array of samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...) or torch Dataset
        Samples, one per row. ``numpy.memmap`` arrays are not copied; a torch
        ``Dataset`` is wrapped in a lazy :class:`~skactive._chunking.DatasetPool`.
        Float rows are checked for NaN and infinity, chunk by chunk, unless
        inside ``sklearn.config_context(assume_finite=True)``.
    name : str
        Parameter name used in error messages.
    feature_shape : tuple, optional
        Expected shape of one row (``X.shape[1:]``).

    Returns
    -------
    X : ndarray or DatasetPool
        ``X`` itself when it already is an ndarray, else ``np.asarray(X)``.
    """
    if _is_sparse(X):
        raise TypeError(
            f"{name} is a sparse matrix; skactive needs dense rows: pass {name}.toarray() "
            "(or a numpy.memmap for pools larger than memory)"
        )
    if is_torch_dataset(X):
        if not hasattr(X, "__len__"):
            raise TypeError(
                f"{name} is a torch Dataset without a length (an IterableDataset?); skactive "
                "indexes pool rows, so it needs a map-style Dataset"
            )
        if len(X) == 0:  # checked before its first row is read for the shape
            raise ValueError(
                f"{name} is empty: expected at least one row, got a torch Dataset of length 0"
            )
        X = DatasetPool(X)
    elif not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be array-like, got {type(X).__name__}") from exc
    if X.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n_samples, n_features) or (n_samples, *image_shape); "
            f"got an array with shape {X.shape}. Reshape a single sample with "
            "X.reshape(1, -1)."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one row, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    if feature_shape is not None and tuple(X.shape[1:]) != tuple(feature_shape):
        raise ValueError(
            f"{name} has rows of shape {tuple(X.shape[1:])}, but the learner was fitted "
            f"on rows of shape {tuple(feature_shape)}"
        )
    _check_finite(X, name)
    return canonical_strides(X)


def _check_finite(X: np.ndarray, name: str) -> None:
    # scikit-learn's switch: inside ``sklearn.config_context(assume_finite=True)``
    # the caller vouches for the rows, and a pool on disk is read one pass
    # fewer.
    if X.dtype.kind != "f" or get_config()["assume_finite"]:
        return
    # Chunked so that a memory-mapped pool is never loaded whole.
    for rows in chunk_slices(X.shape[0], READ_CHUNK):
        chunk = take_rows(X, rows).reshape(rows.stop - rows.start, -1)
        finite = np.isfinite(chunk).all(axis=1)
        if not finite.all():
            bad = rows.start + int(np.argmin(finite))
            raise ValueError(f"{name} contains NaN or infinity (first at row {bad})")


def _is_sparse(X) -> bool:
    return sparse.issparse(X)


def is_torch_dataset(X) -> bool:
    return isinstance(X, Dataset)


def check_random_state_param(random_state):
    """A ``RandomState`` from a ``random_state`` parameter, checked like every parameter."""
    validate_params({"random_state": random_state}, {"random_state": RANDOM_STATE})
    return check_random_state(random_state)


#: Seeds lie in ``[0, MAX_SEED)``: what torch, scikit-learn, numpy and OR-tools all accept.
MAX_SEED = 2**31 - 1


def draw_seed(rng, size=None):
    """A seed for another generator (or ``size`` of them), drawn from ``rng``.

    The one way a random choice is handed on (to torch, to an inner
    strategy, to k-means), so every draw takes the same amount of ``rng``'s
    stream and a ``random_state`` reproduces them all.

    Parameters
    ----------
    rng : numpy.random.RandomState
    size : int, default=None

    Returns
    -------
    seed : int, or ndarray of shape (size,)
    """
    if size is None:
        return int(rng.randint(MAX_SEED))
    return rng.randint(MAX_SEED, size=size)


def check_n(n, n_available: int, *, what: str = "the pool") -> int:
    """Validate the number of rows to select.

    Parameters
    ----------
    n : int
        Requested number of rows.
    n_available : int
        Number of rows that can be chosen from.
    what : str
        Description of what is chosen from, for the message.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer, got {n!r} of type {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if n > n_available:
        raise ValueError(f"n={n} is larger than {what} ({n_available} rows)")
    return int(n)


def check_labels(y, n_rows: int, *, name: str = "y") -> np.ndarray:
    """Validate a 1-D label vector that goes with ``n_rows`` samples."""
    if y is None:
        raise ValueError(f"{name} is required: pass the oracle's label of every row of X")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if len(y) != n_rows:
        raise ValueError(f"X and {name} have different lengths: {n_rows} rows vs {len(y)} labels")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return y


def check_labeled_rows(indices, n_labeled: int, *, name: str = "indices") -> np.ndarray:
    """Distinct positions among ``n_labeled`` labelled rows, as an int array."""
    rows = np.asarray(indices)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D array of integer positions, got {rows!r}")
    rows = rows.astype(np.intp)
    if rows.size and (rows.min() < 0 or rows.max() >= n_labeled):
        raise ValueError(
            f"{name} must be positions in 0..{n_labeled - 1} of the labelled rows, got "
            f"{rows[(rows < 0) | (rows >= n_labeled)].tolist()[:10]}"
        )
    if len(np.unique(rows)) != len(rows):
        raise ValueError(f"{name} must be distinct, got {rows.tolist()[:20]}")
    return rows


def check_keys(keys, n_rows: int, taken, *, name: str = "keys") -> list:
    """``n_rows`` distinct, hashable keys, none of them None or in ``taken``."""
    if isinstance(keys, str | bytes) or not hasattr(keys, "__len__"):
        raise ValueError(f"{name} must be a sequence of one key per row, got {keys!r}")
    keys = [key.item() if isinstance(key, np.generic) else key for key in keys]
    if len(keys) != n_rows:
        raise ValueError(f"{name} has {len(keys)} entries for {n_rows} rows")
    for key in keys:
        try:
            hash(key)
        except TypeError:
            raise ValueError(
                f"{name} must be hashable (a task id, a file name), got {key!r}"
            ) from None
    if any(key is None for key in keys):
        raise ValueError(f"{name} cannot hold None: leave keys=None for rows without one")
    if len(set(keys)) != len(keys):
        raise ValueError(f"{name} must be distinct, got {keys[:20]}")
    used = sorted(str(k) for k in set(keys) & set(taken))
    if used:
        raise ValueError(f"{name}: {used[:10]} already name labelled rows")
    return keys


def row_key(row: np.ndarray) -> bytes:
    """A digest identifying a row by content, whatever its numeric dtype.

    float64 bytes, so that a row taught as float64 matches the float32 row
    that was queried.
    """
    data = np.ascontiguousarray(row, dtype=np.float64).tobytes()
    return hashlib.blake2b(data, digest_size=16).digest()


def check_classes(classes, y: np.ndarray) -> np.ndarray:
    """The sorted class labels: ``classes`` when given (every label of ``y`` in it), else ``y``'s.

    Raises
    ------
    ValueError
        If ``y`` has a label missing from ``classes``.
    """
    if classes is None:
        return np.unique(y)
    classes = np.unique(np.asarray(classes))
    missing = np.setdiff1d(np.unique(y), classes)
    if missing.size:
        raise ValueError(
            f"y has labels {missing.tolist()[:10]} not listed in classes={classes.tolist()}"
        )
    return classes
