"""Learning Loss: query the rows whose predicted loss is highest.

Reference: D. Yoo and I. S. Kweon, "Learning Loss for Active Learning",
CVPR 2019.
"""

from __future__ import annotations

import numpy as np

from skactive import _torch
from skactive.base import QueryStrategy
from skactive.nets import LossPredictionNet


class LearningLoss(QueryStrategy):
    """Query the candidates with the highest loss predicted by the net's loss head.

    The estimator must be (or end in) a fitted
    :class:`~skactive.nets.LossPredictionNet`, whose head learnt to rank
    rows by their loss while the network trained. The reference scores a
    random subset of 10,000 unlabelled rows and queries the top ones.

    Parameters
    ----------
    candidates : int, default=None
        Score only a random subset of this many pool rows (None: all; the
        reference uses 10,000).
    batch_size : int, default=1024
        Rows scored per chunk.
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib.
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Predicted loss (higher is queried first).
    """

    def __init__(
        self,
        *,
        candidates: int | None = None,
        batch_size: int = 1024,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.candidates = candidates
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _prepare(self, estimator):
        self._chunk_size()
        network = _torch.find_network(estimator, what="LearningLoss")
        if not isinstance(network.net, LossPredictionNet):
            raise TypeError(
                f"estimator: LearningLoss reads a loss-prediction head, and "
                f"{type(network.net).__name__} has none; train a "
                "skactive.nets.LossPredictionNet (make_net(..., net_class=LossPredictionNet))"
            )
        return network

    def _score(self, model, X_chunk: np.ndarray) -> np.ndarray:
        rows = model.transform(X_chunk) if model.transform is not None else X_chunk
        return model.net.predict_loss(rows).astype(np.float64)
