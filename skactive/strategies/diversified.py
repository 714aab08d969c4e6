"""Diversified: a diverse batch among any strategy's best rows.

The DFAL paper's conclusion (Ducoffe & Precioso, 2018) notes that the
top-scored rows of one round are correlated and asks for a batch extension
that "increases the diversity"; the recipe here is the one of Zhdanov,
"Diverse mini-batch Active Learning" (arXiv:1901.05954, 2019): prefilter by
informativeness, then spread the batch in the network's embedding.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np

from skactive._chunking import RowView
from skactive._inference import embed_rows, unit_rows
from skactive._validation import check_n, check_random_state_param, check_rows
from skactive.base import STRATEGY, MetaStrategy, TrainingExtras
from skactive.param_validation import BOOLEAN, Constraint, integer, options
from skactive.strategies.coreset import k_center_greedy, min_distances

_METHODS = ("kcenter", "kmeans++")


class Diversified(MetaStrategy):
    """Choose a diverse batch among the best ``factor * n`` rows of another strategy.

    The inner strategy ranks the pool and keeps its best ``factor * n``
    rows (its shortlist); ``n`` of them that are spread out in the
    network's embedding space are then selected:

    * ``method="kcenter"``: k-center greedy (farthest first) from the
      labelled rows, so the batch covers the shortlist and avoids what is
      already labelled;
    * ``method="kmeans++"``: k-means++ seeding, each next row drawn with
      probability proportional to its weight times its squared distance to
      the rows chosen so far (and to the labelled rows). The weight follows
      the inner ranking, 1 for the best row down to ``1 / (factor * n)``
      for the last, so scores on any scale and in either direction work.

    The selected rows are returned in the inner strategy's order (best
    first): with ``factor=1`` the result equals the inner strategy's. The
    inner strategy's training extras are made for the selected rows only,
    so ``Diversified(DFAL())`` hands over exactly their adversarial twins.

    Parameters
    ----------
    strategy : QueryStrategy
        A strategy that scores rows (DFAL, entropy, BALD, QueryByCommittee,
        ...), or a meta-strategy whose selection is scored
        (:class:`Schedule`, :class:`ShiftedTwins`, another ``Diversified``):
        its extras are made for the whole shortlist and those of the kept
        rows handed over. It is cloned; the fitted clone is ``strategy_``.
    factor : int, default=10
        Size of the shortlist as a multiple of ``n`` (capped by the inner
        strategy's candidates and the pool).
    method : {"kcenter", "kmeans++"}, default="kcenter"
    layer : str, default=None
        Submodule whose output is the embedding (None: the input of the last
        ``nn.Linear``). For an estimator that is not a skorch net the raw
        features are used, and ``layer`` must be None.
    normalize : bool, default=False
        Scale embeddings to unit norm first (cosine geometry), as
        :class:`CoreSet`'s ``normalize``: raw ReLU features favour rows with
        the largest activations.
    embedding : callable, default=None
        ``f(rows) -> (n_rows, n_dims)`` to spread the batch in, instead of
        the network's (a pretrained :class:`~skactive.embeddings.Embedding`).
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means++ draws and, when set, the inner strategy (whose
        own ``random_state`` is then replaced), as the learner seeds only
        the outer strategy.

    Attributes
    ----------
    strategy_ : QueryStrategy
        The fitted clone of ``strategy``.
    shortlist_ : ndarray of shape (n_shortlist,)
        Pool indices of the inner strategy's best rows, best first.
    candidates_, scores_ : ndarray
        Those of the inner strategy.
    indices_, extras_ : see :class:`~skactive.QueryStrategy`
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "strategy": [STRATEGY],
        "factor": [integer(1, description="an integer >= 1")],
        "method": [options(*_METHODS)],
        "normalize": [BOOLEAN],
        "embedding": [None, Constraint(callable, "a callable mapping rows to vectors")],
    }

    def __init__(
        self,
        strategy,
        *,
        factor=10,
        method="kcenter",
        layer=None,
        normalize=False,
        embedding=None,
        random_state=None,
    ):
        self.strategy = strategy
        self.factor = factor
        self.method = method
        self.layer = layer
        self.normalize = normalize
        self.embedding = embedding
        self.random_state = random_state

    def select(self, estimator, X_pool, n: int, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Shortlist with the inner strategy, then keep a diverse ``n`` of it.

        See :meth:`QueryStrategy.select`.
        """
        self.check_params()
        rng = check_random_state_param(self.random_state)
        X_pool = check_rows(X_pool, name="X_pool")
        inner_candidates = getattr(self.strategy, "candidates", None)
        capacity = len(X_pool)
        if isinstance(inner_candidates, numbers.Integral) and 0 < inner_candidates < capacity:
            capacity = int(inner_candidates)
        n = check_n(n, capacity, what="the rows the inner strategy can rank")
        inner = self.seeded_clone(self.strategy, rng)
        n_shortlist = min(int(self.factor) * n, capacity)
        labeled = dict(X_labeled=X_labeled, y_labeled=y_labeled)
        if isinstance(inner, MetaStrategy):
            # A meta-strategy (Schedule, ShiftedTwins, another Diversified)
            # hands over extras for its whole shortlist; the kept rows' are
            # picked out of them below.
            inner.select(estimator, X_pool, n_shortlist, **labeled)
        else:
            inner.rank(estimator, X_pool, n_shortlist, **labeled)
        if inner.scores_ is None:
            raise ValueError(
                f"strategy: {type(inner).__name__} does not score rows, so it has no best "
                "rows to diversify; pass a scoring strategy (DFAL, EntropySampling, BALD, ...)"
            )
        shortlist = inner.indices_
        kept = np.sort(self._spread(estimator, X_pool, shortlist, n, rng, X_labeled))
        indices = shortlist[kept]
        if isinstance(inner, MetaStrategy):
            extras = _extras_of_kept(inner.extras_, kept)
        else:
            extras = inner.extras_for(estimator, X_pool, indices, X_labeled=X_labeled)
        inner.indices_, inner.extras_ = indices, extras
        self.strategy_, self.shortlist_ = inner, shortlist
        self.take_over(inner)
        return indices.copy()

    def _spread(self, estimator, X_pool, shortlist, n, rng, X_labeled) -> np.ndarray:
        """Positions into ``shortlist`` of ``n`` rows spread out in the embedding."""
        if n == len(shortlist):
            return np.arange(n)
        points = self._embed(estimator, RowView(X_pool, shortlist))
        centers = (
            np.empty((0, points.shape[1]))
            if X_labeled is None or len(X_labeled) == 0
            else self._embed(estimator, X_labeled)
        )
        if self.method == "kcenter":
            if len(centers) == 0:
                # Start from the inner strategy's best row, not a random one.
                rest, _, _ = k_center_greedy(points[1:], points[:1], n - 1, rng=rng)
                return np.concatenate([[0], rest + 1])
            picks, _, _ = k_center_greedy(points, centers, n, rng=rng)
            return picks
        weights = (len(points) - np.arange(len(points))) / len(points)
        return _weighted_kmeans_plus_plus(points, centers, weights, n, rng)

    def _embed(self, estimator, X) -> np.ndarray:
        model = estimator if self.embedding is None else self.embedding
        points = embed_rows(model, X, layer=self.layer)
        return unit_rows(points) if self.normalize else points


def _extras_of_kept(extras: TrainingExtras, kept: np.ndarray) -> TrainingExtras:
    """The twins of the shortlist positions ``kept``, renumbered; pseudo-labels as they are."""
    new_position = {int(p): i for i, p in enumerate(kept)}
    mine = [j for j, source in enumerate(extras.twin_sources) if int(source) in new_position]
    sources = np.array([new_position[int(extras.twin_sources[j])] for j in mine], dtype=np.intp)
    twins = np.asarray(extras.twins)[mine] if mine else np.asarray(extras.twins)[:0]
    return TrainingExtras(
        twins=twins,
        twin_sources=sources,
        pseudo_X=extras.pseudo_X,
        pseudo_y=extras.pseudo_y,
    )


def _weighted_kmeans_plus_plus(points, centers, weights, n, rng) -> np.ndarray:
    """k-means++ seeding with draws proportional to ``weights * D^2``.

    ``D`` is the distance to the nearest of ``centers`` and of the rows
    already drawn; without centers the first row is the heaviest.
    """
    nearest = min_distances(points, centers) ** 2
    squared = np.einsum("ij,ij->i", points, points)
    available = np.ones(len(points), dtype=bool)
    picks = np.empty(n, dtype=np.intp)
    for t in range(n):
        mass = np.where(available, weights * np.where(np.isinf(nearest), 1.0, nearest), 0.0)
        if len(centers) == 0 and t == 0:
            pick = int(np.argmax(weights))
        elif mass.sum() > 0:
            pick = int(rng.choice(len(points), p=mass / mass.sum()))
        else:
            # Every remaining row sits on a center: fall back to the best remaining.
            pick = int(np.flatnonzero(available)[0])
        picks[t] = pick
        available[pick] = False
        d2 = squared + squared[pick] - 2.0 * (points @ points[pick])
        nearest = np.minimum(nearest, np.maximum(d2, 0.0))
    return picks
