"""EMOC: expected model output change, in closed form on the last layer.

References: A. Freytag, E. Rodner and J. Denzler, "Selecting Influential
Examples: Active Learning with Expected Model Output Changes", ECCV 2014;
C. Käding, E. Rodner, A. Freytag and J. Denzler, "Active and Continuous
Exploration with Deep Neural Networks and Expected Model Output Changes",
arXiv:1612.06129, 2016.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from skactive import _torch
from skactive._chunking import take_rows
from skactive.base import QueryStrategy
from skactive.param_validation import integer, real


@dataclass(frozen=True)
class _Reference:
    """What every chunk is scored against: the net and the reference rows' features."""

    network: _torch.TorchNetwork
    h: torch.Tensor
    bias: float


class EMOC(QueryStrategy):
    """Select the rows whose label would change the model's outputs most.

    For a candidate ``x'`` with hypothetical label ``y'``, take one SGD step
    of learning rate ``learning_rate`` (``gamma``) on the cross-entropy
    loss, restricted to the last linear layer ``z = W h + b`` (the logits),
    and measure the L1 change of the logits on a reference set ``X_ref`` of
    pool rows; average over ``y' ~ p(y' | x')``. Since the logits are linear
    in ``(W, b)`` the step's effect is exact, not a Taylor approximation:
    ``dz(x) = -gamma (p(x') - e_y') (h(x) . h(x') + 1)``, and
    ``||p - e_y||_1 = 2 (1 - p_y)``, so::

        EMOC(x') = 2 gamma (1 - sum_k p_k(x')^2) * mean_{x in X_ref} |h(x) . h(x') + 1|

    the Gini impurity of the prediction times the mean absolute linear
    kernel to the reference rows (``+ 1`` only when the layer has a bias).
    For a one-output binary net the factor 2 becomes 1. ``h`` is the input
    of the last ``nn.Linear``, computed in eval mode.

    Parameters
    ----------
    n_reference : int, default=1000
        Size of the reference set ``X_ref``: a random subset of the pool
        (the whole pool when it is smaller).
    learning_rate : float, default=1.0
        ``gamma``; it scales every score alike, so it never changes the picks.
    candidates : int, default=None
        Score only a random subset of this many pool rows (None: all).
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows per forward pass on the network's device (None: the torch
        adapter's choice, 128 on CPU and 1024 on a GPU).
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib.
    random_state : int, RandomState instance or None, default=None
        Seeds the reference set, the candidate subset and tie-breaking.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Expected L1 change of the logits, averaged over ``X_ref``.
    reference_ : ndarray of shape (n_reference,)
        Pool indices of the reference set.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "n_reference": [integer(1)],
        "learning_rate": [real(0.0, low_open=True)],
    }

    def __init__(
        self,
        *,
        n_reference: int = 1000,
        learning_rate: float = 1.0,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.n_reference = n_reference
        self.learning_rate = learning_rate
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def prepare(self, estimator):
        return _torch.find_network(estimator, what="EMOC")

    def rank_candidates(self, network, X_pool, candidates, n, rng, **labeled):
        size = min(int(self.n_reference), len(X_pool))
        self.reference_ = np.sort(rng.choice(len(X_pool), size=size, replace=False))
        with _torch.evaluation_mode(network.module):
            x = network.to_input(take_rows(X_pool, self.reference_))
            h, _, layer = _torch.last_layer_features(network, x)
        reference = _Reference(network, h, 1.0 if layer.bias is not None else 0.0)
        return super().rank_candidates(reference, X_pool, candidates, n, rng, **labeled)

    def score_rows(self, reference, X_chunk: np.ndarray) -> np.ndarray:
        size = reference.network.batch_size_for(self.batch_size)
        parts = [
            self._score_pass(reference, X_chunk[start : start + size])
            for start in range(0, len(X_chunk), size)
        ]
        return np.concatenate(parts) if parts else np.empty(0)

    def _score_pass(self, reference, X_batch: np.ndarray) -> np.ndarray:
        network = reference.network
        h, logits, _ = _torch.last_layer_features(network, network.to_input(X_batch))
        proba = torch.softmax(logits.double(), dim=1)
        gini = 1.0 - proba.pow(2).sum(dim=1)
        factor = 1.0 if network.is_binary else 2.0
        kernel = (h.double() @ reference.h.double().T + reference.bias).abs().mean(dim=1)
        return (factor * float(self.learning_rate) * gini * kernel).cpu().numpy()
