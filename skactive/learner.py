"""ActiveLearner: the meta-estimator that owns the labelled set."""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet

from skactive._torch import seeded
from skactive._validation import check_labels, check_rows
from skactive.base import QueryStrategy, TrainingExtras


def _estimator_has(attr: str):
    def check(self) -> bool:
        est = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        return hasattr(est, attr)

    return check


def _row_key(row: np.ndarray) -> bytes:
    # float64 so that a row taught as float64 matches the float32 row queried.
    data = np.ascontiguousarray(row, dtype=np.float64).tobytes()
    return hashlib.blake2b(data, digest_size=16).digest()


@dataclass
class _PendingQuery:
    """What the last query produced and the next ``teach`` may consume."""

    positions: dict[bytes, int]
    extras: TrainingExtras = field(default_factory=TrainingExtras)


class ActiveLearner(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Pool-based active learning around any scikit-learn classifier.

    The learner owns the labelled set. :meth:`fit` starts it, :meth:`query`
    asks the strategy which pool rows to label next, and :meth:`teach` adds
    the oracle's labels and refits. Rows a strategy derives from the queried
    ones (DFAL's adversarial *twins*, CEAL's *pseudo-labels*, see
    :class:`~skactive.TrainingExtras`) are added automatically.

    Labels are encoded to ``0 .. n_classes - 1`` before they reach the wrapped
    estimator, so skorch nets always see valid class indices, even when a
    class is absent from the labelled set (pass ``classes`` for that).

    Parameters
    ----------
    estimator : classifier
        Unfitted template: a scikit-learn classifier, a skorch
        ``NeuralNetClassifier`` or a ``Pipeline`` ending in either. It is
        cloned by :meth:`fit` and never modified.
    query_strategy : QueryStrategy, default=None
        How to choose rows; ``None`` means
        :class:`~skactive.strategies.EntropySampling`.
    classes : array-like, default=None
        All class labels the oracle may give. Needed when the initial
        labelled set misses a class; by default the labels seen in ``fit``.
    warm_start : bool, default=False
        After ``teach``, continue training the current model on the whole
        training set (skorch ``partial_fit``; other estimators are refitted
        without cloning, honouring their own ``warm_start``) instead of
        training a fresh clone from scratch. Either way every labelled row
        is used.
    random_state : int, RandomState instance or None, default=None
        Drives every random choice: torch's initialisation and shuffling
        during each refit, and the strategy's sampling in each round (it
        then overrides the strategy's own ``random_state``).

    Attributes
    ----------
    estimator_ : estimator
        The fitted model.
    query_strategy_ : QueryStrategy
        The strategy as used in the last query (its fitted attributes
        describe that query).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    row_shape_ : tuple
        Shape of one sample.
    X_labeled_, y_labeled_ : ndarray
        Every row the oracle labelled (the initial set first), never shrunk.
    X_twins_, y_twins_ : ndarray
        Derived rows kept permanently, with their labels.
    twin_sources_ : ndarray of int
        For each twin, the index of its source row in ``X_labeled_``.
    X_pseudo_, y_pseudo_ : ndarray
        Pseudo-labelled rows of the last refit (replaced every round).
    history_ : list of dict
        One entry per query: ``round``, ``indices``, ``scores`` of the
        selected rows (None if the strategy does not score), ``n_labeled``
        before the query, ``select_seconds``; ``teach`` adds ``n_taught``,
        ``n_twins`` and ``n_pseudo``.
    n_iter_ : int
        Number of ``teach`` rounds so far.
    n_features_in_ : int
        ``X.shape[1]`` of the training data (scikit-learn convention).

    Notes
    -----
    If a refit inside :meth:`teach` raises (out of memory, a keyboard
    interrupt), the newly taught rows are already in the labelled set, the
    previous model stays in ``estimator_`` (with ``warm_start=True`` it may
    be partly updated, since training continues in place), and
    :meth:`refit` retries.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skactive import ActiveLearner
    >>> from skactive.datasets import load_digits_images
    >>> X, y = load_digits_images()
    >>> X = X.reshape(len(X), -1)
    >>> learner = ActiveLearner(LogisticRegression(max_iter=500), random_state=0)
    >>> learner = learner.fit(X[:30], y[:30])
    >>> idx = learner.query(X[30:], n=5)
    >>> learner = learner.teach(X[30:][idx], y[30:][idx])
    >>> len(learner.y_labeled_)
    35
    """

    def __init__(
        self,
        estimator,
        query_strategy: QueryStrategy | None = None,
        *,
        classes=None,
        warm_start: bool = False,
        random_state=None,
    ):
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.classes = classes
        self.warm_start = warm_start
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------

    def fit(self, X, y) -> ActiveLearner:
        """Start a campaign: clone the estimator and fit it on ``X, y``.

        Any previous labelled set, twins and history are discarded.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Initial labelled rows (2-D features or images).
        y : array-like of shape (n_samples,)
            Their labels.

        Returns
        -------
        self : ActiveLearner
        """
        X, y = validate_data(self, X, y, allow_nd=True, dtype="numeric")
        check_classification_targets(y)
        classes = self._validate_classes(y)
        if not isinstance(self.warm_start, bool | np.bool_):
            raise ValueError(f"warm_start must be True or False, got {self.warm_start!r}")
        self._start(X, y, classes)
        self._fit_estimator(clone(self.estimator), warm=False)
        return self

    def _start(self, X: np.ndarray, y: np.ndarray, classes: np.ndarray) -> None:
        """Reset the campaign state to the labelled set ``X, y``."""
        self.query_strategy_ = self._validate_strategy()
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.row_shape_ = tuple(X.shape[1:])
        self._seed = _base_seed(self.random_state)
        self.X_labeled_ = X
        self.y_labeled_ = y
        self.X_twins_ = np.empty((0, *X.shape[1:]), dtype=X.dtype)
        self.y_twins_ = y[:0]
        self.twin_sources_ = np.empty(0, dtype=np.intp)
        self.X_pseudo_ = np.empty_like(self.X_twins_)
        self.y_pseudo_ = y[:0]
        self.history_ = []
        self.n_iter_ = 0
        self._pending = None

    def _validate_classes(self, y: np.ndarray) -> np.ndarray:
        if self.classes is None:
            return unique_labels(y)
        classes = np.unique(np.asarray(self.classes))
        missing = np.setdiff1d(np.unique(y), classes)
        if missing.size:
            raise ValueError(
                f"y has labels {missing.tolist()} not listed in classes={classes.tolist()}"
            )
        return classes

    def _validate_strategy(self) -> QueryStrategy:
        if self.query_strategy is None:
            from skactive.strategies import EntropySampling

            return EntropySampling()
        if not isinstance(self.query_strategy, QueryStrategy):
            raise TypeError(
                "query_strategy must be a skactive QueryStrategy or None, got "
                f"{type(self.query_strategy).__name__}"
            )
        return clone(self.query_strategy)

    def refit(self) -> ActiveLearner:
        """Refit the model on the current training set.

        Uses a fresh clone unless ``warm_start=True``. Call it to retry after
        a refit inside :meth:`teach` failed.

        Returns
        -------
        self : ActiveLearner
        """
        check_is_fitted(self)
        warm = bool(self.warm_start)
        self._fit_estimator(self.estimator_ if warm else clone(self.estimator), warm=warm)
        return self

    def _fit_estimator(self, estimator, *, warm: bool) -> None:
        X, y, _ = self.training_set(include_pseudo=True)
        estimator = self._with_class_count(estimator)
        X_in, y_in = self._to_estimator_input(estimator, X), self._encode(y, name="y")
        with seeded(self._round_seed("fit")):
            if warm and isinstance(estimator, NeuralNet):
                estimator.partial_fit(X_in, y_in)
            else:
                estimator.fit(X_in, y_in)
        # Assigned only after success: a failed refit keeps the previous model.
        self.estimator_ = estimator

    def _with_class_count(self, estimator):
        # skorch infers classes from y; a class missing from the labelled set
        # would then shrink ``classes_`` below the module's output width.
        net = _final_step(estimator)
        if isinstance(net, NeuralNet) and "classes" in net.get_params(deep=False):
            net.set_params(classes=list(range(len(self.classes_))))
        return estimator

    # -- the active-learning loop -----------------------------------------

    def query(self, X_pool, n: int = 1) -> np.ndarray:
        """Indices of the ``n`` pool rows the oracle should label next.

        Parameters
        ----------
        X_pool : array-like of shape (n_pool, ...)
            Unlabelled rows, each shaped like the training rows.
        n : int, default=1
            Number of rows, ``1 <= n <= n_pool``.

        Returns
        -------
        indices : ndarray of shape (n,)
            Distinct indices into ``X_pool``, best first.
        """
        check_is_fitted(self)
        X_pool = check_rows(X_pool, name="X_pool", feature_shape=self.row_shape_)
        # A shallow copy keeps state a strategy carries across rounds (CEAL's
        # round count) while the current one stays intact if select fails:
        # select only ever rebinds attributes.
        strategy = copy.copy(self.query_strategy_)
        seed = self._round_seed("query")
        if seed is not None and "random_state" in strategy.get_params():
            strategy.set_params(random_state=seed)
        start = time.perf_counter()
        indices = strategy.select(
            self.estimator_,
            X_pool,
            n,
            X_labeled=self.X_labeled_,
            y_labeled=self._encode(self.y_labeled_, name="y"),
        )
        seconds = time.perf_counter() - start
        # State changes only after the strategy succeeded.
        self.query_strategy_ = strategy
        self._pending = _PendingQuery(
            positions={_row_key(X_pool[i]): pos for pos, i in enumerate(indices)},
            extras=strategy.extras_,
        )
        scores = strategy.scores_
        self.history_.append(
            {
                "round": self.n_iter_,
                "indices": indices.copy(),
                "scores": None if scores is None else _selected_scores(strategy),
                "n_labeled": len(self.y_labeled_),
                "select_seconds": seconds,
            }
        )
        return indices

    def teach(self, X, y) -> ActiveLearner:
        """Add oracle-labelled rows (and their twins) and refit.

        Rows returned by the last :meth:`query` bring along the twins the
        strategy made for them. Nothing is ever removed from the labelled
        set; pseudo-labels from the last query replace the previous ones.

        Parameters
        ----------
        X : array-like of shape (n_new, ...)
            Newly labelled rows, usually ``X_pool[indices]``.
        y : array-like of shape (n_new,)
            Their labels, among ``classes_``.

        Returns
        -------
        self : ActiveLearner
        """
        check_is_fitted(self)
        X = check_rows(X, name="X", feature_shape=self.row_shape_)
        y = check_labels(y, len(X), name="y")
        self._encode(y, name="y")
        twins, twin_y, twin_sources = self._twins_for(X, y)
        pseudo_X, pseudo_y = self._pseudo_labels()

        n_before = len(self.y_labeled_)
        self.X_labeled_ = np.concatenate([self.X_labeled_, X])
        self.y_labeled_ = np.concatenate([self.y_labeled_, y])
        self.X_twins_ = np.concatenate([self.X_twins_, twins])
        self.y_twins_ = np.concatenate([self.y_twins_, twin_y])
        self.twin_sources_ = np.concatenate([self.twin_sources_, n_before + twin_sources])
        self.X_pseudo_, self.y_pseudo_ = pseudo_X, pseudo_y
        self._pending = None
        self.n_iter_ += 1
        if self.history_ and self.history_[-1]["round"] == self.n_iter_ - 1:
            self.history_[-1].update(n_taught=len(y), n_twins=len(twin_y), n_pseudo=len(pseudo_y))
        self.refit()
        return self

    def _twins_for(self, X: np.ndarray, y: np.ndarray):
        """Twins of the taught rows that came from the last query."""
        empty = (self.X_twins_[:0], self.y_twins_[:0], np.empty(0, dtype=np.intp))
        if self._pending is None or self._pending.extras.n_twins == 0:
            return empty
        extras = self._pending.extras
        taught_at = {}  # position in the query -> row of X
        for row, x in enumerate(X):
            pos = self._pending.positions.get(_row_key(x))
            if pos is not None:
                taught_at.setdefault(pos, row)
        keep = [j for j, src in enumerate(extras.twin_sources) if int(src) in taught_at]
        if not keep:
            return empty
        rows = np.array([taught_at[int(extras.twin_sources[j])] for j in keep], dtype=np.intp)
        order = np.argsort(rows, kind="stable")  # twins follow the taught order
        keep, rows = np.asarray(keep)[order], rows[order]
        return extras.twins[keep], y[rows], rows

    def _pseudo_labels(self):
        if self._pending is None or self._pending.extras.n_pseudo == 0:
            return self.X_twins_[:0], self.y_labeled_[:0]
        extras = self._pending.extras
        return extras.pseudo_X, self.classes_[np.asarray(extras.pseudo_y, dtype=np.intp)]

    def training_set(self, *, include_pseudo: bool = False):
        """Everything the model trains on, with groups for cross-validation.

        Parameters
        ----------
        include_pseudo : bool, default=False
            Also return the current pseudo-labelled rows (each in its own
            group). They are model-given labels, so they are left out by
            default, e.g. when transferring queries to another network.

        Returns
        -------
        X : ndarray of shape (n_rows, ...)
            Labelled rows, then twins (then pseudo-labelled rows).
        y : ndarray of shape (n_rows,)
        groups : ndarray of shape (n_rows,)
            Row ``i`` of the labelled set is group ``i``; a twin has the group
            of its source, so a ``GroupKFold`` never separates them.
        """
        check_is_fitted(self, "X_labeled_")
        n = len(self.y_labeled_)
        parts_X = [self.X_labeled_, self.X_twins_]
        parts_y = [self.y_labeled_, self.y_twins_]
        parts_g = [np.arange(n), self.twin_sources_]
        if include_pseudo and len(self.y_pseudo_):
            parts_X.append(self.X_pseudo_)
            parts_y.append(self.y_pseudo_)
            parts_g.append(n + np.arange(len(self.y_pseudo_)))
        return np.concatenate(parts_X), np.concatenate(parts_y), np.concatenate(parts_g)

    # -- persistence ---------------------------------------------------------

    def save(self, path) -> Path:
        """Save the learner (labelled set, twins, history, model, strategy state).

        The file is written atomically: a crash while saving leaves the
        previous file intact. It is a pickle, so :meth:`load` must only be
        used on trusted files; see :func:`skactive.persistence.save_weights`
        for a pickle-free alternative.

        Parameters
        ----------
        path : path-like

        Returns
        -------
        path : Path
        """
        from skactive.persistence import save_learner

        return save_learner(self, path)

    @classmethod
    def load(cls, path) -> ActiveLearner:
        """Load a learner saved with :meth:`save` (trusted files only).

        The loaded learner continues where the saved one stopped: its next
        query equals what the original would have queried.

        Raises
        ------
        ValueError
            If ``path`` is not a saved learner or has an incompatible format.
        """
        from skactive.persistence import load_learner

        return load_learner(path)

    # -- delegation ----------------------------------------------------------

    @available_if(_estimator_has("predict"))
    def predict(self, X) -> np.ndarray:
        """Predicted class labels of ``X`` (in the label space of ``y``)."""
        X = self._check_predict_input(X)
        encoded = np.asarray(self.estimator_.predict(X)).astype(np.intp)
        return self.classes_[encoded]

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of ``X``, one column per entry of ``classes_``."""
        X = self._check_predict_input(X)
        return self._align_columns(np.asarray(self.estimator_.predict_proba(X)))

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """The wrapped estimator's ``decision_function`` of ``X``."""
        X = self._check_predict_input(X)
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy on ``X, y`` (see ``ClassifierMixin.score``)."""
        return super().score(X, y, sample_weight=sample_weight)

    def _check_predict_input(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype="numeric")
        if tuple(X.shape[1:]) != self.row_shape_:
            raise ValueError(
                f"X has rows of shape {tuple(X.shape[1:])}, but the learner was fitted "
                f"on rows of shape {self.row_shape_}"
            )
        return self._to_estimator_input(self.estimator_, X)

    def _align_columns(self, proba: np.ndarray) -> np.ndarray:
        # An estimator that never saw a class returns fewer columns.
        seen = getattr(self.estimator_, "classes_", None)
        if seen is None or proba.shape[1] == len(self.classes_):
            return proba
        out = np.zeros((proba.shape[0], len(self.classes_)), dtype=proba.dtype)
        out[:, np.asarray(seen, dtype=np.intp)] = proba
        return out

    # -- helpers -------------------------------------------------------------

    def _encode(self, y: np.ndarray, *, name: str) -> np.ndarray:
        y = np.asarray(y)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"{name} has labels {unknown.tolist()[:10]} outside the classes "
                f"{self.classes_.tolist()}; pass every possible label as "
                "ActiveLearner(classes=...)"
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    @staticmethod
    def _to_estimator_input(estimator, X: np.ndarray) -> np.ndarray:
        # skorch feeds arrays to torch as they are; float64 rows would clash
        # with float32 weights.
        if isinstance(estimator, NeuralNet) and X.dtype == np.float64:
            return X.astype(np.float32)
        return X

    def _round_seed(self, purpose: str) -> int | None:
        if self._seed is None:
            return None
        tag = {"fit": 0, "query": 1}[purpose]
        seq = np.random.SeedSequence([self._seed, self.n_iter_, tag])
        return int(seq.generate_state(1)[0] % (2**31 - 1))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimator_")


def _final_step(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _base_seed(random_state) -> int | None:
    if random_state is None:
        return None
    return int(check_random_state(random_state).randint(2**31 - 1))


def _selected_scores(strategy: QueryStrategy) -> np.ndarray:
    # candidates_ is sorted, so positions are found by bisection.
    return strategy.scores_[np.searchsorted(strategy.candidates_, strategy.indices_)]
