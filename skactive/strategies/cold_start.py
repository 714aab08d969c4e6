"""Cold-start strategies: typical, well-covering rows for small budgets.

With few labels, uncertainty is unreliable and random picks are hard to
beat; these strategies pick rows that represent the data instead.

References: G. Hacohen, A. Dekel and D. Weinshall, "Active Learning on a
Budget: Opposite Strategies Suit High and Low Budgets", ICML 2022
(TypiClust); O. Yehuda, A. Dekel, G. Hacohen and D. Weinshall, "Active
Learning Through a Covering Lens", NeurIPS 2022 (ProbCover).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import ClassVar

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors

from skactive import _torch
from skactive._chunking import RowView, chunk_slices
from skactive._inference import embed_rows, unit_rows
from skactive._validation import draw_seed
from skactive.base import QueryStrategy, StrategyTags
from skactive.param_validation import Constraint, integer, real, satisfies

#: Above this many rows, TypiClust clusters with MiniBatchKMeans.
_MINIBATCH_ROWS = 20_000
_NEIGHBOUR_CHUNK = 2048


#: A ball radius on unit vectors: distances lie in [0, 2].
_RADIUS = real(0.0, 2.0, low_open=True)


def _are_radii(values) -> bool:
    try:
        radii = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return radii.ndim == 1 and len(radii) > 0 and all(_RADIUS.accepts(float(r)) for r in radii)


class _EmbeddingStrategy(QueryStrategy):
    """Shared by strategies that work on embeddings of the pool and labelled rows."""

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "embedding": [None, Constraint(callable, "a callable mapping rows to vectors")],
    }

    def __skactive_tags__(self) -> StrategyTags:
        # With an embedding, no model is needed (the very first query).
        return replace(super().__skactive_tags__(), requires_estimator=self.embedding is None)

    def prepare(self, estimator):
        if self.embedding is not None:
            return self.embedding
        network = _torch.find_network(estimator, what=f"{type(self).__name__} without embedding=")
        _torch.find_layer(network.module, self.layer)  # fail early on a bad name
        return network

    def _embed(self, model, X, rows) -> np.ndarray:
        """Float64 embeddings of ``X[rows]``, chunk by chunk."""
        return embed_rows(model, RowView(X, rows), layer=self.layer, batch_size=self.batch_size)

    def _points(self, model, X_pool, candidates, X_labeled):
        """Embeddings of the candidates, then of the labelled rows."""
        pool = self._embed(model, X_pool, candidates)
        if X_labeled is None or len(X_labeled) == 0:
            return pool, np.empty((0, pool.shape[1]))
        return pool, self._embed(model, X_labeled, np.arange(len(X_labeled)))


def _canonical_order(points: np.ndarray) -> np.ndarray:
    """A row order that depends on the rows' values only, not on their positions."""
    return np.lexsort(points.T[::-1])


class TypiClust(_EmbeddingStrategy):
    """Pick the most typical row of each of the largest clusters without a label.

    The candidates and the labelled rows are embedded and clustered by
    k-means into ``n_labeled + n`` clusters (``MiniBatchKMeans`` above
    20,000 rows). Then, ``n`` times: take the largest cluster that holds no
    labelled and no already chosen row, and pick its most *typical*
    candidate, typicality being the inverse mean Euclidean distance to its
    ``n_neighbors`` nearest neighbours within the cluster (clamped to the
    cluster's size minus one; a lone row is typical). When every cluster is
    covered (duplicate rows can merge clusters), the most typical remaining
    candidates follow. Rows are clustered in an order fixed by their values,
    so the picks do not depend on the pool's row order.

    Parameters
    ----------
    n_neighbors : int, default=20
        Neighbours of the typicality.
    layer : str, default=None
        Submodule whose output is the embedding (None: the input of the last
        ``nn.Linear``, the penultimate representation).
    embedding : callable, default=None
        ``f(rows) -> (n_rows, n_dims)``, used instead of the network: then
        any estimator works, or none (``select(None, X_pool, n)``, the very
        first query). A pretrained feature extractor goes here.
    candidates : int, default=None
        Consider only a random subset of this many pool rows (None: all).
    batch_size : int, default=None
        Rows per embedding pass (None: 128 on CPU, 1024 on a GPU); the pool is
        read chunk by chunk whatever its size.
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset and k-means.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Typicality of every candidate within its cluster.
    cluster_labels_ : ndarray of shape (n_candidates,)
        The cluster of every candidate.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {"n_neighbors": [integer(1)]}

    def __init__(
        self,
        n_neighbors: int = 20,
        *,
        layer: str | None = None,
        embedding=None,
        candidates: int | None = None,
        batch_size: int | None = None,
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.layer = layer
        self.embedding = embedding
        self.candidates = candidates
        self.batch_size = batch_size
        self.random_state = random_state

    def rank_candidates(self, model, X_pool, candidates, n, rng, X_labeled=None, y_labeled=None):
        pool, labeled = self._points(model, X_pool, candidates, X_labeled)
        points = np.concatenate([pool, labeled])
        order = _canonical_order(points)
        n_clusters = min(len(labeled) + n, len(points))
        kmeans = MiniBatchKMeans if len(points) > _MINIBATCH_ROWS else KMeans
        clusterer = kmeans(n_clusters=n_clusters, n_init="auto", random_state=draw_seed(rng))
        labels = np.empty(len(points), dtype=np.intp)
        labels[order] = _cluster(clusterer, points[order])
        typicality = _typicality(points, labels, int(self.n_neighbors))
        self.cluster_labels_ = labels[: len(pool)]
        picks = _pick_typical(labels, typicality, len(pool), n)
        return picks, typicality[: len(pool)]


def _cluster(clusterer, points: np.ndarray) -> np.ndarray:
    # Duplicate rows leave fewer distinct clusters than asked; the picks
    # handle that (covered or empty clusters are skipped), so no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clusterer.fit_predict(points)


def _typicality(points: np.ndarray, labels: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Inverse mean distance of every point to its nearest neighbours in its cluster."""
    typicality = np.empty(len(points))
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        k = min(n_neighbors, len(members) - 1)
        if k == 0:
            typicality[members] = np.inf  # a lone row is its cluster's most typical
            continue
        typicality[members] = 1.0 / (_mean_knn_distance(points[members], k) + 1e-12)
    return typicality


def _mean_knn_distance(cluster: np.ndarray, k: int) -> np.ndarray:
    """Mean distance of each row to its k nearest other rows, in bounded blocks."""
    squared = np.einsum("ij,ij->i", cluster, cluster)
    out = np.empty(len(cluster))
    for rows in chunk_slices(len(cluster), _NEIGHBOUR_CHUNK):
        d2 = squared[rows, None] + squared[None, :] - 2.0 * cluster[rows] @ cluster.T
        d2[np.arange(d2.shape[0]), np.arange(rows.start, rows.stop)] = np.inf  # not itself
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        out[rows] = np.sqrt(np.maximum(nearest, 0.0)).mean(axis=1)
    return out


def _pick_typical(labels, typicality, n_pool: int, n: int) -> np.ndarray:
    """Most typical candidate of each largest uncovered cluster, then the most typical left."""
    sizes = np.bincount(labels)
    covered = np.zeros(len(sizes), dtype=bool)
    covered[labels[n_pool:]] = True  # clusters holding a labelled row
    chosen = np.zeros(n_pool, dtype=bool)
    picks = []
    pool_labels, pool_typicality = labels[:n_pool], typicality[:n_pool]
    for _ in range(n):
        open_sizes = np.where(covered, -1, sizes)
        cluster = int(np.argmax(open_sizes))
        if open_sizes[cluster] < 0:
            break
        covered[cluster] = True
        members = np.flatnonzero((pool_labels == cluster) & ~chosen)
        if len(members) == 0:
            continue
        pick = int(members[np.argmax(pool_typicality[members])])
        chosen[pick] = True
        picks.append(pick)
    if len(picks) < n:  # every cluster covered: the most typical remaining rows
        rest = np.flatnonzero(~chosen)
        rest = rest[np.argsort(-pool_typicality[rest], kind="stable")]
        picks.extend(rest[: n - len(picks)].tolist())
    return np.asarray(picks, dtype=np.intp)


class ProbCover(_EmbeddingStrategy):
    """Greedy maximum coverage of the pool by balls of radius ``delta``.

    Candidates and labelled rows are embedded and L2-normalised (as the
    paper's self-supervised features are). A candidate covers every
    candidate within ``delta`` of it; rows within ``delta`` of a labelled
    row count as covered already. ``n`` times, the candidate covering the
    most uncovered rows is picked (ties to the lowest row in an order fixed
    by the rows' values); once everything is covered, the remaining picks
    are drawn at random, as in the paper. The ``delta``-ball graph is a
    sparse radius-neighbour graph (scikit-learn), never a dense N x N
    matrix; its size grows with ``delta``.

    ``delta=None`` chooses the radius by the paper's *purity* heuristic: the
    candidates are clustered by k-means into ``n_clusters`` clusters (the
    estimator's number of classes by default), a ball is *pure* when all
    its rows share its centre's cluster, and ``delta`` is the largest value
    of ``deltas`` whose share of pure balls is at least ``alpha``.

    Parameters
    ----------
    delta : float, default=None
        Ball radius in the normalised embedding space (0 < delta <= 2).
    alpha : float, default=0.95
        Required share of pure balls when ``delta`` is None.
    deltas : array-like, default=None
        Radii tried, smallest first, when ``delta`` is None (None: 21 values
        spaced geometrically from 0.01 to 1).
    n_clusters : int, default=None
        Clusters of the purity heuristic (None: the estimator's number of
        classes, or 10 without an estimator).
    layer, embedding, candidates, batch_size, random_state
        As for :class:`TypiClust`.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Uncovered rows in each candidate's ball before the first pick.
    delta_ : float
        The radius used.
    purity_ : float or None
        The share of pure balls at ``delta_`` (None when ``delta`` was given).
    coverage_ : float
        Share of candidates covered after the picks.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "delta": [None, _RADIUS],
        "alpha": [real(0.0, 1.0, low_open=True)],
        "deltas": [None, satisfies(_are_radii, "a non-empty list of numbers in (0, 2]")],
        "n_clusters": [integer(1), None],
    }

    def __init__(
        self,
        delta: float | None = None,
        *,
        alpha: float = 0.95,
        deltas=None,
        n_clusters: int | None = None,
        layer: str | None = None,
        embedding=None,
        candidates: int | None = None,
        batch_size: int | None = None,
        random_state=None,
    ):
        self.delta = delta
        self.alpha = alpha
        self.deltas = deltas
        self.n_clusters = n_clusters
        self.layer = layer
        self.embedding = embedding
        self.candidates = candidates
        self.batch_size = batch_size
        self.random_state = random_state

    def prepare(self, estimator):
        classes = getattr(estimator, "classes_", None)
        # Without n_clusters, purity is measured on one cluster per class.
        return super().prepare(estimator), 10 if classes is None else max(2, len(classes))

    def rank_candidates(self, prepared, X_pool, candidates, n, rng, X_labeled=None, **_):
        model, default_clusters = prepared
        pool, labeled = (unit_rows(p) for p in self._points(model, X_pool, candidates, X_labeled))
        order = _canonical_order(pool)
        if self.delta is None:
            self.delta_, self.purity_ = self._choose_delta(pool[order], rng, default_clusters)
        else:
            self.delta_, self.purity_ = float(self.delta), None
        graph = _ball_graph(pool[order], self.delta_)  # canonical positions
        covered = np.zeros(len(pool), dtype=bool)
        if len(labeled):
            near = NearestNeighbors(radius=self.delta_).fit(pool[order])
            for rows in near.radius_neighbors(labeled, return_distance=False):
                covered[rows] = True
        picks, degrees, covered = _greedy_coverage(graph, covered, n, rng)
        self.coverage_ = float(covered.mean())
        scores = np.empty(len(pool))
        scores[order] = degrees
        return order[picks], scores

    def _choose_delta(self, points: np.ndarray, rng, default_clusters) -> tuple[float, float]:
        deltas = np.geomspace(0.01, 1.0, 21) if self.deltas is None else np.sort(self.deltas)
        n_clusters = min(self.n_clusters or default_clusters, len(points))
        clusterer = KMeans(n_clusters, n_init="auto", random_state=draw_seed(rng))
        labels = _cluster(clusterer, points)
        # A ball is pure while its radius stays below the distance from its
        # centre to the nearest row of another cluster: one neighbour search
        # answers every radius (instead of a radius search per radius).
        foreign = _nearest_other_cluster(points, labels)
        best, best_purity, first_purity = float(deltas[0]), None, None
        for delta in deltas:
            purity = float(np.mean(foreign > delta))
            first_purity = purity if first_purity is None else first_purity
            if purity < self.alpha:
                break
            best, best_purity = float(delta), purity
        if best_purity is None:
            warnings.warn(
                f"ProbCover: no radius in deltas reaches purity alpha={self.alpha} (the "
                f"smallest, {deltas[0]:.3g}, gives {first_purity:.3f}); using it",
                UserWarning,
                stacklevel=5,
            )
            best_purity = first_purity
        return best, best_purity


def _nearest_other_cluster(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Distance from every point to the nearest point of another cluster (inf: none).

    The delta-ball around a point holds only its own cluster exactly when
    this distance exceeds delta (balls are closed: ``radius_neighbors``
    keeps distances equal to the radius).
    """
    distances = np.full(len(points), np.inf)
    for cluster in np.unique(labels):
        inside = labels == cluster
        if inside.all():
            continue
        others = NearestNeighbors(n_neighbors=1).fit(points[~inside])
        distances[inside] = others.kneighbors(points[inside], return_distance=True)[0][:, 0]
    return distances


def _ball_graph(points: np.ndarray, delta: float) -> sparse.csr_matrix:
    """Sparse adjacency: entry (i, j) when point j lies within delta of point i."""
    near = NearestNeighbors(radius=delta).fit(points)
    blocks = [
        near.radius_neighbors_graph(points[rows], mode="connectivity")
        for rows in chunk_slices(len(points), _NEIGHBOUR_CHUNK)
    ]
    return sparse.vstack(blocks, format="csr")


def _greedy_coverage(graph: sparse.csr_matrix, covered: np.ndarray, n: int, rng):
    """Greedy max coverage on a symmetric ball graph; (picks, first degrees, covered)."""
    covered = covered.copy()
    by_column = graph.tocsc()
    degrees = np.asarray(graph[:, ~covered].sum(axis=1)).ravel().astype(np.int64)
    first_degrees = degrees.copy()
    chosen = np.zeros(len(covered), dtype=bool)
    picks = []
    for _ in range(n):
        open_degrees = np.where(chosen, -1, degrees)
        pick = int(np.argmax(open_degrees))
        if open_degrees[pick] <= 0:  # all covered: the paper's random picks
            rest = np.flatnonzero(~chosen)
            picks.extend(rng.choice(rest, size=n - len(picks), replace=False).tolist())
            break
        picks.append(pick)
        chosen[pick] = True
        newly = graph.indices[graph.indptr[pick] : graph.indptr[pick + 1]]
        newly = newly[~covered[newly]]
        covered[newly] = True
        # Each newly covered row no longer counts for any ball holding it.
        degrees -= np.asarray(by_column[:, newly].sum(axis=1)).ravel().astype(np.int64)
    return np.asarray(picks, dtype=np.intp), first_degrees, covered
