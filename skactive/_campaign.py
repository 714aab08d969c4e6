"""The state of an active-learning campaign, as small immutable values.

:class:`~skactive.ActiveLearner` is a facade over one :class:`Campaign`:
every public mutator validates its input, computes a new ``Campaign`` from
the current one with the pure methods below, fits the estimator if needed,
and then replaces the learner's campaign in one assignment. A failure at any
step leaves the previous campaign, so the learner, exactly as it was.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import unique_labels

from skactive._estimators import place_columns
from skactive._unlabeled import UnlabeledPool
from skactive._validation import MAX_SEED, check_classes, draw_seed, row_key
from skactive.base import QueryStrategy, TrainingExtras
from skactive.strategies.uncertainty import EntropySampling

#: The constructor parameters whose change after ``fit`` the learner notices.
TRACKED_PARAMETERS = ("estimator", "query_strategy", "random_state", "classes")


@dataclass(frozen=True)
class LabeledSet:
    """The oracle's rows, the twins derived from them and the current pseudo-labels.

    ``y`` and ``twin_y`` hold labels as the oracle gave them (the classes);
    ``pseudo_y`` too. ``twin_sources[j]`` is the row of ``X`` twin ``j``
    came from. ``keys`` names rows the caller identifies its own way (a
    task id, a file name), one entry per row of ``X`` (None: unnamed), or
    is None when no row has one; a key stays with its row through every
    withdrawal, so callers never track positions. Nothing the oracle
    labelled leaves unless the oracle says so: :meth:`taught` only
    appends; :meth:`relabeled` and :meth:`without` carry out the oracle's
    own corrections and withdrawals.
    """

    X: np.ndarray
    y: np.ndarray
    twins: np.ndarray
    twin_y: np.ndarray
    twin_sources: np.ndarray
    pseudo_X: np.ndarray
    pseudo_y: np.ndarray
    # A default: sets saved before rows had keys load with none.
    keys: tuple | None = None

    @classmethod
    def start(cls, X: np.ndarray, y: np.ndarray) -> LabeledSet:
        """The labelled set of a new campaign: ``X, y`` and nothing derived yet."""
        empty = np.empty((0, *X.shape[1:]), dtype=X.dtype)
        return cls(X, y, empty, y[:0], np.empty(0, dtype=np.intp), empty, y[:0])

    def key_list(self) -> list:
        """One key per row of ``X`` (None for a row without one)."""
        return [None] * len(self.y) if self.keys is None else list(self.keys)

    def positions_of(self, keys) -> np.ndarray:
        """The rows of ``X`` named ``keys``; ValueError naming the keys no row has."""
        where = {key: row for row, key in enumerate(self.key_list()) if key is not None}
        missing = [key for key in keys if key not in where]
        if missing:
            raise ValueError(f"keys: no labelled row has the keys {missing[:10]}")
        return np.array([where[key] for key in keys], dtype=np.intp)

    def with_keys(self, rows: np.ndarray, keys) -> LabeledSet:
        """A new set where rows ``rows`` carry ``keys``."""
        named = self.key_list()
        for row, key in zip(rows, keys, strict=True):
            named[int(row)] = key
        return replace(self, keys=_key_tuple(named))

    def taught(self, X, y, twins, twin_y, twin_rows, pseudo_X, pseudo_y, keys=None) -> LabeledSet:
        """A new set with rows ``X, y`` appended; ``twin_rows`` index into ``X``."""
        n_before = len(self.y)
        new_keys = [None] * len(y) if keys is None else list(keys)
        return LabeledSet(
            np.concatenate([self.X, X]),
            np.concatenate([self.y, y]),
            np.concatenate([self.twins, twins]),
            np.concatenate([self.twin_y, twin_y]),
            np.concatenate([self.twin_sources, n_before + twin_rows]),
            pseudo_X,
            pseudo_y,
            _key_tuple(self.key_list() + new_keys),
        )

    def relabeled(self, rows: np.ndarray, y: np.ndarray) -> LabeledSet:
        """A new set where the oracle's rows ``rows`` carry ``y`` instead, twins too."""
        labels = self.y.copy()
        labels[rows] = y
        twin_y = self.twin_y.copy()
        for row, label in zip(rows, y, strict=True):
            twin_y[self.twin_sources == row] = label
        return replace(self, y=labels, twin_y=twin_y)

    def without(self, rows: np.ndarray) -> LabeledSet:
        """A new set without the oracle's rows ``rows`` and their twins."""
        keep = np.ones(len(self.y), dtype=bool)
        keep[rows] = False
        keep_twins = keep[self.twin_sources]
        # Twins point at their source's position among the rows that stay.
        new_position = np.cumsum(keep) - 1
        kept_keys = [key for key, kept in zip(self.key_list(), keep, strict=True) if kept]
        return replace(
            self,
            keys=_key_tuple(kept_keys),
            X=self.X[keep],
            y=self.y[keep],
            twins=self.twins[keep_twins],
            twin_y=self.twin_y[keep_twins],
            twin_sources=new_position[self.twin_sources[keep_twins]].astype(np.intp),
        )

    def training_set(self, *, include_pseudo: bool = False):
        """``(X, y, groups)``: labelled rows, twins in their source's group, pseudo-labels."""
        n = len(self.y)
        parts_X, parts_y = [self.X, self.twins], [self.y, self.twin_y]
        parts_g = [np.arange(n), self.twin_sources]
        if include_pseudo and len(self.pseudo_y):
            parts_X.append(self.pseudo_X)
            parts_y.append(self.pseudo_y)
            parts_g.append(n + np.arange(len(self.pseudo_y)))
        return np.concatenate(parts_X), np.concatenate(parts_y), np.concatenate(parts_g)


def _key_tuple(keys: list) -> tuple | None:
    """``keys`` as stored: None when no row has one."""
    return None if all(key is None for key in keys) else tuple(keys)


@dataclass(frozen=True)
class PendingQuery:
    """What the last query produced, kept until the next query.

    A labelling tool may answer a query in pieces: each ``teach`` consumes
    the twins of the rows it brings (``taught`` positions), the rest wait
    for a later piece. ``pseudo_X, pseudo_y`` (labels as classes) lose the
    rows the oracle labels meanwhile.
    """

    positions: dict[bytes, int]
    extras: TrainingExtras
    pseudo_X: np.ndarray
    pseudo_y: np.ndarray
    taught: frozenset = frozenset()

    @classmethod
    def of(cls, X_pool, indices, extras: TrainingExtras, pseudo_y) -> PendingQuery:
        """The pending query of rows ``X_pool[indices]`` (matched later by content)."""
        positions = {row_key(X_pool[i]): pos for pos, i in enumerate(indices)}
        return cls(positions, extras, extras.pseudo_X, pseudo_y)

    def twins_for(self, keys: list[bytes], y: np.ndarray, labeled: LabeledSet):
        """Twins of the taught rows whose query position has no twin taught yet.

        Returns
        -------
        twins, twin_y, rows, positions
            The twins, their labels (their sources' oracle labels), the rows
            of the taught batch they came from, and the query positions taught.
        """
        taught_at = {}  # position in the query -> row of the taught batch
        for row, key in enumerate(keys):
            pos = self.positions.get(key)
            if pos is not None and pos not in self.taught:
                taught_at.setdefault(pos, row)
        sources = self.extras.twin_sources
        keep = [j for j, src in enumerate(sources) if int(src) in taught_at]
        if not keep:
            empty = (labeled.twins[:0], labeled.twin_y[:0], np.empty(0, dtype=np.intp))
            return (*empty, frozenset(taught_at))
        rows = np.array([taught_at[int(sources[j])] for j in keep], dtype=np.intp)
        order = np.argsort(rows, kind="stable")  # twins follow the taught order
        keep, rows = np.asarray(keep)[order], rows[order]
        return self.extras.twins[keep], y[rows], rows, frozenset(taught_at)

    def pseudo_labels_without(self, taught_keys: set[bytes], labeled: LabeledSet):
        """The pseudo-labelled rows, minus those the oracle has just labelled."""
        if len(self.pseudo_y) == 0:
            return labeled.twins[:0], labeled.y[:0]
        keep = np.array([row_key(x) not in taught_keys for x in self.pseudo_X], dtype=bool)
        return self.pseudo_X[keep], self.pseudo_y[keep]

    def after_teach(self, positions: frozenset, pseudo_X, pseudo_y) -> PendingQuery:
        """This query once the rows at ``positions`` were taught."""
        return replace(self, taught=self.taught | positions, pseudo_X=pseudo_X, pseudo_y=pseudo_y)


@dataclass(frozen=True)
class ClassSpace:
    """The campaign's class labels, and those the fitted estimator was trained on.

    The two differ between a ``set_params(classes=...)`` that grew the
    classes and the next refit.
    """

    classes: np.ndarray
    fitted: np.ndarray

    def encode(self, y, *, name: str, classes=None) -> np.ndarray:
        """``y`` as positions in ``classes`` (default: the campaign's); unknown labels raise."""
        y = np.asarray(y)
        classes = self.classes if classes is None else classes
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"{name} has labels {unknown.tolist()[:10]} outside the classes "
                f"{classes.tolist()}; list every possible label in classes= "
                "(learner.set_params(classes=...) grows them mid-campaign)"
            )
        return np.searchsorted(classes, y).astype(np.int64)

    def grown_to(self, classes_param) -> np.ndarray:
        """The classes after ``set_params(classes=classes_param)``: they may grow, never shrink."""
        classes = np.unique(np.asarray(classes_param))
        dropped = np.setdiff1d(self.classes, classes)
        if dropped.size:
            raise ValueError(
                f"classes={classes.tolist()} drops the labels {dropped.tolist()} of "
                "this campaign; classes may grow after fit, never shrink"
            )
        return classes

    def align(self, proba: np.ndarray, seen, *, fill=0.0) -> np.ndarray:
        """The estimator's ``proba`` with one column per campaign class.

        An estimator that never saw a class (``seen``: its ``classes_``, as
        positions in ``fitted``) returns fewer columns, and one fitted
        before the classes grew knows fewer labels; their columns are
        ``fill`` (0 for probabilities).
        """
        labels = self.fitted
        if seen is not None and len(seen) == proba.shape[1]:
            labels = labels[np.asarray(seen, dtype=np.intp)]
        if len(labels) == len(self.classes):
            return proba
        columns = np.searchsorted(self.classes, labels)
        return place_columns(proba, columns, len(self.classes), fill=fill)

    def align_decision(self, scores: np.ndarray, seen) -> np.ndarray:
        """The estimator's ``decision_function`` with one column per campaign class.

        With two campaign classes a binary estimator's one column stays as
        scikit-learn returns it. Otherwise a binary score ``d`` becomes the
        columns ``-d, d`` of its two classes, and the classes the estimator
        never saw score ``-inf``: the argmax is always :meth:`predict`'s
        answer.
        """
        scores = np.asarray(scores)
        if scores.ndim == 2 and scores.shape[1] == len(self.classes):
            return scores
        if scores.ndim == 1:
            if len(self.classes) == 2:
                return scores
            scores = np.column_stack([-scores, scores])
        return self.align(scores, seen, fill=-np.inf)


@dataclass(frozen=True)
class ParameterTracker:
    """Fingerprints of the tracked parameters as the campaign last used them."""

    seen: dict = field(default_factory=dict)

    @classmethod
    def of(cls, params) -> ParameterTracker:
        """Fingerprints of every tracked parameter in ``params`` (the learner's, now)."""
        return cls({name: fingerprint(params[name]) for name in TRACKED_PARAMETERS})

    def changed(self, params, name: str) -> bool:
        """Whether ``set_params`` changed parameter ``name`` since it was last used."""
        return fingerprint(params[name]) != self.seen[name]

    def marked(self, params, *names: str) -> ParameterTracker:
        """A tracker that takes the values of ``names`` in ``params`` as used."""
        return ParameterTracker(
            {**self.seen, **{name: fingerprint(params[name]) for name in names}}
        )


@dataclass(frozen=True)
class Campaign:
    """Everything a fitted :class:`~skactive.ActiveLearner` knows.

    ``history`` holds one entry per query (see ``ActiveLearner.history_``);
    ``unlabeled`` the pool a semi-supervised refit receives with label -1.
    """

    labeled: LabeledSet
    classes: ClassSpace
    estimator: object
    strategy: QueryStrategy
    tracker: ParameterTracker
    seed: int | None
    row_shape: tuple
    n_features_in: int
    feature_names_in: np.ndarray | None = None
    n_iter: int = 0
    history: tuple = ()
    pending: PendingQuery | None = None
    unlabeled: UnlabeledPool | None = None

    @classmethod
    def started(cls, params, labeled: LabeledSet, *, estimator=None, **fields) -> Campaign:
        """A new campaign on ``labeled`` with the learner's parameters ``params`` (not fitted).

        ``params`` is a snapshot, ``learner.get_params(deep=False)``: the
        state functions read parameters from it, never from the learner.
        """
        classes = check_classes(params["classes"], unique_labels(labeled.y))
        return cls(
            labeled=labeled,
            classes=ClassSpace(classes, classes),
            estimator=estimator,
            strategy=strategy_from(params["query_strategy"]),
            tracker=ParameterTracker.of(params),
            seed=base_seed(params["random_state"]),
            row_shape=tuple(labeled.X.shape[1:]),
            n_features_in=labeled.X.shape[1],
            **fields,
        )

    # -- what parameters changed with set_params since they were used mean next --

    def strategy_for_query(self, params) -> QueryStrategy:
        """The strategy to query with: the campaign's, or the changed parameter's.

        A new strategy of the same class keeps the campaign's round state
        (e.g. CEAL's round count) and takes the new parameters. A shallow
        copy: the campaign's stays intact if select fails (select only ever
        rebinds attributes).
        """
        if not self.tracker.changed(params, "query_strategy"):
            return copy.copy(self.strategy)
        template = strategy_from(params["query_strategy"])
        if type(template) is not type(self.strategy):
            return template
        return copy.copy(self.strategy).set_params(**template.get_params(deep=False))

    def base_seed_for(self, params) -> int | None:
        """The campaign's base seed, or one drawn from a changed ``random_state``.

        Each round's own seed is :meth:`round_seed` of it.
        """
        changed = self.tracker.changed(params, "random_state")
        return base_seed(params["random_state"]) if changed else self.seed

    def classes_for_fit(self, params) -> np.ndarray:
        """The campaign's classes, grown to a changed ``classes`` parameter (never shrunk)."""
        if not self.tracker.changed(params, "classes") or params["classes"] is None:
            return self.classes.classes
        return self.classes.grown_to(params["classes"])

    def queried(self, *, strategy, seed, tracker, X_pool, indices, unlabeled, seconds):
        """This campaign after ``strategy`` selected ``X_pool[indices]`` (nothing taught yet)."""
        extras = strategy.extras_
        check_extras(strategy, extras, len(indices), self.row_shape, len(self.classes.fitted))
        pseudo_labels = self.classes.fitted[np.asarray(extras.pseudo_y, dtype=np.intp)]
        scores = strategy.scores_
        entry = {
            "round": self.n_iter,
            "indices": indices.copy(),
            "scores": None if scores is None else _selected_scores(strategy),
            "n_labeled": len(self.labeled.y),
            "select_seconds": seconds,
        }
        return replace(
            self,
            strategy=strategy,
            seed=seed,
            tracker=tracker,
            unlabeled=unlabeled,
            pending=PendingQuery.of(X_pool, indices, extras, pseudo_labels),
            history=(*self.history, entry),
        )

    def taught(self, X, y, *, classes, tracker, keys=None) -> Campaign:
        """This campaign with the oracle's rows ``X, y`` (and their twins) added, unfitted.

        ``keys`` (one per row, or None) name the new rows.
        """
        digests = [row_key(x) for x in X]
        labeled, pending = self.labeled, self.pending
        if pending is None:
            twins, twin_y, twin_rows = labeled.twins[:0], labeled.twin_y[:0], np.empty(0, np.intp)
            positions, pseudo_X, pseudo_y = frozenset(), labeled.twins[:0], labeled.y[:0]
        else:
            twins, twin_y, twin_rows, positions = pending.twins_for(digests, y, labeled)
            pseudo_X, pseudo_y = pending.pseudo_labels_without(set(digests), labeled)
        # Labels stored as the classes themselves: 1.0 taught for class 1 stays an int.
        y = classes[np.searchsorted(classes, y)]
        twin_y = classes[np.searchsorted(classes, twin_y)]
        history = self.history
        if pending is not None:
            pending = pending.after_teach(positions, pseudo_X, pseudo_y)
            last = dict(history[-1])
            last["n_taught"] = last.get("n_taught", 0) + len(y)
            last["n_twins"] = last.get("n_twins", 0) + len(twin_y)
            last["n_pseudo"] = len(pseudo_y)
            history = (*history[:-1], last)
        return replace(
            self,
            labeled=labeled.taught(X, y, twins, twin_y, twin_rows, pseudo_X, pseudo_y, keys),
            classes=replace(self.classes, classes=classes),
            tracker=tracker,
            unlabeled=None if self.unlabeled is None else self.unlabeled.without(X),
            pending=pending,
            history=history,
            n_iter=self.n_iter + 1,
        )

    def relabeled(self, rows: np.ndarray, y, *, classes, tracker) -> Campaign:
        """This campaign with the oracle's labels of ``rows`` replaced by ``y``, unfitted."""
        y = classes[np.searchsorted(classes, y)]
        labeled = self.labeled
        dtype = np.result_type(labeled.y, y)  # a longer string label must not be cut
        labeled = replace(labeled, y=labeled.y.astype(dtype), twin_y=labeled.twin_y.astype(dtype))
        return replace(
            self,
            labeled=labeled.relabeled(rows, y),
            classes=replace(self.classes, classes=classes),
            tracker=tracker,
        )

    def without(self, rows: np.ndarray) -> Campaign:
        """This campaign without the oracle's rows ``rows`` and their twins, unfitted."""
        return replace(self, labeled=self.labeled.without(rows))

    def round_seed(self, purpose: str, seed: int | None = None) -> int | None:
        """The seed of this round's fit or query, derived from the campaign's seed."""
        seed = self.seed if seed is None else seed
        if seed is None:
            return None
        tag = {"fit": 0, "query": 1}[purpose]
        seq = np.random.SeedSequence([seed, self.n_iter, tag])
        return int(seq.generate_state(1)[0] % MAX_SEED)


def check_extras(strategy, extras: TrainingExtras, n_selected: int, row_shape, n_classes) -> None:
    """Refuse malformed extra rows at query time, before they can break a teach."""
    name = type(strategy).__name__
    problems = []
    for what, rows in (("twins", extras.twins), ("pseudo_X", extras.pseudo_X)):
        count = extras.n_twins if what == "twins" else extras.n_pseudo
        rows = np.asarray(rows)
        if count and (len(rows) != count or tuple(rows.shape[1:]) != row_shape):
            problems.append(f"{what} has shape {rows.shape}, expected ({count}, *{row_shape})")
    sources = np.asarray(extras.twin_sources)
    if extras.n_twins and (sources.min() < 0 or sources.max() >= n_selected):
        problems.append(f"twin_sources must be positions in 0..{n_selected - 1}")
    pseudo_y = np.asarray(extras.pseudo_y)
    if extras.n_pseudo and (
        pseudo_y.dtype.kind not in "iu" or pseudo_y.min() < 0 or pseudo_y.max() >= n_classes
    ):
        problems.append(f"pseudo_y must be encoded labels in 0..{n_classes - 1}")
    if problems:
        raise RuntimeError(f"{name} handed malformed TrainingExtras: " + "; ".join(problems))


def _selected_scores(strategy: QueryStrategy) -> np.ndarray:
    # candidates_ is sorted, so positions are found by bisection.
    return strategy.scores_[np.searchsorted(strategy.candidates_, strategy.indices_)]


def fingerprint(value):
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
                *((k, fingerprint(params[k])) for k in sorted(params)),
            )
        if isinstance(value, list | tuple):
            return tuple(fingerprint(v) for v in value)
        if isinstance(value, dict):
            return tuple((k, fingerprint(v)) for k, v in value.items())
        return ("object", id(value))


def strategy_from(query_strategy) -> QueryStrategy:
    """A clone of the (already checked) strategy parameter; None is entropy sampling."""
    return EntropySampling() if query_strategy is None else clone(query_strategy)


def base_seed(random_state) -> int | None:
    """The campaign's seed drawn from a ``random_state`` parameter (None stays None)."""
    if random_state is None:
        return None
    return draw_seed(check_random_state(random_state))
