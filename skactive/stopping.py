"""When to stop paying for labels: stopping criteria for active learning.

Each criterion is a small scikit-learn-style object; call
``criterion.update(learner, X)`` after every :meth:`~skactive.ActiveLearner.teach`
(``X``: the remaining pool, or a fixed unlabelled stop set) and stop when it
returns True. Fitted attributes record the history::

    stop = StabilizingPredictions(window=3, threshold=0.99)
    for _ in range(max_rounds):
        idx = learner.query(X_pool, n=100)
        learner.teach(X_pool[idx], oracle(idx))
        X_pool = np.delete(X_pool, idx, axis=0)
        if stop.update(learner, X_stop):
            break

Criteria combine with :class:`AnyOf` and :class:`AllOf`.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import cohen_kappa_score
from sklearn.utils.validation import check_is_fitted

from skactive._validation import check_rows
from skactive.param_validation import (
    SKLEARN_PARAMETER_CONSTRAINTS,
    check_estimator_params,
    integer,
    options,
    real,
    satisfies,
)
from skactive.strategies.uncertainty import entropy, least_confidence, margin

_MEASURES = {
    "entropy": entropy,
    "least_confidence": least_confidence,
    "margin_gap": lambda proba: 1.0 - margin(proba),
}


class StoppingCriterion(BaseEstimator):
    """Base class: ``update`` records one round and says whether to stop.

    Attributes
    ----------
    history_ : list of dict
        One entry per ``update``: ``n_labeled``, ``value`` (the criterion's
        statistic) and ``stop``.
    stopped_ : bool
        Whether some ``update`` returned True.
    stop_n_labeled_ : int or None
        Size of the labelled set at the first ``update`` that returned True.
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS

    def update(self, learner, X) -> bool:
        """Record the learner's state after a ``teach``; True means stop.

        Parameters
        ----------
        learner : fitted ActiveLearner
        X : array-like of shape (n_rows, ...)
            The remaining pool, or a fixed unlabelled stop set (criteria
            comparing successive models need the same rows every round).

        Returns
        -------
        stop : bool
        """
        check_is_fitted(learner)
        check_estimator_params(self)
        X = check_rows(X, name="X", feature_shape=getattr(learner, "row_shape_", None))
        value, stop = self._evaluate(learner, X)
        n_labeled = len(learner.y_labeled_)
        first_stop = stop and not getattr(self, "stopped_", False)
        self.history_ = [
            *getattr(self, "history_", []),
            {"n_labeled": n_labeled, "value": value, "stop": stop},
        ]
        self.stop_n_labeled_ = n_labeled if first_stop else getattr(self, "stop_n_labeled_", None)
        self.stopped_ = getattr(self, "stopped_", False) or stop
        return stop

    def reset(self) -> StoppingCriterion:
        """Forget the history, as for a new campaign."""
        for name in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, name)
        for name in [a for a in vars(self) if a.startswith("_state")]:
            delattr(self, name)
        return self

    def _evaluate(self, learner, X) -> tuple[float, bool]:
        raise NotImplementedError


class StabilizingPredictions(StoppingCriterion):
    """Stop when successive models agree on a fixed stop set.

    After each round, Cohen's kappa between the predictions of this model
    and of the previous round's on the same unlabelled stop set ``X``; stop
    when the mean of the last ``window`` kappas reaches ``threshold``.

    Reference: M. Bloodgood and K. Vijay-Shanker, "A Method for Stopping
    Active Learning Based on Stabilizing Predictions and the Need for
    User-Adjustable Stopping", CoNLL 2009 (window 3, threshold 0.99).

    Parameters
    ----------
    window : int, default=3
    threshold : float, default=0.99
        In [-1, 1].

    Attributes
    ----------
    history_, stopped_, stop_n_labeled_ : see :class:`StoppingCriterion`
        ``value`` is the kappa with the previous model (NaN the first time).
    """

    def __init__(self, window: int = 3, threshold: float = 0.99):
        self.window = window
        self.threshold = threshold

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "window": [integer(1)],
        "threshold": [real(-1.0, 1.0)],
    }

    def _evaluate(self, learner, X):
        predictions = np.asarray(learner.predict(X))
        previous = getattr(self, "_state_predictions", None)
        if previous is not None and previous.shape != predictions.shape:
            raise ValueError(
                f"X has {len(predictions)} rows but the previous update had {len(previous)}: "
                "StabilizingPredictions needs the same stop set every round"
            )
        self._state_predictions = predictions
        if previous is None:
            return float("nan"), False
        kappa = _kappa(previous, predictions)
        kappas = [h["value"] for h in getattr(self, "history_", [])[1:]] + [kappa]
        recent = kappas[-int(self.window) :]
        stop = len(recent) == self.window and float(np.mean(recent)) >= self.threshold
        return kappa, bool(stop)


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    if np.array_equal(a, b):
        return 1.0  # kappa is undefined (0/0) when both predict one class only
    return float(cohen_kappa_score(a, b))


class _PoolUncertainty(StoppingCriterion):
    _reduce = staticmethod(np.max)

    def __init__(self, threshold: float = 0.1, *, measure: str = "entropy"):
        self.threshold = threshold
        self.measure = measure

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "threshold": [real(0.0)],
        "measure": [options(*sorted(_MEASURES))],
    }

    def _evaluate(self, learner, X):
        value = float(self._reduce(_MEASURES[self.measure](learner.predict_proba(X))))
        return value, value <= self.threshold


class MaxUncertainty(_PoolUncertainty):
    """Stop when even the most uncertain pool row is certain enough.

    Stops when the largest uncertainty over ``X`` (the remaining pool) is at
    most ``threshold``.

    Reference: J. Zhu, H. Wang and E. Hovy, "Multi-criteria-based strategy
    to stop active learning for data annotation", COLING 2008 (the
    "max-confidence" criterion).

    Parameters
    ----------
    threshold : float, default=0.1
        Largest uncertainty allowed (nats for entropy), >= 0.
    measure : {"entropy", "least_confidence", "margin_gap"}, default="entropy"
        ``margin_gap`` is ``1 - (p_1 - p_2)``.
    """

    _reduce = staticmethod(np.max)


class OverallUncertainty(_PoolUncertainty):
    """Stop when the pool's mean uncertainty is low enough.

    Reference: J. Zhu, H. Wang and E. Hovy, COLING 2008 (the
    "overall-uncertainty" criterion).

    Parameters
    ----------
    threshold : float, default=0.1
    measure : {"entropy", "least_confidence", "margin_gap"}, default="entropy"
    """

    _reduce = staticmethod(np.mean)


class ConfidenceOnStopSet(StoppingCriterion):
    """Stop when the model's confidence on a fixed stop set starts to drop.

    The confidence is the mean largest class probability on the stop set
    ``X``; stop once it has decreased in ``patience`` consecutive rounds
    (the first drops are noise-prone, so ``patience`` > 1 helps).

    Reference: A. Vlachos, "A stopping criterion for active learning",
    Computer Speech and Language 22(3), 2008.

    Parameters
    ----------
    patience : int, default=2
    """

    def __init__(self, patience: int = 2):
        self.patience = patience

    _skactive_constraints: ClassVar[dict[str, list]] = {"patience": [integer(1)]}

    def _evaluate(self, learner, X):
        confidence = float(np.asarray(learner.predict_proba(X)).max(axis=1).mean())
        values = [h["value"] for h in getattr(self, "history_", [])] + [confidence]
        drops = 0
        for before, after in zip(values[-2::-1], values[::-1], strict=False):
            if after < before:
                drops += 1
            else:
                break
        return confidence, drops >= self.patience


def _are_criteria(criteria) -> bool:
    if not isinstance(criteria, list | tuple) or not criteria:
        return False
    return all(isinstance(criterion, StoppingCriterion) for criterion in criteria)


class _Combination(StoppingCriterion):
    def __init__(self, criteria):
        self.criteria = criteria

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "criteria": [satisfies(_are_criteria, "a non-empty list of StoppingCriterion")],
    }

    def _evaluate(self, learner, X):
        members = getattr(self, "criteria_", None)
        members = [clone(c) for c in self.criteria] if members is None else members
        # Copies are updated and kept only if every member succeeds, so a
        # failure leaves no member a round ahead of the others.
        updated = copy.deepcopy(members)
        votes = [c.update(learner, X) for c in updated]
        self.criteria_ = updated
        return float(sum(votes)), self._combine(votes)


class AnyOf(_Combination):
    """Stop when any of ``criteria`` says stop (each keeps its own history)."""

    _combine = staticmethod(any)


class AllOf(_Combination):
    """Stop when every one of ``criteria`` says stop in the same round."""

    _combine = staticmethod(all)


#: Short names for the command line and the experiment runner.
CRITERIA = {
    "stabilizing": StabilizingPredictions,
    "max_uncertainty": MaxUncertainty,
    "overall_uncertainty": OverallUncertainty,
    "confidence": ConfidenceOnStopSet,
}
