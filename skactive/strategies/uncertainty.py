"""Uncertainty sampling: entropy, margin and least confidence.

Reference: B. Settles, "Active Learning Literature Survey", University of
Wisconsin-Madison, Computer Sciences Technical Report 1648, 2009, section 3.1.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.special import xlogy

from skactive._inference import probability_function
from skactive.base import QueryStrategy, StrategyTags


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of ``proba``; ``0 log 0 = 0``."""
    return -xlogy(proba, proba).sum(axis=1)


def margin(proba: np.ndarray) -> np.ndarray:
    """Difference between the two largest probabilities of each row."""
    if proba.shape[1] < 2:
        return np.ones(len(proba))
    top2 = np.partition(proba, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """One minus the largest probability of each row."""
    return 1.0 - proba.max(axis=1)


class _UncertaintySampling(QueryStrategy):
    _measure = staticmethod(entropy)

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
        # None: the device's best pass (128 rows on CPU ran 1.7x faster than 1,024 on LeNet5).
        return probability_function(estimator, what=type(self).__name__, batch_size=self.batch_size)

    def score_rows(self, model, X_chunk: np.ndarray) -> np.ndarray:
        return self._measure(model(X_chunk))


_PARAMS_DOC = """
    Parameters
    ----------
    candidates : int, default=None
        Score only a random subset of this many pool rows, as the DFAL paper
        does for its baselines (None: the whole pool).
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows per forward pass on the network's device (None: the torch
        adapter's choice, 128 on CPU and 1024 on a GPU).
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib (None: one, unless
        a ``joblib.parallel_backend`` context such as ``"dask"`` is active).
    random_state : int, RandomState instance or None, default=None
        Seed for the candidate subset and for breaking ties.

    Attributes
    ----------
    candidates_ : ndarray of shape (n_candidates,)
        Pool indices scored by the last ``select``.
    scores_ : ndarray of shape (n_candidates,)
        {scores}
    indices_ : ndarray of shape (n,)
        Selected pool indices, best first.
    extras_ : TrainingExtras
        Always empty.
"""


class EntropySampling(_UncertaintySampling):
    __doc__ = """Select the rows whose predicted class distribution has maximal entropy.

    Works with any classifier that has ``predict_proba``; skorch nets are
    evaluated batched on their own device.

    Reference: C. E. Shannon (1948); used for active learning as in
    B. Settles (2009), "Active Learning Literature Survey", section 3.1.
""" + _PARAMS_DOC.format(scores="Entropy in nats (larger is more uncertain).")
    _measure = staticmethod(entropy)


class MarginSampling(_UncertaintySampling):
    __doc__ = """Select the rows with the smallest gap between the two most likely classes.

    Reference: T. Scheffer, C. Decomain and S. Wrobel, "Active Hidden Markov
    Models for Information Extraction", IDA 2001.
""" + _PARAMS_DOC.format(scores="Margin p(1st) - p(2nd) (smaller is more uncertain).")
    _measure = staticmethod(margin)

    def __skactive_tags__(self) -> StrategyTags:
        return replace(super().__skactive_tags__(), greater_is_better=False)


class LeastConfidence(_UncertaintySampling):
    __doc__ = """Select the rows whose most likely class has the lowest probability.

    Reference: A. Culotta and A. McCallum, "Reducing Labeling Effort for
    Structured Prediction Tasks", AAAI 2005.
""" + _PARAMS_DOC.format(scores="1 - max probability (larger is more uncertain).")
    _measure = staticmethod(least_confidence)
