"""ActiveLearner: the meta-estimator that owns the labelled set."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    clone,
    is_regressor,
)
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet

from skactive._estimators import (
    estimator_input,
    estimator_targets,
    final_step,
    interrupts_propagate,
    prepare_for_encoded_labels,
)
from skactive._files import load_pickle, save_pickle
from skactive._torch import seeded
from skactive._unlabeled import UNLABELED, UnlabeledPool
from skactive._validation import (
    check_classes,
    check_labels,
    check_rows,
    is_torch_dataset,
    row_key,
)
from skactive.base import QueryStrategy, TrainingExtras
from skactive.strategies.uncertainty import EntropySampling


def _estimator_has(attr: str):
    def check(self) -> bool:
        est = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        return hasattr(est, attr)

    return check


@dataclass(frozen=True)
class _PendingQuery:
    """What the last query produced, kept until the next query.

    A labelling tool may answer a query in pieces: each ``teach`` consumes
    the twins of the rows it brings (``taught`` positions), the rest wait
    for a later piece. ``pseudo_X, pseudo_y`` (labels in the learner's
    label space) lose the rows the oracle labels meanwhile.
    """

    positions: dict[bytes, int]
    extras: TrainingExtras
    pseudo_X: np.ndarray
    pseudo_y: np.ndarray
    taught: frozenset = frozenset()


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
    semi_supervised : bool, default=False
        Also hand the estimator the unlabelled pool, with scikit-learn's
        label ``-1`` (the convention of ``SelfTrainingClassifier`` and
        :class:`~skactive.semi_supervised.LabelPropagationNet`): every fit
        and refit trains on the training set plus the rows of the last
        :meth:`query`'s pool that nobody has labelled since (before the
        first query, ``fit``'s ``unlabeled`` argument). The learner keeps a
        reference to the pool, not a copy; pickling the learner stores it.
    random_state : int, RandomState instance or None, default=None
        Drives every random choice: torch's initialisation and shuffling
        during each refit, any ``random_state`` left ``None`` inside the
        estimator (a :class:`~skactive.Committee`'s, a forest's), and the
        strategy's sampling in each round (it then overrides the strategy's
        own ``random_state``).

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
    interrupt, which skorch alone would swallow), the newly taught rows are
    already in the labelled set, the previous model stays in ``estimator_``
    untouched (a warm refit trains a copy), the error propagates, and
    :meth:`refit` retries. A failed :meth:`fit` leaves the learner as it was.

    Parameters set with ``set_params`` after ``fit`` take effect without a
    new ``fit``: ``query_strategy`` (and ``query_strategy__*``) and
    ``random_state`` at the next :meth:`query`, the strategy's round state
    carried over when its class is unchanged; ``estimator`` (and
    ``estimator__*``), ``classes`` and ``warm_start`` at the next refit
    (:meth:`teach` or :meth:`refit`). ``classes`` may grow, never shrink.

    Inputs of any numeric dtype are accepted: a skorch net receives them in
    its own dtype (float32), and in a ``Pipeline`` ending in a net the
    learner inserts an :class:`~skactive.preprocessing.AsType` step before
    the net. A skorch ``NeuralNetBinaryClassifier`` (one output unit) works
    for two classes.

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
        semi_supervised: bool = False,
        random_state=None,
    ):
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.classes = classes
        self.warm_start = warm_start
        self.semi_supervised = semi_supervised
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------

    def fit(self, X, y, *, unlabeled=None) -> ActiveLearner:
        """Start a campaign: clone the estimator and fit it on ``X, y``.

        Any previous labelled set, twins and history are discarded. If
        ``fit`` raises (bad input, a failing estimator, a keyboard
        interrupt), the learner is left exactly as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Initial labelled rows (2-D features or images).
        y : array-like of shape (n_samples,)
            Their labels.
        unlabeled : array-like of shape (n_pool, ...), default=None
            With ``semi_supervised=True``: the unlabelled rows of the first
            fit (later fits use the pool of the last :meth:`query`).

        Returns
        -------
        self : ActiveLearner
        """
        before = dict(self.__dict__)
        try:
            self._check_estimator_kind()
            X, y = validate_data(self, X, y, allow_nd=True, dtype="numeric")
            check_classification_targets(y)
            classes = self._validate_classes(y)
            _check_warm_start(self.warm_start)
            pool = self._initial_pool(unlabeled, row_shape=X.shape[1:])
            self._start(X, y, classes)
            self._unlabeled = pool
            self._fit_estimator(clone(self.estimator), warm=False)
        except BaseException:
            # validate_data and _start assign attributes; a failed fit undoes them.
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        return self

    def _initial_pool(self, unlabeled, *, row_shape) -> UnlabeledPool | None:
        if not isinstance(self.semi_supervised, bool | np.bool_):
            raise TypeError(f"semi_supervised must be True or False, got {self.semi_supervised!r}")
        if unlabeled is None:
            return None
        if not self.semi_supervised:
            raise ValueError(
                "unlabeled rows were given to fit but semi_supervised=False; set "
                "semi_supervised=True to train on them"
            )
        rows = check_rows(unlabeled, name="unlabeled", feature_shape=tuple(row_shape))
        return self._pool_of(rows, name="unlabeled")

    def _pool_of(self, rows, *, name: str) -> UnlabeledPool:
        if is_torch_dataset(rows) or not hasattr(rows, "dtype"):
            raise TypeError(
                f"{name}: semi_supervised=True needs the pool as an array or numpy.memmap, "
                f"got {type(rows).__name__}"
            )
        return UnlabeledPool(rows)

    def _check_estimator_kind(self) -> None:
        if not hasattr(self.estimator, "fit"):
            raise TypeError(
                f"estimator must be a scikit-learn classifier, got {type(self.estimator).__name__}"
            )
        if is_regressor(self.estimator):
            raise TypeError(
                f"estimator must be a classifier; {type(self.estimator).__name__} is a regressor"
            )

    def _start(self, X: np.ndarray, y: np.ndarray, classes: np.ndarray) -> None:
        """Reset the campaign state to the labelled set ``X, y``."""
        self.query_strategy_ = self._validate_strategy()
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.row_shape_ = tuple(X.shape[1:])
        self._seed = _base_seed(self.random_state)
        self._seen = self._param_fingerprints()
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
        self._unlabeled = None

    def _validate_classes(self, y: np.ndarray) -> np.ndarray:
        return check_classes(self.classes, unique_labels(y))

    def _validate_strategy(self) -> QueryStrategy:
        if self.query_strategy is None:
            return EntropySampling()
        if isinstance(self.query_strategy, type) and issubclass(self.query_strategy, QueryStrategy):
            raise TypeError(
                f"query_strategy must be a QueryStrategy instance: pass "
                f"{self.query_strategy.__name__}(), not the class"
            )
        if not isinstance(self.query_strategy, QueryStrategy):
            raise TypeError(
                "query_strategy must be a skactive QueryStrategy or None, got "
                f"{type(self.query_strategy).__name__}"
            )
        return clone(self.query_strategy)

    # -- parameters changed after fit ----------------------------------------

    def _param_fingerprints(self) -> dict:
        """Fingerprints of the parameters whose later change the learner must notice."""
        return {
            name: _fingerprint(getattr(self, name))
            for name in ("estimator", "query_strategy", "random_state", "classes")
        }

    def _changed(self, name: str) -> bool:
        return _fingerprint(getattr(self, name)) != self._seen[name]

    def _mark_seen(self, *names: str) -> None:
        self._seen.update({name: _fingerprint(getattr(self, name)) for name in names})

    def _strategy_for_next_query(self) -> QueryStrategy:
        """The strategy to query with: the fitted one, or the changed parameter's.

        A new strategy of the same class keeps the fitted one's round state
        (e.g. CEAL's round count) and takes the new parameters.
        """
        if not self._changed("query_strategy"):
            return copy.copy(self.query_strategy_)
        template = self._validate_strategy()
        if type(template) is not type(self.query_strategy_):
            return template
        strategy = copy.copy(self.query_strategy_)
        return strategy.set_params(**template.get_params(deep=False))

    def _seed_for_next_round(self) -> int | None:
        return _base_seed(self.random_state) if self._changed("random_state") else self._seed

    def _classes_for_next_fit(self) -> np.ndarray:
        """``classes_``, grown to a changed ``classes`` parameter (never shrunk)."""
        if not self._changed("classes") or self.classes is None:
            return self.classes_
        classes = np.unique(np.asarray(self.classes))
        dropped = np.setdiff1d(self.classes_, classes)
        if dropped.size:
            raise ValueError(
                f"classes={classes.tolist()} drops the labels {dropped.tolist()} of "
                "this campaign; classes may grow after fit, never shrink"
            )
        return classes

    # -- fitting the wrapped estimator -------------------------------------

    def refit(self) -> ActiveLearner:
        """Refit the model on the current training set.

        Uses a fresh clone unless ``warm_start=True`` (then the current
        model, copied, trains on); parameters of the learner or of the
        estimator changed with ``set_params`` since the last fit take
        effect here, a changed ``estimator`` or ``classes`` through a fresh
        clone. Call it to retry after a refit inside :meth:`teach` failed.

        Returns
        -------
        self : ActiveLearner
        """
        check_is_fitted(self)
        _check_warm_start(self.warm_start)
        classes = self._classes_for_next_fit()
        seed = self._seed_for_next_round()
        fresh = self._changed("estimator") or len(classes) != len(self._estimator_classes)
        warm = bool(self.warm_start) and not fresh
        estimator = copy.deepcopy(self.estimator_) if warm else clone(self.estimator)
        self.classes_, self._seed = classes, seed
        self._mark_seen("classes", "random_state")
        self._fit_estimator(estimator, warm=warm)
        self._mark_seen("estimator")
        return self

    def _fit_estimator(self, estimator, *, warm: bool) -> None:
        X, y, _ = self.training_set(include_pseudo=True)
        y = self._encode(y, name="y")
        X, y, n_unlabeled = self._with_unlabeled(X, y)
        estimator = self._prepared(estimator)
        X_in = estimator_input(estimator, X)
        y_in = estimator_targets(estimator, y)
        net = final_step(estimator)
        seed = self._round_seed("fit")
        if seed is not None:
            # Unset seeds inside the estimator (a Committee's, a forest's) follow the
            # learner's, so a seeded campaign is reproducible end to end.
            params = estimator.get_params(deep=True)
            unset = [
                k for k, v in params.items() if k.split("__")[-1] == "random_state" and v is None
            ]
            estimator.set_params(**dict.fromkeys(unset, seed))
        with seeded(seed), interrupts_propagate():
            try:
                if warm and isinstance(estimator, NeuralNet):
                    estimator.partial_fit(X_in, y_in)
                else:
                    estimator.fit(X_in, y_in)
            except Exception as exc:
                if n_unlabeled:
                    raise _unlabeled_refused(estimator, n_unlabeled, exc) from exc
                if not isinstance(exc, IndexError) or not isinstance(net, NeuralNet):
                    raise
                raise ValueError(
                    f"classes: the network could not be trained on {len(self.classes_)} "
                    f"classes ({exc}); its module must output one column per class"
                ) from exc
        if n_unlabeled:
            _check_no_unlabeled_class(estimator)
        self._check_output_width(estimator, X_in[:1])
        # Assigned only after success: a failed refit keeps the previous model.
        self.estimator_ = estimator
        self._estimator_classes = self.classes_

    def _with_unlabeled(self, X, y_encoded):
        """Append the still-unlabelled pool rows with label -1 (``semi_supervised``)."""
        pool = getattr(self, "_unlabeled", None)
        if not self.semi_supervised or pool is None or len(pool) == 0:
            return X, y_encoded, 0
        pool = pool.without(self.X_pseudo_)  # a pseudo-labelled row is not unlabelled
        rows = pool.unlabeled_rows()
        X = np.concatenate([X, rows.astype(X.dtype, copy=False)])
        y = np.concatenate([y_encoded, np.full(len(rows), UNLABELED, dtype=y_encoded.dtype)])
        return X, y, len(rows)

    def _prepared(self, estimator):
        """Make the estimator fit for the learner's encoded labels and its rows."""
        return prepare_for_encoded_labels(estimator, len(self.classes_))

    def _check_output_width(self, estimator, X_row) -> None:
        if not isinstance(final_step(estimator), NeuralNet):
            return
        width = np.asarray(estimator.predict_proba(X_row)).shape[1]
        if width != len(self.classes_):
            raise ValueError(
                f"classes: the network outputs {width} columns but the learner has "
                f"{len(self.classes_)} classes ({self.classes_.tolist()[:10]}); size the "
                f"module's last layer to {len(self.classes_)} outputs, or list every "
                "possible label in ActiveLearner(classes=...)"
            )

    # -- the active-learning loop -----------------------------------------

    def query(self, X_pool, n: int = 1) -> np.ndarray:
        """Indices of the ``n`` pool rows the oracle should label next.

        Parameters changed with ``set_params`` since the last query
        (``query_strategy``, ``query_strategy__*``, ``random_state``) take
        effect here. If the strategy raises, the learner is unchanged.

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
        X_pool = self._check_rows(X_pool, name="X_pool")
        # A shallow copy keeps state a strategy carries across rounds (CEAL's
        # round count) while the current one stays intact if select fails:
        # select only ever rebinds attributes.
        strategy = self._strategy_for_next_query()
        seed = self._seed_for_next_round()
        round_seed = self._round_seed("query", seed)
        if round_seed is not None and "random_state" in strategy.get_params():
            strategy.set_params(random_state=round_seed)
        start = time.perf_counter()
        # Read-only views: a strategy that normalises in place must not rewrite
        # the oracle's rows (or the caller's pool) for every later refit.
        indices = strategy.select(
            self.estimator_,
            _read_only(X_pool),
            n,
            X_labeled=_read_only(self.X_labeled_),
            y_labeled=_read_only(self._encode(self.y_labeled_, name="y")),
        )
        seconds = time.perf_counter() - start
        extras = strategy.extras_
        self._check_extras(strategy, extras, len(indices))
        pseudo_labels = self._estimator_classes[np.asarray(extras.pseudo_y, dtype=np.intp)]
        # State changes only after the strategy succeeded.
        self.query_strategy_, self._seed = strategy, seed
        self._mark_seen("query_strategy", "random_state")
        if self.semi_supervised:
            self._unlabeled = self._pool_of(X_pool, name="X_pool")
        self._pending = _PendingQuery(
            positions={row_key(X_pool[i]): pos for pos, i in enumerate(indices)},
            extras=extras,
            pseudo_X=extras.pseudo_X,
            pseudo_y=pseudo_labels,
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
        strategy made for them; an answer may come in pieces (several
        ``teach`` calls for one query), and twins of rows not yet taught
        wait until the next query. Pseudo-labels of the last query take part
        in every refit until the next query, except rows the oracle has
        labelled since. Nothing is ever removed from the labelled set: if
        the refit fails (an error, a keyboard interrupt), the taught rows
        stay, the previous model stays in ``estimator_`` and the error
        propagates; :meth:`refit` retries.

        Parameters
        ----------
        X : array-like of shape (n_new, ...)
            Newly labelled rows, usually ``X_pool[indices]``.
        y : array-like of shape (n_new,)
            Their labels, among ``classes_`` (or a grown ``classes``
            parameter, see :meth:`set_params`).

        Returns
        -------
        self : ActiveLearner
        """
        check_is_fitted(self)
        X = self._check_rows(X, name="X")
        y = check_labels(y, len(X), name="y")
        classes = self._classes_for_next_fit()
        self._encode(y, name="y", classes=classes)
        keys = [row_key(x) for x in X]
        twins, twin_y, twin_sources, taught_positions = self._twins_for(keys, y)
        pseudo_X, pseudo_y = self._pseudo_labels(set(keys))

        # Labels stored as the classes themselves: 1.0 taught for class 1 stays an int.
        y = classes[np.searchsorted(classes, y)]
        twin_y = classes[np.searchsorted(classes, twin_y)]
        n_before = len(self.y_labeled_)
        # Every new array is built before any is assigned: a failure leaves no half-update.
        state = {
            "X_labeled_": np.concatenate([self.X_labeled_, X]),
            "y_labeled_": np.concatenate([self.y_labeled_, y]),
            "X_twins_": np.concatenate([self.X_twins_, twins]),
            "y_twins_": np.concatenate([self.y_twins_, twin_y]),
            "twin_sources_": np.concatenate([self.twin_sources_, n_before + twin_sources]),
            "X_pseudo_": pseudo_X,
            "y_pseudo_": pseudo_y,
        }
        if getattr(self, "_unlabeled", None) is not None:
            state["_unlabeled"] = self._unlabeled.without(X)
        self.classes_ = classes
        self._mark_seen("classes")
        self.__dict__.update(state)
        self.n_iter_ += 1
        if self._pending is not None:
            self._pending = replace(
                self._pending,
                taught=self._pending.taught | taught_positions,
                pseudo_X=pseudo_X,
                pseudo_y=pseudo_y,
            )
            entry = self.history_[-1]
            entry["n_taught"] = entry.get("n_taught", 0) + len(y)
            entry["n_twins"] = entry.get("n_twins", 0) + len(twin_y)
            entry["n_pseudo"] = len(pseudo_y)
        self.refit()
        return self

    def _check_extras(self, strategy, extras: TrainingExtras, n_selected: int) -> None:
        """Refuse malformed extra rows at query time, before they can break a teach."""
        name = type(strategy).__name__
        problems = []
        for what, rows in (("twins", extras.twins), ("pseudo_X", extras.pseudo_X)):
            count = extras.n_twins if what == "twins" else extras.n_pseudo
            rows = np.asarray(rows)
            if count and (len(rows) != count or tuple(rows.shape[1:]) != self.row_shape_):
                problems.append(
                    f"{what} has shape {rows.shape}, expected ({count}, *{self.row_shape_})"
                )
        sources = np.asarray(extras.twin_sources)
        if extras.n_twins and (sources.min() < 0 or sources.max() >= n_selected):
            problems.append(f"twin_sources must be positions in 0..{n_selected - 1}")
        pseudo_y = np.asarray(extras.pseudo_y)
        n_classes = len(self._estimator_classes)
        if extras.n_pseudo and (
            pseudo_y.dtype.kind not in "iu" or pseudo_y.min() < 0 or pseudo_y.max() >= n_classes
        ):
            problems.append(f"pseudo_y must be encoded labels in 0..{n_classes - 1}")
        if problems:
            raise RuntimeError(f"{name} handed malformed TrainingExtras: " + "; ".join(problems))

    def _check_rows(self, X, *, name: str):
        """Validate rows like ``predict`` does: shape, values and feature names."""
        rows = check_rows(X, name=name, feature_shape=self.row_shape_)
        if not is_torch_dataset(X) and not isinstance(X, np.ndarray):
            # A DataFrame with reordered or renamed columns is refused, not permuted.
            validate_data(self, X, reset=False, skip_check_array=True)
        return rows

    def _twins_for(self, keys: list[bytes], y: np.ndarray):
        """Twins of the taught rows whose query position has no twin taught yet."""
        empty = (self.X_twins_[:0], self.y_twins_[:0], np.empty(0, dtype=np.intp), frozenset())
        if self._pending is None:
            return empty
        pending = self._pending
        taught_at = {}  # position in the query -> row of X
        for row, key in enumerate(keys):
            pos = pending.positions.get(key)
            if pos is not None and pos not in pending.taught:
                taught_at.setdefault(pos, row)
        sources = pending.extras.twin_sources
        keep = [j for j, src in enumerate(sources) if int(src) in taught_at]
        if not keep:
            return (*empty[:3], frozenset(taught_at))
        rows = np.array([taught_at[int(sources[j])] for j in keep], dtype=np.intp)
        order = np.argsort(rows, kind="stable")  # twins follow the taught order
        keep, rows = np.asarray(keep)[order], rows[order]
        return pending.extras.twins[keep], y[rows], rows, frozenset(taught_at)

    def _pseudo_labels(self, taught_keys: set[bytes]):
        """The last query's pseudo-labelled rows, minus those the oracle labelled."""
        if self._pending is None or len(self._pending.pseudo_y) == 0:
            return self.X_twins_[:0], self.y_labeled_[:0]
        pseudo_X, pseudo_y = self._pending.pseudo_X, self._pending.pseudo_y
        keep = np.array([row_key(x) not in taught_keys for x in pseudo_X], dtype=bool)
        return pseudo_X[keep], pseudo_y[keep]

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
        return save_pickle(self, path)

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
        return load_pickle(path, cls)

    # -- delegation ----------------------------------------------------------

    @available_if(_estimator_has("predict"))
    def predict(self, X) -> np.ndarray:
        """Predicted class labels of ``X`` (in the label space of ``y``)."""
        X = self._check_predict_input(X)
        encoded = np.asarray(self.estimator_.predict(X)).astype(np.intp)
        return self._estimator_classes[encoded]

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
        return estimator_input(self.estimator_, X)

    def _align_columns(self, proba: np.ndarray) -> np.ndarray:
        # An estimator that never saw a class returns fewer columns, and one
        # fitted before ``classes`` grew knows fewer labels.
        labels = self._estimator_classes
        seen = getattr(self.estimator_, "classes_", None)
        if seen is not None and len(seen) == proba.shape[1]:
            labels = labels[np.asarray(seen, dtype=np.intp)]
        if len(labels) == len(self.classes_):
            return proba
        out = np.zeros((proba.shape[0], len(self.classes_)), dtype=proba.dtype)
        out[:, np.searchsorted(self.classes_, labels)] = proba
        return out

    # -- helpers -------------------------------------------------------------

    def _encode(self, y: np.ndarray, *, name: str, classes=None) -> np.ndarray:
        y = np.asarray(y)
        classes = self.classes_ if classes is None else classes
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"{name} has labels {unknown.tolist()[:10]} outside the classes "
                f"{classes.tolist()}; list every possible label in classes= "
                "(learner.set_params(classes=...) grows them mid-campaign)"
            )
        return np.searchsorted(classes, y).astype(np.int64)

    def _round_seed(self, purpose: str, seed: int | None = None) -> int | None:
        seed = self._seed if seed is None else seed
        if seed is None:
            return None
        tag = {"fit": 0, "query": 1}[purpose]
        seq = np.random.SeedSequence([seed, self.n_iter_, tag])
        return int(seq.generate_state(1)[0] % (2**31 - 1))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimator_")

    def __setstate__(self, state):
        # Learners pickled before these attributes existed.
        if "estimator_" in state:
            state.setdefault("_estimator_classes", state.get("classes_"))
        super().__setstate__(state)
        if "estimator_" in state and "_seen" not in state:
            self._seen = self._param_fingerprints()


def _unlabeled_refused(estimator, n_unlabeled: int, exc: Exception) -> ValueError:
    return ValueError(
        f"semi_supervised=True passes {n_unlabeled} unlabelled pool rows with label -1 "
        f"to {type(final_step(estimator)).__name__}.fit, which failed ({type(exc).__name__}: "
        f"{exc}); use an estimator that learns from -1 labels (SelfTrainingClassifier, "
        "skactive.semi_supervised.LabelPropagationNet) or semi_supervised=False"
    )


def _check_no_unlabeled_class(estimator) -> None:
    """Refuse an estimator that took the -1 rows for a class of their own."""
    classes = getattr(final_step(estimator), "classes_", None)
    if classes is not None and np.isin(UNLABELED, np.asarray(classes)):
        raise ValueError(
            f"semi_supervised=True: {type(final_step(estimator)).__name__} learnt the "
            "unlabelled rows' -1 as a class of its own; use an estimator that learns from "
            "-1 labels (SelfTrainingClassifier, skactive.semi_supervised.LabelPropagationNet) "
            "or semi_supervised=False"
        )


def _check_warm_start(warm_start) -> None:
    if not isinstance(warm_start, bool | np.bool_):
        raise ValueError(f"warm_start must be True or False, got {warm_start!r}")


def _fingerprint(value):
    """A value that changes whenever ``set_params`` changes ``value``.

    A hash of the pickled value where it pickles; estimators holding
    unpicklable parts (a ``FunctionTransformer`` of a lambda) are compared
    parameter by parameter, such parts by identity.
    """
    try:
        return joblib.hash(value)
    except Exception:
        if hasattr(value, "get_params"):
            params = value.get_params(deep=False)
            return (
                type(value).__qualname__,
                *((k, _fingerprint(params[k])) for k in sorted(params)),
            )
        if isinstance(value, list | tuple):
            return tuple(_fingerprint(v) for v in value)
        if isinstance(value, dict):
            return tuple((k, _fingerprint(v)) for k, v in value.items())
        return ("object", id(value))


def _read_only(rows):
    """A view of ``rows`` that refuses writes (other pools pass as they are)."""
    if not isinstance(rows, np.ndarray):
        return rows
    view = rows.view()
    view.flags.writeable = False
    return view


def _base_seed(random_state) -> int | None:
    if random_state is None:
        return None
    return int(check_random_state(random_state).randint(2**31 - 1))


def _selected_scores(strategy: QueryStrategy) -> np.ndarray:
    # candidates_ is sorted, so positions are found by bisection.
    return strategy.scores_[np.searchsorted(strategy.candidates_, strategy.indices_)]
