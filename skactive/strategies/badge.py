"""BADGE: diverse, uncertain batches from last-layer gradient embeddings.

Reference: J. T. Ash, C. Zhang, A. Krishnamurthy, J. Langford and
A. Agarwal, "Deep Batch Active Learning by Diverse, Uncertain Gradient
Lower Bounds", ICLR 2020.
"""

from __future__ import annotations

import numpy as np
import torch

from skactive import _torch
from skactive._chunking import RowView, chunk_slices, take_rows
from skactive.base import QueryStrategy


def gradient_embedding_factors(network, X, *, batch_size: int = 128):
    """The two factors of BADGE's gradient embedding ``g = a (outer) h``.

    ``a = onehot(argmax p) - p`` (one entry per class) and ``h`` is the
    input of the last linear layer, both in eval mode. ``g`` is the negative
    cross-entropy gradient with respect to the last layer's weights at the
    predicted label (its bias left out, as in the reference); it is never
    formed, because every distance BADGE needs factorises.

    Returns
    -------
    a : ndarray of shape (n_rows, n_classes)
    h : ndarray of shape (n_rows, n_features)
    """
    parts_a, parts_h = [], []
    with _torch.evaluation_mode(network.module), torch.no_grad():
        for rows in chunk_slices(len(X), batch_size):
            x = network.to_input(take_rows(X, np.arange(rows.start, rows.stop)))
            h, logits, _ = _torch.last_layer_features(network, x)
            proba = torch.softmax(logits.double(), dim=1)
            onehot = torch.nn.functional.one_hot(proba.argmax(dim=1), proba.shape[1])
            parts_a.append((onehot - proba).cpu().numpy())
            parts_h.append(h.double().cpu().numpy())
    return np.concatenate(parts_a), np.concatenate(parts_h)


def kmeans_plus_plus_factored(a: np.ndarray, h: np.ndarray, n: int, rng) -> np.ndarray:
    """k-means++ seeding on the rows ``a_i (outer) h_i`` without forming them.

    The first centre is the row of largest norm (the reference's choice; the
    textbook draws it uniformly); each next one is drawn with probability
    proportional to the squared distance to the nearest centre so far,
    using ``||a_i h_i - a_j h_j||^2 = |a_i|^2 |h_i|^2 + |a_j|^2 |h_j|^2
    - 2 (a_i . a_j)(h_i . h_j)``. Memory is O(n_rows (n_classes +
    n_features)). When every remaining row lies on a centre (all distances
    zero), the rest are drawn uniformly from ``rng``.

    Returns
    -------
    picks : ndarray of shape (n,)
        Distinct row positions in pick order.
    """
    squared = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)
    picks = np.empty(n, dtype=np.intp)
    available = np.ones(len(a), dtype=bool)
    nearest = np.full(len(a), np.inf)
    for t in range(n):
        if t == 0:
            pick = int(np.argmax(squared))
        else:
            weights = np.where(available, nearest, 0.0)
            total = weights.sum()
            if total > 0:
                pick = int(rng.choice(len(a), p=weights / total))
            else:
                pick = int(rng.choice(np.flatnonzero(available)))
        picks[t] = pick
        available[pick] = False
        d2 = squared + squared[pick] - 2.0 * (a @ a[pick]) * (h @ h[pick])
        # Rounding can make a centre's own distance slightly negative.
        nearest = np.minimum(nearest, np.maximum(d2, 0.0))
        nearest[pick] = 0.0
    return picks


class BADGE(QueryStrategy):
    """Batch Active learning by Diverse Gradient Embeddings.

    Each candidate is represented by the gradient of the cross-entropy loss
    with respect to the last linear layer's weights, taken at the label the
    network predicts: ``g = (onehot(y_hat) - p) (outer) h``. Its norm is
    large where the net is unsure, and its direction says which way the
    row would move the weights; k-means++ seeding on these vectors (the
    first centre the row of largest norm, then D^2 sampling) gives a batch
    that is uncertain and diverse at once, with no hyperparameter.

    Distances use the factorised form of :func:`kmeans_plus_plus_factored`,
    so the ``(n_candidates, n_classes * n_features)`` matrix is never built.

    Parameters
    ----------
    candidates : int, default=None
        Consider only a random subset of this many pool rows (None: all, as
        in the reference).
    batch_size : int, default=None
        Rows per forward pass (None: 128 on CPU, 1024 on a GPU).
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset and the D^2 draws.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Norm of each candidate's gradient embedding (the picks follow the
        seeding, not this order; the first pick has the largest norm).
    """

    def __init__(
        self, *, candidates: int | None = None, batch_size: int | None = None, random_state=None
    ):
        self.candidates = candidates
        self.batch_size = batch_size
        self.random_state = random_state

    def prepare(self, estimator):
        return _torch.find_network(estimator, what="BADGE")

    def rank_candidates(self, network, X_pool, candidates, n, rng, **labeled):
        batch = network.batch_size_for(self.batch_size)
        a, h = gradient_embedding_factors(network, RowView(X_pool, candidates), batch_size=batch)
        scores = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h))
        return kmeans_plus_plus_factored(a, h, n, rng), scores
