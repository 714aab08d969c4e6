"""A transformer that casts rows to the dtype a torch network computes in."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class AsType(TransformerMixin, BaseEstimator):
    """Cast numeric rows to ``dtype``, so a torch network accepts them.

    skorch hands arrays to torch as they are: float64 rows (numpy's and
    pandas' default, and what ``StandardScaler`` returns) clash with float32
    weights deep inside torch. :class:`~skactive.ActiveLearner` puts this
    step in front of a network that ends a ``Pipeline``; add it yourself
    when you use such a pipeline without a learner.

    Parameters
    ----------
    dtype : str or numpy dtype, default="float32"
        Target dtype of the network's inputs.

    Examples
    --------
    >>> import numpy as np
    >>> AsType().fit_transform(np.ones((2, 3))).dtype
    dtype('float32')
    """

    def __init__(self, dtype="float32"):
        self.dtype = dtype

    def fit(self, X, y=None):
        """Check ``dtype``; nothing is learned."""
        self._target_dtype()
        return self

    def transform(self, X):
        """``X`` as an array of ``dtype`` (no copy when it already is)."""
        return np.asarray(X).astype(self._target_dtype(), copy=False)

    def inverse_transform(self, X):
        """``X`` unchanged: the cast loses nothing a round trip could restore."""
        return np.asarray(X)

    def _target_dtype(self) -> np.dtype:
        try:
            dtype = np.dtype(self.dtype)
        except TypeError as exc:
            raise ValueError(f"dtype must be a numpy floating dtype, got {self.dtype!r}") from exc
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a numpy floating dtype, got {self.dtype!r}")
        return dtype

    def __sklearn_is_fitted__(self) -> bool:
        return True
