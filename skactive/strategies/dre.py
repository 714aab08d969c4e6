"""DRE: density-based robust sampling with entropy.

Reference: Y. Guo, Q. Hu, M. Cordy, M. Papadakis and Y. Le Traon, "DRE:
Density-based Data Selection with Entropy for Adversarial-Robust Deep
Learning Models", Neural Computing and Applications, 2022 (arXiv:2112.02542,
"Robust Active Learning"; code: testing-cs/robustAL).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from skactive._inference import probability_function
from skactive.base import QueryStrategy
from skactive.param_validation import integer
from skactive.strategies.uncertainty import entropy


def entropy_stratified_sample(scores: np.ndarray, n: int, n_bins: int, rng) -> np.ndarray:
    """DRE's allocation: a stratified sample following the histogram of ``scores``.

    ``n_bins`` equal-width bins span ``[min, max]`` (the last bin closed, so
    the highest scores can be drawn; the reference's half-open last bin never
    draws them). Bin ``b`` holding a share ``h_b`` of the rows gives
    ``ceil(h_b * n)`` rows drawn uniformly without replacement; the draws are
    concatenated from the lowest bin up and the last ``n`` kept, so the
    rounding surplus is trimmed from the lowest bins.

    Returns
    -------
    positions : ndarray of shape (n,)
        Distinct positions into ``scores``, highest bins first.
    """
    if scores.max() == scores.min():
        return rng.permutation(len(scores))[:n]
    edges = np.linspace(scores.min(), scores.max(), n_bins + 1)
    bins = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, n_bins - 1)
    drawn = []
    for b in range(n_bins):
        members = np.flatnonzero(bins == b)
        take = min(math.ceil(len(members) * n / len(scores)), len(members))
        drawn.append(rng.choice(members, take, replace=False) if take else members[:0])
    # ceil(count * n / N) <= count and the ceilings sum to at least n: never short.
    return np.concatenate(drawn)[-n:][::-1]


class DRE(QueryStrategy):
    """Draw rows across the whole range of prediction entropy, weighted by its density.

    The prediction entropy (bits) of every candidate is binned into
    ``n_bins`` equal-width bins; each bin gives rows in proportion to its
    share of the candidates (rounded up, drawn at random), and the rounding
    surplus comes out of the lowest-entropy bins. The batch thus follows the
    entropy distribution with a tilt to uncertain rows, instead of taking
    only the top of it: the robust active learning study found
    accuracy-oriented acquisitions worse than random for adversarial
    robustness, and DRE ahead of them. Works with any classifier that has
    ``predict_proba``.

    Parameters
    ----------
    n_bins : int, default=50
    candidates : int, default=None
        Consider only a random subset of this many pool rows (None: all,
        as in the reference).
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
        Seeds the candidate subset and the draws within bins (the
        reference's draws are unseeded).

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Prediction entropy in bits.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {"n_bins": [integer(1)]}

    def __init__(
        self,
        *,
        n_bins: int = 50,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.n_bins = n_bins
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def prepare(self, estimator):
        return probability_function(estimator, what="DRE", batch_size=self.batch_size)

    def score_rows(self, model, X_chunk: np.ndarray) -> np.ndarray:
        return entropy(model(X_chunk)) / np.log(2)

    def rank_candidates(self, model, X_pool, candidates, n, rng, **labeled):
        scores = self._score_candidates(model, X_pool, candidates)
        return entropy_stratified_sample(scores, n, int(self.n_bins), rng), scores
