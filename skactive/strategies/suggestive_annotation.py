"""Suggestive Annotation: uncertain rows that best represent the pool.

Reference: L. Yang, Y. Zhang, J. Chen, S. Zhang and D. Z. Chen, "Suggestive
Annotation: A Deep Active Learning Framework for Biomedical Image
Segmentation", MICCAI 2017.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np

from skactive import _torch
from skactive._chunking import chunk_slices, take_rows
from skactive._inference import unit_rows
from skactive._posterior import MCDropoutStack
from skactive._validation import check_n
from skactive.base import StrategyTags, rank_scores
from skactive.param_validation import integer, options
from skactive.strategies.query_by_committee import MC_DROPOUT_EXPECTED_FAILURES, PosteriorSampling

_SIMILARITIES = ("cosine",)


def member_variance(proba_samples) -> np.ndarray:
    """Uncertainty: the across-member variance of each class probability, averaged over classes."""
    stack = np.asarray(proba_samples, dtype=np.float64)
    return stack.var(axis=0).mean(axis=1)


def greedy_max_cover(similarity: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy maximum cover: pick ``n`` rows of ``similarity`` one at a time.

    With ``S`` the rows picked so far, the coverage of a reference column
    ``u`` is ``max_{s in S} similarity[s, u]`` (0 for an empty ``S``), and
    each step adds the row that increases ``F(S) = sum_u coverage(u)`` most
    (ties to the lowest row). With non-negative similarities ``F`` is
    monotone and submodular, so the greedy ``F`` is within ``1 - 1/e`` of the
    best.

    Parameters
    ----------
    similarity : ndarray of shape (n_candidates, n_reference)
        Non-negative similarities of each candidate to each reference row.
    n : int
        Rows to pick, at most ``n_candidates``.

    Returns
    -------
    picks : ndarray of shape (n,)
        Candidate rows in pick order.
    gains : ndarray of shape (n,)
        The increase of ``F`` each pick brought.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2:
        raise ValueError(f"similarity must be 2-D, got shape {similarity.shape}")
    if np.any(similarity < 0) or not np.isfinite(similarity).all():
        raise ValueError("similarity must hold finite, non-negative values")
    n = check_n(n, similarity.shape[0], what="the candidates")
    coverage = np.zeros(similarity.shape[1])
    available = np.ones(similarity.shape[0], dtype=bool)
    picks, gains = np.empty(n, dtype=np.intp), np.empty(n)
    for t in range(n):
        gain = np.maximum(similarity - coverage, 0.0).sum(axis=1)
        gain[~available] = -1.0
        pick = int(np.argmax(gain))
        picks[t], gains[t] = pick, gain[pick]
        available[pick] = False
        coverage = np.maximum(coverage, similarity[pick])
    return picks, gains


class SuggestiveAnnotation(PosteriorSampling):
    """Among the most uncertain rows, pick those that best cover the pool.

    The uncertainty of a row is the variance of its class probabilities
    across the members of a committee (a bootstrap
    :class:`~skactive.Committee` as in the paper, any fitted ensemble, or
    Monte-Carlo dropout passes of one net), averaged over the classes. The
    ``n_uncertain`` most uncertain candidates are kept, and ``n`` of them are
    chosen by :func:`greedy_max_cover` of the candidates: the similarity of
    two rows is the cosine of their descriptors, clipped at 0. A descriptor
    is the input of the last linear layer of a net (the mean of the members'
    L2-normalised descriptors for a committee of nets), or the flattened row
    for other estimators.

    Parameters
    ----------
    n_uncertain : int, default=None
        Uncertain rows kept before the cover (None: ``2 * n``, the paper's
        16 for 8; at least ``n``, at most the candidates).
    similarity : {"cosine"}, default="cosine"
    layer : str, default=None
        Submodule whose output is the descriptor (None: the input of the
        last ``nn.Linear``).
    n_samples : int, default=None
        Monte-Carlo dropout passes for a single net (None: 10).
    candidates : int, default=None
        Score and cover only a random subset of this many pool rows (None:
        all). The cover holds an ``n_uncertain x candidates`` similarity
        matrix, so bound ``candidates`` for large pools.
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
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset, tie-breaking and dropout masks.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Uncertainty (mean across-member variance) of every candidate.
    uncertain_ : ndarray of shape (n_uncertain,)
        Pool indices of the rows kept for the cover.
    cover_gains_ : ndarray of shape (n,)
        Increase of the cover objective brought by each pick.
    """

    def __skactive_tags__(self) -> StrategyTags:
        return replace(
            super().__skactive_tags__(), expected_failed_checks=MC_DROPOUT_EXPECTED_FAILURES
        )

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "n_uncertain": [integer(1), None],
        "similarity": [options(*_SIMILARITIES)],
    }

    def __init__(
        self,
        n_uncertain: int | None = None,
        *,
        similarity: str = "cosine",
        layer: str | None = None,
        n_samples: int | None = None,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        random_state=None,
    ):
        self.n_uncertain = n_uncertain
        self.similarity = similarity
        self.layer = layer
        self.n_samples = n_samples
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.random_state = random_state

    def _measure_function(self):
        return member_variance

    def prepare(self, estimator):
        source = super().prepare(estimator)
        for network in self._networks(source):
            _torch.find_layer(network.module, self.layer)  # fail early on a bad name
        return source

    def rank_candidates(self, source, X_pool, candidates, n, rng, **labeled):
        _, uncertainty = super().rank_candidates(source, X_pool, candidates, n, rng, **labeled)
        n_uncertain = 2 * n if self.n_uncertain is None else int(self.n_uncertain)
        if n_uncertain < n:
            raise ValueError(f"n_uncertain={n_uncertain} must be at least n={n}")
        n_uncertain = min(n_uncertain, len(candidates))
        uncertain = rank_scores(uncertainty, n_uncertain, greater_is_better=True, rng=rng)
        reference = self._descriptors(source, X_pool, candidates)
        similarity = np.maximum(reference[uncertain] @ reference.T, 0.0)
        order, self.cover_gains_ = greedy_max_cover(similarity, n)
        self.uncertain_ = candidates[uncertain]
        return uncertain[order], uncertainty

    @staticmethod
    def _networks(source) -> list:
        if isinstance(source, MCDropoutStack):
            return [source.network]
        return source.networks()

    def _descriptors(self, source, X_pool, candidates) -> np.ndarray:
        """L2-normalised descriptors of the candidates, shape (n_candidates, n_dims)."""
        networks = self._networks(source)
        parts = []
        for rows in chunk_slices(len(candidates), self._chunk_size()):
            X_chunk = take_rows(X_pool, candidates[rows])
            if not networks:
                parts.append(unit_rows(np.asarray(X_chunk, np.float64).reshape(len(X_chunk), -1)))
                continue
            members = [
                unit_rows(_torch.embed(nw, X_chunk, layer=self.layer).astype(np.float64))
                for nw in networks
            ]
            parts.append(unit_rows(np.mean(members, axis=0)))
        return np.concatenate(parts)
