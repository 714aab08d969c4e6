"""Class probabilities from any classifier, the way strategies need them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from skactive import _torch


def probability_function(
    estimator, *, what: str, batch_size: int | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``f(X_chunk) -> probabilities`` for a fitted classifier.

    A skorch net (alone, in a pipeline, a search or a learner) is evaluated by
    :mod:`skactive._torch` on its own device, in eval mode, with inputs cast
    to its dtype, ``batch_size`` rows per forward pass (None: 128 on CPU,
    where larger batches run slower, 1024 on a GPU); any other classifier
    through its ``predict_proba``.

    Raises
    ------
    TypeError
        If ``estimator`` has no ``predict_proba``; the message names ``what``
        needed it.
    """
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"estimator: {what} needs predict_proba, which {type(estimator).__name__} "
            f"does not provide{_calibration_hint(estimator)}"
        )
    try:
        network = _torch.find_network(estimator, what=what)
    except TypeError:
        return _Probabilities(estimator, None, batch_size)
    return _Probabilities(estimator, network, batch_size)


def _calibration_hint(estimator) -> str:
    from sklearn.pipeline import Pipeline

    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    final = getattr(final, "estimator_", final)
    if hasattr(final, "decision_function"):
        return (
            "; wrap it in sklearn.calibration.CalibratedClassifierCV to get calibrated "
            "probabilities from its decision_function"
        )
    return ""


class _Probabilities:
    """Picklable ``X -> probabilities`` (joblib workers receive it)."""

    def __init__(self, estimator, network, batch_size):
        self.estimator, self.network, self.batch_size = estimator, network, batch_size

    def __call__(self, X) -> np.ndarray:
        if self.network is None:
            return np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
        batch = self.network.batch_size_for(self.batch_size)
        proba = _torch.predict_proba(self.network, X, batch_size=batch)
        return proba.astype(np.float64)


def embed_rows(estimator, X, *, layer: str | None = None, batch_size: int | None = None):
    """Rows as points for geometric strategies: the net's embedding, or the raw features.

    A skorch net (alone, in a pipeline, a search or a learner) embeds the
    rows in eval mode: the input of its last linear layer (``layer=None``)
    or the flattened output of the named submodule. Any other estimator has
    no representation of its own, so the flattened rows are used and
    ``layer`` must be None.

    Returns
    -------
    points : ndarray of shape (n_rows, n_dims), float64
    """
    try:
        network = _torch.find_network(estimator)
    except TypeError:
        if layer is not None:
            raise ValueError(
                f"layer={layer!r} names a submodule, but {type(estimator).__name__} is not a "
                "skorch net; use layer=None to compare the raw features"
            ) from None
        rows = np.asarray(X[0 : len(X)])
        return rows.reshape(len(rows), -1).astype(np.float64)
    _torch.find_layer(network.module, layer)
    size = network.batch_size_for(batch_size)
    return _torch.embed(network, X, layer=layer, batch_size=size).astype(np.float64)


def unit_rows(points: np.ndarray) -> np.ndarray:
    """``points`` scaled to unit Euclidean norm; all-zero rows stay at the origin."""
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return points / np.where(norms > 0, norms, 1.0)
