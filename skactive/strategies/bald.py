"""BALD: Bayesian Active Learning by Disagreement with Monte-Carlo dropout.

References: N. Houlsby, F. Huszár, Z. Ghahramani and M. Lengyel, "Bayesian
Active Learning for Classification and Preference Learning", arXiv:1112.5745,
2011; Y. Gal, R. Islam and Z. Ghahramani, "Deep Bayesian Active Learning
with Image Data", ICML 2017.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from skactive.base import StrategyTags
from skactive.strategies.query_by_committee import (
    MC_DROPOUT_EXPECTED_FAILURES,
    N_SAMPLES,
    PosteriorSampling,
    mutual_information,
)

__all__ = ["BALD", "mutual_information"]


class BALD(PosteriorSampling):
    """Select rows on which posterior samples disagree most, by mutual information.

    On a single skorch net, runs ``n_samples`` stochastic forward passes with
    the network's dropout layers switched on and batch-norm layers left in
    eval mode (layers before the first dropout run once per batch); on a
    :class:`~skactive.Committee` or a fitted scikit-learn ensemble, the
    members are the samples (ensemble BALD, Beluch et al. 2018). Each row
    scores ``H[mean_t p_t] - mean_t H[p_t]``, the mutual information between
    its label and the model. Scores are computed chunk by chunk, never as a
    (samples x pool x classes) array.

    Parameters
    ----------
    n_samples : int, default=10
        Stochastic forward passes ``T`` of a single net (at least 2).
        Ignored for committees and ensembles.
    candidates : int, default=None
        Score only a random subset of this many pool rows (None: all).
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows per forward pass (None: 128 on CPU, 1024 on a GPU). The dropout
        masks are drawn per pass and seeded per chunk, so another
        ``batch_size`` or ``chunk_size`` gives other (equally valid) samples,
        as a different seed would; ``n_jobs`` and joblib backends give
        identical scores.
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib (None: one, unless
        a ``joblib.parallel_backend`` context such as ``"dask"`` is active).
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset, tie-breaking and the dropout masks.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Mutual information in nats (larger is more informative).

    Raises
    ------
    ValueError
        From ``select`` if a single network has no dropout layer: its scores
        would all be zero.
    """

    def __skactive_tags__(self) -> StrategyTags:
        return replace(
            super().__skactive_tags__(), expected_failed_checks=MC_DROPOUT_EXPECTED_FAILURES
        )

    # A single net needs passes to sample; None (QBC's "10") is not offered here.
    _skactive_constraints: ClassVar[dict[str, list]] = {"n_samples": [N_SAMPLES]}

    def __init__(
        self,
        *,
        n_samples: int = 10,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.n_samples = n_samples
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _measure_function(self):
        return mutual_information
