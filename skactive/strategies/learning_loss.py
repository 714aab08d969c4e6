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
        chunk_size: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def prepare(self, estimator):
        network = _torch.find_network(estimator, what="LearningLoss")
        if not isinstance(network.net, LossPredictionNet):
            raise TypeError(
                f"estimator: LearningLoss reads a loss-prediction head, and "
                f"{type(network.net).__name__} has none; train a "
                "skactive.nets.LossPredictionNet (make_net(..., net_class=LossPredictionNet))"
            )
        return network

    def score_rows(self, model, X_chunk: np.ndarray) -> np.ndarray:
        rows = model.transform(X_chunk) if model.transform is not None else X_chunk
        return model.net.predict_loss(rows, batch_size=self.batch_size).astype(np.float64)
