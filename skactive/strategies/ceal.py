"""CEAL: cost-effective active learning with pseudo-labels.

Reference: K. Wang, D. Zhang, Y. Li, R. Zhang and L. Lin, "Cost-Effective
Active Learning for Deep Image Classification", IEEE TCSVT 27(12), 2017.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np

from skactive._chunking import take_rows
from skactive._inference import probability_function
from skactive.base import QueryStrategy, StrategyTags, TrainingExtras, rank_scores
from skactive.param_validation import integer, options, real
from skactive.strategies.uncertainty import entropy, least_confidence, margin

_CRITERIA = {
    "entropy": (entropy, True),
    "margin": (margin, False),
    "least_confidence": (least_confidence, True),
}


class CEAL(QueryStrategy):
    """Query uncertain rows and pseudo-label the confident ones.

    The ``n`` most uncertain candidates go to the oracle. Candidates whose
    prediction entropy is below the threshold ``delta_t`` are handed to the
    learner as *pseudo-labels* with the model's predicted class: they are
    used for the next refit only, recomputed every round, never mixed into
    the oracle-labelled set, and left out of ``training_set()`` unless asked
    for. The threshold decays linearly per round,
    ``delta_t = max(0, delta - delta_decay * t)`` for rounds ``t = 0, 1, ...``
    of this strategy object (an :class:`~skactive.ActiveLearner` carries the
    count from one query to the next).

    The CEAL paper used ``delta`` = 0.05 (MNIST-like digits), 0.19
    (Shoe-Bag) and 0.08 (Quick-Draw) with a decay rate of 0.0033.

    Parameters
    ----------
    delta : float, default=0.05
        Initial entropy threshold (nats) for pseudo-labels.
    delta_decay : float, default=0.0033
        Amount subtracted from the threshold each round.
    criterion : {"entropy", "margin", "least_confidence"}, default="entropy"
        Uncertainty measure of the queried rows.
    max_pseudo : int, default=None
        Keep at most this many pseudo-labels, the most confident first.
    candidates : int, default=None
        Score only a random subset of this many pool rows (None: all).
        Pseudo-labels come from the candidates.
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows per forward pass on the network's device (None: the torch
        adapter's choice, 128 on CPU and 1024 on a GPU).
    random_state : int, RandomState instance or None, default=None
        Seed for the candidate subset and tie-breaking.

    Attributes
    ----------
    candidates_, indices_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        The ``criterion`` of every candidate.
    n_rounds_ : int
        Number of ``select`` calls so far.
    delta_ : float
        Threshold used in the last call.
    pseudo_indices_ : ndarray of int
        Pool indices pseudo-labelled in the last call, most confident first.
    pseudo_labels_ : ndarray
        Their predicted labels (in the estimator's label space).
    extras_ : TrainingExtras
        The pseudo-labels for the learner.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "delta": [real(0.0)],
        "delta_decay": [real(0.0)],
        "criterion": [options(*sorted(_CRITERIA))],
        "max_pseudo": [integer(1), None],
    }

    def __init__(
        self,
        *,
        delta: float = 0.05,
        delta_decay: float = 0.0033,
        criterion: str = "entropy",
        max_pseudo: int | None = None,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        random_state=None,
    ):
        self.delta = delta
        self.delta_decay = delta_decay
        self.criterion = criterion
        self.max_pseudo = max_pseudo
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.random_state = random_state

    def __skactive_tags__(self) -> StrategyTags:
        # scores_ hold the criterion's measure, whose direction the criterion decides.
        criterion = _CRITERIA.get(self.criterion)
        greater = True if criterion is None else criterion[1]
        return replace(super().__skactive_tags__(), greater_is_better=greater)

    def prepare(self, estimator):
        return probability_function(estimator, what="CEAL", batch_size=self.batch_size)

    def score_rows(self, proba_fn, X_chunk: np.ndarray) -> np.ndarray:
        """Per row: the query criterion, the entropy, the predicted column."""
        proba = proba_fn(X_chunk)
        measure, _ = _CRITERIA[self.criterion]
        return np.column_stack([measure(proba), entropy(proba), proba.argmax(axis=1)])

    def rank_candidates(self, proba_fn, X_pool, candidates, n, rng, **labeled):
        columns = self._score_candidates(proba_fn, X_pool, candidates)
        scores, confidence = columns[:, 0], columns[:, 1]
        predicted = columns[:, 2].astype(np.intp)
        _, greater_is_better = _CRITERIA[self.criterion]
        positions = rank_scores(scores, n, greater_is_better=greater_is_better, rng=rng)

        self.n_rounds_ = getattr(self, "n_rounds_", 0) + 1
        self.delta_ = max(0.0, self.delta - self.delta_decay * (self.n_rounds_ - 1))
        confident = np.flatnonzero(confidence < self.delta_)
        confident = np.setdiff1d(confident, positions)  # never query and pseudo-label a row
        confident = confident[np.argsort(confidence[confident], kind="stable")]
        if self.max_pseudo is not None:
            confident = confident[: self.max_pseudo]
        self.pseudo_indices_ = candidates[confident]
        labels = predicted[confident]
        classes = getattr(proba_fn.estimator, "classes_", None)
        self.pseudo_labels_ = labels if classes is None else np.asarray(classes)[labels]
        return positions, scores

    def training_extras(self, model, X_pool, selected, X_labeled=None) -> TrainingExtras:
        if len(self.pseudo_indices_) == 0:
            return TrainingExtras()
        order = np.argsort(self.pseudo_indices_)  # read the pool front to back
        pseudo_X = np.empty((len(order), *X_pool.shape[1:]), dtype=X_pool.dtype)
        pseudo_X[order] = take_rows(X_pool, self.pseudo_indices_[order])
        return TrainingExtras(pseudo_X=pseudo_X, pseudo_y=self.pseudo_labels_)
