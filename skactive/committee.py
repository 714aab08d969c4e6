"""Committee: several independently seeded copies of one classifier, voting."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from skactive._estimators import estimator_input, fit_encoded, place_columns
from skactive._validation import check_classes, draw_seed
from skactive.param_validation import (
    BOOLEAN,
    N_JOBS,
    RANDOM_STATE,
    SKLEARN_PARAMETER_CONSTRAINTS,
    check_estimator_params,
    integer,
    satisfies,
)


def _is_probabilistic_classifier(estimator) -> bool:
    return hasattr(estimator, "fit") and hasattr(estimator, "predict_proba")


class Committee(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """``n_members`` clones of one classifier, each trained with its own seed.

    The members of an ensemble for active learning (Beluch et al., "The
    power of ensembles for active learning in image classification", CVPR
    2018: five networks that differ only by their random seed) or of a
    bootstrap committee (Yang et al., "Suggestive Annotation", MICCAI 2017).
    ``predict_proba`` is the members' mean; the disagreement strategies
    (:class:`~skactive.strategies.QueryByCommittee`, BALD,
    :class:`~skactive.strategies.SuggestiveAnnotation`) read every member.

    Parameters
    ----------
    estimator : classifier
        Unfitted template: a skorch net, a ``Pipeline`` or any scikit-learn
        classifier. Cloned for each member, never modified.
    n_members : int, default=5
        Number of members, at least 2.
    bootstrap : bool, default=False
        Train each member on a bootstrap resample of the rows (drawn with
        replacement, as many as there are rows) instead of all of them.
        A member whose resample misses a class still predicts every class
        (with probability 0 for the missing one).
    classes : array-like, default=None
        Every class label; needed when the training rows miss a class (an
        :class:`~skactive.ActiveLearner` sets it). Default: the labels of
        ``y`` in ``fit``.
    n_jobs : int, default=None
        Members trained in parallel through joblib (None: one at a time).
    random_state : int, RandomState instance or None, default=None
        Seeds every member: member ``i`` gets the seed
        ``SeedSequence([base, i])`` of a base drawn from ``random_state``,
        which seeds torch (initialisation and shuffling), the member's own
        ``random_state`` parameters and its bootstrap resample. The same
        ``random_state`` gives the same committee, bit for bit.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members; each was trained on labels encoded as
        ``0 .. n_classes - 1``.
    classes_ : ndarray of shape (n_classes,)
    member_seeds_ : ndarray of shape (n_members,)
        The seed of each member.
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skactive import Committee
    >>> X = [[0.0], [1.0], [2.0], [3.0]]
    >>> committee = Committee(DecisionTreeClassifier(), n_members=3, bootstrap=True,
    ...                       random_state=0).fit(X, [0, 0, 1, 1])
    >>> committee.member_probabilities([[3.0]]).shape
    (3, 1, 2)
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "estimator": [satisfies(_is_probabilistic_classifier, "a classifier with predict_proba")],
        "n_members": [integer(2, description="an integer >= 2 (one member cannot disagree)")],
        "bootstrap": [BOOLEAN],
        "n_jobs": N_JOBS,
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        estimator,
        *,
        n_members: int = 5,
        bootstrap: bool = False,
        classes=None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.estimator = estimator
        self.n_members = n_members
        self.bootstrap = bootstrap
        self.classes = classes
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y) -> Committee:
        """Train every member on ``X, y`` (or on its bootstrap resample).

        Returns
        -------
        self : Committee
        """
        check_estimator_params(self)
        X, y = validate_data(self, X, y, allow_nd=True, dtype="numeric")
        check_classification_targets(y)
        classes = self._validate_classes(y)
        y_encoded = np.searchsorted(classes, y)
        base = draw_seed(check_random_state(self.random_state))
        seeds = np.array(
            [np.random.SeedSequence([base, i]).generate_state(1)[0] for i in range(self.n_members)],
            dtype=np.int64,
        )
        members = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(self.estimator, X, y_encoded, len(classes), seed, self.bootstrap)
            for seed in seeds
        )
        self.estimators_, self.classes_, self.member_seeds_ = members, classes, seeds
        return self

    def _validate_classes(self, y) -> np.ndarray:
        return check_classes(self.classes, unique_labels(y))

    def member_probabilities(self, X) -> np.ndarray:
        """Every member's class probabilities, shape (n_members, n_rows, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype="numeric")
        return np.stack([self._member_proba(member, X) for member in self.estimators_])

    def _member_proba(self, member, X) -> np.ndarray:
        proba = np.asarray(member.predict_proba(estimator_input(member, X)), dtype=np.float64)
        return align_member_columns(proba, member, len(self.classes_))

    def predict_proba(self, X) -> np.ndarray:
        """The members' mean class probabilities, shape (n_rows, n_classes)."""
        return self.member_probabilities(X).mean(axis=0)

    def predict(self, X) -> np.ndarray:
        """The class of largest mean probability."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _fit_member(template, X, y_encoded, n_classes: int, seed: int, bootstrap: bool):
    rows = np.arange(len(y_encoded))
    if bootstrap:
        rows = np.random.RandomState(seed).randint(0, len(rows), size=len(rows))
    # Every member's seeds are its own, or the members would be one model.
    member = clone(template)
    return fit_encoded(member, X[rows], y_encoded[rows], n_classes, seed=int(seed), reseed="all")


def align_member_columns(proba: np.ndarray, member, n_classes: int) -> np.ndarray:
    """Place a member's probability columns at their classes among ``n_classes``.

    Members of a :class:`Committee` and of scikit-learn's ensembles are
    trained on labels encoded as ``0 .. n_classes - 1``; a member that never
    saw a class has fewer columns, named by its ``classes_``.

    Raises
    ------
    ValueError
        If the member's classes are not encoded labels of the ensemble.
    """
    if proba.shape[1] == n_classes:
        return proba
    seen = np.asarray(getattr(member, "classes_", []))
    if (
        len(seen) != proba.shape[1]
        or seen.dtype.kind not in "iuf"
        or not np.all((seen == np.round(seen)) & (seen >= 0) & (seen < n_classes))
    ):
        raise ValueError(
            f"estimator: a member ({type(member).__name__}) has {proba.shape[1]} probability "
            f"columns for classes {seen.tolist()[:10]}, which are not encoded labels of the "
            f"ensemble's {n_classes} classes; the members disagree on classes"
        )
    return place_columns(np.asarray(proba, dtype=np.float64), seen.astype(np.intp), n_classes)
