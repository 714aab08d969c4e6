"""What strategies compute from any model: class probabilities and embeddings."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from skactive import _torch
from skactive._chunking import READ_CHUNK, chunk_slices, take_rows
from skactive._wrappers import final_step, fitted_inner


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
    final = fitted_inner(final_step(fitted_inner(estimator)))
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


def embed_rows(model, X, *, layer: str | None = None, batch_size: int | None = None):
    """Rows as points for the geometric strategies: the one embedding helper.

    ``model`` is what a strategy prepared:

    * a skorch net, alone or inside a pipeline, a search or a learner (or
      the :class:`~skactive._torch.TorchNetwork` found in one): the rows are
      embedded in eval mode, on the net's device, ``batch_size`` rows per
      forward pass as the torch adapter decides for ``None``; the input of
      the last linear layer (``layer=None``) or the flattened output of the
      named submodule;
    * a callable (TypiClust's and ProbCover's ``embedding=``): its output,
      one vector per row;
    * any other estimator, which has no representation of its own: the
      flattened rows (``layer`` must then be None).

    ``X`` is read chunk by chunk, so a memory-mapped pool or a
    :class:`~skactive._chunking.RowView` of one is never loaded whole.

    Returns
    -------
    points : ndarray of shape (n_rows, n_dims), float64
    """
    network = model if isinstance(model, _torch.TorchNetwork) else _network_or_none(model)
    if network is not None:
        _torch.find_layer(network.module, layer)
        batch = network.batch_size_for(batch_size)
        embed = functools.partial(_torch.embed, network, layer=layer, batch_size=batch)
    elif callable(model):
        embed, batch = functools.partial(_call_embedding, model), batch_size or READ_CHUNK
    else:
        if layer is not None:
            raise ValueError(
                f"layer={layer!r} names a submodule, but {type(model).__name__} is not a "
                "skorch net; use layer=None to compare the raw features"
            )
        embed, batch = _flattened, batch_size or READ_CHUNK
    parts = [
        np.asarray(embed(take_rows(X, np.arange(rows.start, rows.stop))), dtype=np.float64)
        for rows in chunk_slices(len(X), max(batch, READ_CHUNK))
    ]
    return np.concatenate(parts) if parts else np.empty((0, 0))


def _network_or_none(estimator):
    try:
        return _torch.find_network(estimator)
    except TypeError:
        return None


def _call_embedding(embedding, X_chunk: np.ndarray) -> np.ndarray:
    vectors = np.asarray(embedding(X_chunk))
    if vectors.ndim != 2 or len(vectors) != len(X_chunk):
        raise ValueError(
            f"embedding returned shape {vectors.shape} for {len(X_chunk)} rows; "
            "it must return one vector per row, shape (n_rows, n_dims)"
        )
    return vectors


def _flattened(X_chunk: np.ndarray) -> np.ndarray:
    return X_chunk.reshape(len(X_chunk), -1)


def unit_rows(points: np.ndarray) -> np.ndarray:
    """``points`` scaled to unit Euclidean norm; all-zero rows stay at the origin."""
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return points / np.where(norms > 0, norms, 1.0)
