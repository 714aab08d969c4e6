"""Reaching the estimator inside the wrappers users put around it.

A fitted classifier reaches a strategy alone, as the last step of a
``Pipeline``, as a search's ``best_estimator_`` or as the ``estimator_`` of
a wrapper (an :class:`~skactive.ActiveLearner`, a
``SelfTrainingClassifier``). These two functions are the one walk through
them; callers decide what to do at each level (keep a pipeline's
transforms, stop at a committee).
"""

from __future__ import annotations

from sklearn.pipeline import Pipeline
from skorch import NeuralNet

#: Wrappers nested deeper than this are taken to be a cycle, not a model.
MAX_NESTING = 10


def final_step(estimator):
    """The last step of a ``Pipeline``, or the estimator itself."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def fitted_inner(estimator):
    """What a fitted wrapper predicts with, through every level of wrapping.

    Follows searches' ``best_estimator_`` and wrappers' ``estimator_`` until
    an object has neither; a skorch net and an ensemble (``estimators_``)
    are never unwrapped further.
    Pipelines are left to the caller (:func:`final_step`), because what a
    pipeline's earlier steps do to the rows matters to some callers.
    """
    for _ in range(MAX_NESTING):
        if isinstance(estimator, NeuralNet):
            return estimator
        if hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        elif hasattr(estimator, "estimator_") and not hasattr(estimator, "estimators_"):
            # An ensemble's ``estimator_`` is its unfitted template, not a model.
            estimator = estimator.estimator_
        else:
            return estimator
    return estimator
