"""The query-strategy contract and the protocol for extra training rows.

A strategy answers one question: which pool rows should the oracle label
next? :meth:`QueryStrategy.select` returns their indices, best first. Some
strategies also produce training rows the oracle never paid for; they hand
them over in one shared shape, :class:`TrainingExtras`, which
:class:`~skactive.ActiveLearner` reads after every query.
"""

from __future__ import annotations

import warnings
from abc import ABCMeta
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from skactive import _torch
from skactive._chunking import chunk_slices, take_rows
from skactive._threads import library_threads
from skactive._validation import check_n, check_random_state_param, check_rows, draw_seed
from skactive.config import get_config
from skactive.param_validation import (
    BATCH_SIZE,
    CANDIDATES,
    CHUNK_SIZE,
    LAYER,
    N_JOBS,
    RANDOM_STATE,
    SKLEARN_PARAMETER_CONSTRAINTS,
    check_estimator_params,
    instance_of,
)

#: Rows per chunk of the pool when a strategy's ``chunk_size`` is None.
DEFAULT_CHUNK_SIZE = 1024


@dataclass(frozen=True)
class StrategyTags:
    """What the library and the conformance suite need to know about a strategy.

    A strategy states them in :meth:`QueryStrategy.__skactive_tags__` (as
    scikit-learn estimators do in ``__sklearn_tags__``); read them with
    :func:`get_strategy_tags`.

    Attributes
    ----------
    greater_is_better : bool, default=True
        Whether a larger score in ``scores_`` means a more informative row
        (the default :meth:`~QueryStrategy.rank_candidates` keeps the largest).
    requires_estimator : bool, default=True
        Whether ``select`` needs a fitted estimator (False: ``None`` is
        accepted, as for random sampling or a pretrained embedding).
    wraps_strategies : bool, default=False
        Whether the strategy chooses through other strategies
        (:class:`MetaStrategy`).
    expected_failed_checks : mapping of str to str, default={}
        Conformance checks (:mod:`skactive.utils.estimator_checks`) the
        strategy is known to fail, with the reason; the suite requires them
        to fail.
    conformance_net : type or None, default=None
        The skorch net class the conformance suite trains for the strategy
        (None: :class:`~skactive.nets.LossPredictionNet`).
    """

    greater_is_better: bool = True
    requires_estimator: bool = True
    wraps_strategies: bool = False
    expected_failed_checks: Mapping[str, str] = field(default_factory=dict)
    conformance_net: type | None = None


def get_strategy_tags(strategy) -> StrategyTags:
    """The :class:`StrategyTags` of ``strategy`` (see ``QueryStrategy.__skactive_tags__``)."""
    return strategy.__skactive_tags__()


def _empty_rows() -> np.ndarray:
    return np.empty((0,), dtype=np.float64)


@dataclass(frozen=True)
class TrainingExtras:
    """Training rows a strategy hands to the learner with a query.

    Two kinds exist, and they live differently in the learner:

    * **twins** are permanent. ``twins[j]`` is derived from the selected row
      ``selected[twin_sources[j]]`` (a position in the array returned by
      ``select``) and is trained on with the oracle label that row receives.
      It shares its group with that row in
      :meth:`~skactive.ActiveLearner.training_set`. DFAL's adversarial
      examples are twins.
    * **pseudo-labels** are temporary: rows labelled by the model itself
      (labels in the estimator's own label space), used for the next refit
      only and replaced after every query. CEAL's confident rows are
      pseudo-labels.

    Parameters
    ----------
    twins : ndarray of shape (n_twins, ...)
        Derived rows, in the same space as the pool.
    twin_sources : ndarray of shape (n_twins,)
        For each twin, the position of its source in the selected indices.
    pseudo_X : ndarray of shape (n_pseudo, ...)
        Pool rows labelled by the model.
    pseudo_y : ndarray of shape (n_pseudo,)
        The model's labels for ``pseudo_X``.
    """

    twins: np.ndarray = field(default_factory=_empty_rows)
    twin_sources: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    pseudo_X: np.ndarray = field(default_factory=_empty_rows)
    pseudo_y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))

    @property
    def n_twins(self) -> int:
        """Number of twin rows."""
        return len(self.twin_sources)

    @property
    def n_pseudo(self) -> int:
        """Number of pseudo-labelled rows."""
        return len(self.pseudo_y)


class QueryStrategy(BaseEstimator, metaclass=ABCMeta):
    """Base class of all query strategies.

    The constructor of a subclass only stores its parameters (scikit-learn
    rules), so strategies can be cloned and grid-searched. Validation happens
    in :meth:`select`.

    Subclasses either implement :meth:`score_rows` (one number per row; the
    default ranking keeps the best ``n``) or override
    :meth:`rank_candidates` for strategies that do not score rows
    independently (core-set, random). To hand extra training rows to the
    learner, override :meth:`training_extras`.

    Shared parameters keep one meaning in every strategy that takes them
    (:mod:`skactive.param_validation`): ``candidates`` (pool rows drawn to
    score), ``chunk_size`` (rows per chunk of the pool: what one joblib
    worker scores at a time, None: :data:`DEFAULT_CHUNK_SIZE`),
    ``batch_size`` (rows per forward pass on the network's device, None:
    the torch adapter's choice), ``n_jobs`` and ``random_state``.

    Attributes
    ----------
    candidates_ : ndarray of shape (n_candidates,)
        Pool indices that were considered by the last call to ``select``.
    scores_ : ndarray of shape (n_candidates,) or None
        Score of each candidate, aligned with ``candidates_`` (None for
        strategies that do not score rows).
    indices_ : ndarray of shape (n,)
        The selected pool indices, best first.
    extras_ : TrainingExtras
        Extra training rows produced by the last call.
    """

    #: What each parameter accepts (:mod:`skactive.param_validation`);
    #: subclasses add their own entries. The shared parameters are declared
    #: once, here, so that they mean the same in every strategy.
    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "candidates": CANDIDATES,
        "chunk_size": CHUNK_SIZE,
        "batch_size": BATCH_SIZE,
        "n_jobs": N_JOBS,
        "random_state": RANDOM_STATE,
        "layer": LAYER,
    }

    def __skactive_tags__(self) -> StrategyTags:
        """This strategy's :class:`StrategyTags`.

        Override it to state what differs, from ``super()``'s::

            def __skactive_tags__(self):
                return dataclasses.replace(super().__skactive_tags__(), greater_is_better=False)
        """
        return StrategyTags()

    def select(
        self,
        estimator,
        X_pool,
        n: int,
        *,
        X_labeled=None,
        y_labeled=None,
    ) -> np.ndarray:
        """Choose ``n`` pool rows for the oracle to label.

        Parameters
        ----------
        estimator : fitted estimator or None
            The current model: a classifier, a ``Pipeline``, a fitted search
            or an :class:`~skactive.ActiveLearner`. ``None`` only for
            strategies that need no model (e.g. TypiClust with an
            ``embedding``: the very first query).
        X_pool : array-like of shape (n_pool, ...)
            Unlabelled rows to choose from (a ``numpy.memmap`` is read chunk
            by chunk).
        n : int
            Number of rows to select, ``1 <= n <= n_pool`` (or
            ``<= candidates``). A ``candidates`` larger than the pool warns
            and scores the whole pool.
        X_labeled, y_labeled : array-like, optional
            The current labelled set, for strategies that need it (core-set);
            when given, ``X_pool`` rows must have the same shape.

        Returns
        -------
        indices : ndarray of shape (n,)
            Distinct integer indices into ``X_pool``, best first.
        """
        with library_threads():
            self._select(estimator, X_pool, n, X_labeled=X_labeled, y_labeled=y_labeled)
        return self.indices_.copy()

    def rank(self, estimator, X_pool, n: int, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """:meth:`select` without the training extras: the ``n`` best rows, best first.

        The hook for a meta-strategy that asks for more rows than it keeps
        (:class:`~skactive.strategies.Diversified`): it ranks with ``rank``,
        keeps some rows, and asks :meth:`extras_for` for their extras only,
        so DFAL attacks just the kept rows. ``extras_`` is left empty;
        ``candidates_``, ``scores_`` and ``indices_`` are set as by ``select``.
        Meta-strategies that override ``select`` do not support it.
        """
        with library_threads():
            self._select(
                estimator, X_pool, n, X_labeled=X_labeled, y_labeled=y_labeled, with_extras=False
            )
        return self.indices_.copy()

    def extras_for(self, estimator, X_pool, indices, *, X_labeled=None) -> TrainingExtras:
        """The training extras this strategy would hand over with the pool rows ``indices``.

        Called after :meth:`rank` (the extras may use what it computed, kept
        in fitted attributes); twin sources are positions in ``indices``.
        """
        with library_threads():
            model = self.prepare(estimator)
            return self.training_extras(model, X_pool, np.asarray(indices), X_labeled=X_labeled)

    def _select(self, estimator, X_pool, n, *, X_labeled=None, y_labeled=None, with_extras=True):
        """:meth:`select`'s work; returns the prepared model.

        ``with_extras=False`` leaves ``extras_`` empty, for a meta-strategy
        that asks for more rows than it keeps and makes the extras of the
        kept ones only (through :meth:`training_extras`).
        """
        feature_shape = None
        if X_labeled is not None:
            X_labeled = check_rows(X_labeled, name="X_labeled")
            feature_shape = X_labeled.shape[1:]
        X_pool = check_rows(X_pool, name="X_pool", feature_shape=feature_shape)
        self.check_params()
        n_candidates = getattr(self, "candidates", None)
        if n_candidates is not None and n_candidates < len(X_pool):
            n = check_n(n, n_candidates, what=f"candidates={n_candidates}")
        else:
            n = check_n(n, len(X_pool), what="the pool")
            if n_candidates is not None and n_candidates > len(X_pool):
                # Pools shrink during a campaign; like IsolationForest's
                # max_samples, fall back to the whole pool instead of failing.
                warnings.warn(
                    f"candidates={n_candidates} is larger than the pool ({len(X_pool)} rows); "
                    "scoring the whole pool",
                    UserWarning,
                    stacklevel=2,
                )
        rng = check_random_state_param(getattr(self, "random_state", None))
        if estimator is None and self.__skactive_tags__().requires_estimator:
            raise TypeError(f"estimator: {type(self).__name__} needs a fitted estimator, got None")
        if estimator is not None:
            check_is_fitted(estimator)
        model = self.prepare(estimator)

        candidates = _draw_candidates(len(X_pool), n_candidates, rng)
        positions, scores = self.rank_candidates(
            model, X_pool, candidates, n, rng, X_labeled=X_labeled, y_labeled=y_labeled
        )
        positions = self._check_ranking(positions, scores, n, len(candidates))
        self.candidates_ = candidates
        self.scores_ = scores
        self.indices_ = candidates[positions]
        self.extras_ = TrainingExtras()
        if with_extras:
            self.extras_ = self.training_extras(model, X_pool, self.indices_, X_labeled=X_labeled)
        return model

    def _check_ranking(self, positions, scores, n: int, n_candidates: int) -> np.ndarray:
        """Hold every strategy to the contract: ``n`` distinct positions, aligned scores."""
        name = type(self).__name__
        positions = np.asarray(positions)
        if positions.shape != (n,) or positions.dtype.kind not in "iu":
            raise RuntimeError(
                f"{name} ranked {positions.shape} positions of dtype {positions.dtype}; "
                f"the contract is {n} integer positions"
            )
        if len(np.unique(positions)) != n or positions.min() < 0 or positions.max() >= n_candidates:
            raise RuntimeError(
                f"{name} returned repeated or out-of-range positions {positions.tolist()[:20]} "
                f"for {n_candidates} candidates; the contract is n distinct rows"
            )
        if scores is not None and np.shape(scores) != (n_candidates,):
            raise RuntimeError(
                f"{name} produced scores of shape {np.shape(scores)} for {n_candidates} "
                "candidates; scores_ must hold one score per candidate"
            )
        return positions.astype(np.intp)

    def check_params(self) -> QueryStrategy:
        """Check every parameter's value, without data; return ``self``.

        Values are checked against the class's ``_skactive_constraints``
        table (merged with its bases'), and a parameter holding a strategy
        (a meta-strategy's inner one) is checked in turn. :meth:`select`
        runs these checks first. Call it to refuse a bad setting before
        anything is trained (the experiment runner does, for every strategy
        of its grid).

        Raises
        ------
        InvalidParameterError
            A ``ValueError`` and ``TypeError`` naming the first parameter
            whose value ``select`` would refuse.
        """
        check_estimator_params(self)
        for value in self.get_params(deep=False).values():
            if isinstance(value, QueryStrategy):
                value.check_params()
        return self

    # -- hooks for subclasses (public: override them) --------------------

    def prepare(self, estimator):
        """Check that ``estimator`` suits this strategy; return what scoring needs.

        Called once per ``select``, after the parameters are checked.

        Parameters
        ----------
        estimator : fitted estimator or None

        Returns
        -------
        model : object
            Passed as ``model`` to :meth:`score_rows` (chunk by chunk) or
            :meth:`rank_candidates` and :meth:`training_extras`: the
            estimator itself by default, a probability function, a network...

        Raises
        ------
        TypeError
            The estimator cannot serve this strategy; say why.
        """
        return estimator

    def score_rows(self, model, X_chunk: np.ndarray) -> np.ndarray:
        """Score one chunk of rows; the default :meth:`rank_candidates` keeps the best.

        Parameters
        ----------
        model : object
            What :meth:`prepare` returned.
        X_chunk : ndarray of shape (n_rows, ...)
            Up to ``chunk_size`` pool rows.

        Returns
        -------
        scores : ndarray of shape (n_rows,)
            One number per row; larger is better unless the strategy's tags
            say otherwise (:attr:`StrategyTags.greater_is_better`).
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement score_rows or override rank_candidates"
        )

    def rank_candidates(self, model, X_pool, candidates, n, rng, **labeled):
        """The ``n`` best candidates, for strategies that do not score rows one by one.

        Parameters
        ----------
        model : object
            What :meth:`prepare` returned.
        X_pool : array-like of shape (n_pool, ...)
        candidates : ndarray of shape (n_candidates,)
            Pool indices to choose from.
        n : int
        rng : numpy.random.RandomState
            Every random choice draws from it, so ``random_state`` reproduces
            the picks.
        **labeled
            ``X_labeled`` and ``y_labeled``, for strategies that need them.

        Returns
        -------
        positions : ndarray of shape (n,)
            Distinct positions into ``candidates``, best first.
        scores : ndarray of shape (n_candidates,) or None
            One score per candidate (``scores_``), or None.
        """
        scores = self._score_candidates(model, X_pool, candidates)
        greater = self.__skactive_tags__().greater_is_better
        return rank_scores(scores, n, greater_is_better=greater, rng=rng), scores

    def _score_candidates(self, model, X_pool, candidates) -> np.ndarray:
        """Score the candidates chunk by chunk (see :meth:`_map_chunks`)."""
        with self._scoring_context(model):
            return self._map_chunks(
                self._score_chunk, model, X_pool, candidates, self._chunk_size(), what="scoring"
            )

    def _map_chunks(self, function, model, X_pool, candidates, chunk_size, *, what):
        """``function(model, rows, chunk_index)`` over chunks of the candidates, through joblib.

        With ``n_jobs=None`` and no active joblib backend the chunks run one
        after the other in this process; ``n_jobs`` or a backend context
        (``joblib.parallel_backend("dask")``) spreads them over workers.
        Chunks are read here, lazily, so only one chunk per worker (plus the
        dispatch queue) is in memory. Returns one float64 per candidate.
        """
        chunks = list(chunk_slices(len(candidates), chunk_size))
        progress = tqdm(
            total=len(candidates),
            desc=f"{type(self).__name__} {what}",
            unit="row",
            unit_scale=True,
            disable=not get_config()["show_progress"],
        )

        def tasks():
            for i, rows in enumerate(chunks):
                yield delayed(function)(model, take_rows(X_pool, candidates[rows]), i)
                # Reached when joblib asks for the next chunk: this one is
                # done (in process) or dispatched (to workers).
                progress.update(rows.stop - rows.start)

        with progress:
            parts = Parallel(n_jobs=getattr(self, "n_jobs", None))(tasks())
        for rows, part in zip(chunks, parts, strict=True):
            if len(part) != rows.stop - rows.start:
                raise RuntimeError(
                    f"{type(self).__name__}: {what} returned {len(part)} values for a chunk "
                    f"of {rows.stop - rows.start} rows; it must return one per row"
                )
        return np.concatenate(parts).astype(np.float64) if parts else np.empty(0)

    def _score_chunk(self, model, X_chunk: np.ndarray, chunk_index: int) -> np.ndarray:
        """Score one chunk; ``chunk_index`` lets randomised scores seed per chunk."""
        return self.score_rows(model, X_chunk)

    def _scoring_context(self, model):
        """Context held around all chunks: module modes are set once, here.

        Switching a shared module's modes inside each chunk would race when
        chunks run in threads; workers in other processes receive the
        module as it is inside this context.
        """
        return _torch.inference_context(model)

    def _chunk_size(self) -> int:
        """Rows per chunk of the pool: ``chunk_size``, or :data:`DEFAULT_CHUNK_SIZE`.

        Never ``batch_size``, which is rows per forward pass.
        """
        size = getattr(self, "chunk_size", None)
        return DEFAULT_CHUNK_SIZE if size is None else int(size)

    def training_extras(self, model, X_pool, selected, X_labeled=None) -> TrainingExtras:
        """Extra training rows for the learner, made for the selected rows; none by default.

        Parameters
        ----------
        model : object
            What :meth:`prepare` returned.
        X_pool : array-like of shape (n_pool, ...)
        selected : ndarray of shape (n,)
            The selected pool indices, best first; twins name their source
            by position in it.
        X_labeled : array-like, default=None

        Returns
        -------
        extras : TrainingExtras
        """
        return TrainingExtras()


#: The constraint of a parameter holding a strategy (a meta-strategy's inner one).
STRATEGY = instance_of(QueryStrategy, "a QueryStrategy")


class MetaStrategy(QueryStrategy):
    """Base class of strategies that choose rows through other strategies.

    :class:`~skactive.strategies.Schedule`,
    :class:`~skactive.strategies.Diversified`,
    :class:`~skactive.strategies.SEALS` and
    :class:`~skactive.strategies.ShiftedTwins` override :meth:`select` and
    share its routine here: every parameter checked, the inner strategies'
    included (:meth:`check_params`); the inner strategy cloned and seeded
    from this one's ``random_state`` (:meth:`seeded_clone`); its
    ``candidates_``, ``scores_``, ``indices_`` and ``extras_`` taken over
    (:meth:`take_over`); and the conformance checks its inner strategies are
    known to fail carried over into its :class:`StrategyTags`.

    A subclass says which strategies it wraps in :meth:`inner_strategies`
    (by default its ``strategy`` parameter) and implements :meth:`select`.
    """

    def inner_strategies(self) -> list:
        """The strategies this one wraps, as its parameters hold them (not fitted)."""
        strategy = getattr(self, "strategy", None)
        return [] if strategy is None else [strategy]

    def __skactive_tags__(self) -> StrategyTags:
        """A wrapper fails the conformance checks that the strategies it wraps fail."""
        try:
            inner = self.inner_strategies()
        except (TypeError, ValueError):  # malformed parameters: check_params says so
            inner = []
        failures = {}
        for strategy in inner:
            if isinstance(strategy, QueryStrategy):
                failures.update(get_strategy_tags(strategy).expected_failed_checks)
        return replace(
            super().__skactive_tags__(), wraps_strategies=True, expected_failed_checks=failures
        )

    def check_params(self) -> MetaStrategy:
        """Check this strategy's parameters and every inner strategy's; return ``self``.

        See :meth:`QueryStrategy.check_params`.
        """
        super().check_params()
        for strategy in self.inner_strategies():
            strategy.check_params()
        return self

    def seeded_clone(self, strategy: QueryStrategy, rng) -> QueryStrategy:
        """A clone of ``strategy``, seeded from ``rng`` when this one has a ``random_state``.

        Unseeded wrappers leave the inner strategy's own ``random_state``.
        """
        inner = clone(strategy)
        if getattr(self, "random_state", None) is not None and "random_state" in inner.get_params():
            inner.set_params(random_state=draw_seed(rng))
        return inner

    def take_over(self, inner: QueryStrategy, *, candidates=None, indices=None, extras=None):
        """Set ``candidates_``, ``scores_``, ``indices_``, ``extras_`` from ``inner``'s.

        ``candidates``, ``indices`` and ``extras`` replace the inner ones
        where the wrapper maps or makes them (pool positions, kept rows, twins).
        """
        self.candidates_ = inner.candidates_ if candidates is None else candidates
        self.scores_ = inner.scores_
        self.indices_ = inner.indices_ if indices is None else indices
        self.extras_ = inner.extras_ if extras is None else extras


def _draw_candidates(n_pool: int, n_candidates: int | None, rng) -> np.ndarray:
    """All pool indices, or a sorted random subset of ``n_candidates`` of them."""
    if n_candidates is None or n_candidates >= n_pool:
        return np.arange(n_pool)
    # Sorted so chunks read the pool (possibly a memmap) front to back.
    return np.sort(rng.choice(n_pool, size=n_candidates, replace=False))


def rank_scores(scores: np.ndarray, n: int, *, greater_is_better: bool, rng) -> np.ndarray:
    """Positions of the ``n`` best scores, best first.

    NaN scores rank last; ties are broken by a random permutation drawn from
    ``rng``, so equal scores give reproducible, unbiased picks.

    Parameters
    ----------
    scores : ndarray of shape (n_rows,)
    n : int
    greater_is_better : bool
    rng : numpy.random.RandomState

    Returns
    -------
    positions : ndarray of shape (n,)
    """
    key = -scores if greater_is_better else scores.astype(np.float64, copy=True)
    key = np.where(np.isnan(key), np.inf, key)
    tiebreak = rng.permutation(len(scores))
    return np.lexsort((tiebreak, key))[:n]
