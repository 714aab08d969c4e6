"""SEALS: rank only the pool rows near the labelled ones, for pools too large to score.

Reference: C. Coleman, E. Chou, J. Katz-Samuels, S. Culatana, P. Bailis,
A. C. Berg, R. Nowak, R. Sumbaly, M. Zaharia and I. Z. Yalniz, "Similarity
Search for Efficient Active Learning and Search of Rare Concepts", AAAI 2022.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import ClassVar

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from skactive._chunking import take_rows
from skactive._inference import embed_rows
from skactive._validation import check_n, check_random_state_param, check_rows
from skactive.base import MetaStrategy, QueryStrategy, StrategyTags
from skactive.param_validation import Constraint, integer, options

#: Nearest-neighbour backends: faiss when importable ("auto"), or scikit-learn.
_INDEXES = ("auto", "faiss", "sklearn")


class SEALS(MetaStrategy):
    """Let ``strategy`` rank only the ``n_neighbors`` nearest pool rows of each labelled row.

    The pool and the labelled rows are embedded (``embedding=``, such as a
    pretrained :class:`~skactive.embeddings.Embedding`, or the network's
    penultimate layer); an exact nearest-neighbour index over the pool
    (faiss's ``IndexFlatL2`` when faiss is installed, else scikit-learn's
    ``NearestNeighbors``) gives each labelled row its ``n_neighbors``
    nearest pool rows, and their union is the candidate set the inner
    strategy ranks, so the inner strategy's cost grows with the labelled
    rows' neighbourhood, not the pool. Each query still embeds the pool and
    searches it: with ``embedding=None`` that is a forward pass over the
    whole pool in the current net, as costly as entropy scoring, so SEALS
    then saves only what the inner strategy costs beyond a forward pass
    (DFAL's attacks); with a cached embedding fitted once (an
    :class:`~skactive.embeddings.Embedding`), the pool costs a lookup and an
    exact scan of its vectors. The price is that rows far from every
    labelled row are never considered. Without labelled rows, or when the union holds fewer
    than ``n`` rows, random pool rows fill it up to ``n``.

    Parameters
    ----------
    strategy : QueryStrategy
        Ranks the candidates (cloned; the fitted clone is ``strategy_``).
        Its own ``candidates`` subset, if any, is drawn from the neighbours.
    n_neighbors : int, default=100
        Neighbours per labelled row (the paper: 100).
    embedding : callable, default=None
        ``f(rows) -> (n_rows, n_dims)`` for the search (None: the network's
        penultimate layer).
    index : {"auto", "faiss", "sklearn"}, default="auto"
        ``"faiss"`` fails without faiss; both are exact searches and give
        the same neighbours up to ties.
    random_state : int, RandomState instance or None, default=None
        Seeds the filling rows and, when set, the inner strategy.

    Attributes
    ----------
    strategy_ : QueryStrategy
    neighbourhood_ : ndarray
        Pool indices the inner strategy ranked (the union of neighbours).
    candidates_, scores_ : ndarray
        The inner strategy's, as pool indices.
    indices_, extras_ : see :class:`~skactive.QueryStrategy`
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "strategy": [Constraint(lambda s: isinstance(s, QueryStrategy), "a QueryStrategy")],
        "n_neighbors": [integer(1)],
        "embedding": [None, Constraint(callable, "a callable mapping rows to vectors")],
        "index": [options(*_INDEXES)],
    }

    def __init__(
        self, strategy, *, n_neighbors=100, embedding=None, index="auto", random_state=None
    ):
        self.strategy = strategy
        self.n_neighbors = n_neighbors
        self.embedding = embedding
        self.index = index
        self.random_state = random_state

    def __skactive_tags__(self) -> StrategyTags:
        tags = super().__skactive_tags__()
        failures = {
            **tags.expected_failed_checks,
            "check_scores_follow_a_permuted_pool": (
                "SEALS scores the labelled rows' neighbourhood only, so scores_ covers those "
                "rows (candidates_), not the whole pool; the inner strategy's own scores "
                "follow a permuted pool"
            ),
        }
        return replace(tags, expected_failed_checks=failures)

    def select(self, estimator, X_pool, n: int, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Select ``n`` rows with the inner strategy among the labelled rows' neighbours.

        See :meth:`QueryStrategy.select`.
        """
        self.check_params()
        rng = check_random_state_param(self.random_state)
        X_pool = check_rows(X_pool, name="X_pool")
        n = check_n(n, len(X_pool), what="the pool")
        if estimator is not None:
            check_is_fitted(estimator)
        neighbourhood = self._neighbourhood(estimator, X_pool, X_labeled, n, rng)
        inner = self.seeded_clone(self.strategy, rng)
        rows = take_rows(X_pool, neighbourhood)
        picks = inner.select(estimator, rows, n, X_labeled=X_labeled, y_labeled=y_labeled)
        self.strategy_, self.neighbourhood_ = inner, neighbourhood
        inner_candidates = getattr(inner, "candidates_", None)
        self.take_over(
            inner,
            candidates=None if inner_candidates is None else neighbourhood[inner_candidates],
            indices=neighbourhood[picks],
            # Twins refer to positions among the picks, which keep their order.
            extras=copy.copy(inner.extras_),
        )
        return self.indices_.copy()

    def _neighbourhood(self, estimator, X_pool, X_labeled, n, rng) -> np.ndarray:
        found = np.empty(0, dtype=np.intp)
        if X_labeled is not None and len(X_labeled):
            model = estimator if self.embedding is None else self.embedding
            pool = embed_rows(model, X_pool).astype(np.float32)
            queries = embed_rows(model, X_labeled).astype(np.float32)
            k = min(int(self.n_neighbors), len(pool))
            found = np.unique(nearest_rows(pool, queries, k, index=self.index))
        if len(found) < n:
            rest = np.setdiff1d(np.arange(len(X_pool)), found)
            fill = rng.choice(rest, n - len(found), replace=False)
            found = np.sort(np.concatenate([found, fill]))
        return found


def nearest_rows(points: np.ndarray, queries: np.ndarray, k: int, *, index: str = "auto"):
    """Positions in ``points`` of the ``k`` nearest (Euclidean) of every query, (n_queries, k).

    faiss's exact ``IndexFlatL2`` when faiss is importable (``index="auto"``
    or ``"faiss"``), else scikit-learn's ``NearestNeighbors``.
    """
    faiss = None
    if index in ("auto", "faiss"):
        try:
            import faiss
        except ImportError:
            if index == "faiss":
                raise ImportError(
                    "index='faiss' needs faiss: pip install faiss-cpu (or index='sklearn')"
                ) from None
    points = np.ascontiguousarray(points, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if faiss is not None:
        flat = faiss.IndexFlatL2(points.shape[1])
        flat.add(points)
        _, found = flat.search(queries, k)
        return found.astype(np.intp)
    search = NearestNeighbors(n_neighbors=k).fit(points)
    return search.kneighbors(queries, return_distance=False).astype(np.intp)
