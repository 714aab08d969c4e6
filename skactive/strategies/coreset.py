"""Core-set selection: k-center greedy and the robust k-center MIP.

Reference: O. Sener and S. Savarese, "Active Learning for Convolutional
Neural Networks: A Core-Set Approach", ICLR 2018.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import ClassVar

import numpy as np
from scipy import sparse

from skactive import _torch
from skactive._chunking import RowView, chunk_slices
from skactive._inference import embed_rows, unit_rows
from skactive._validation import MAX_SEED, check_n, draw_seed
from skactive.base import QueryStrategy, StrategyTags
from skactive.param_validation import BOOLEAN, Constraint, integer, options, real

_METHODS = ("greedy", "mip")
_DISTANCE_CHUNK = 2048
_BLOCK_ENTRIES = 4_000_000


def min_distances(points: np.ndarray, centers: np.ndarray, *, chunk_size: int = _DISTANCE_CHUNK):
    """Euclidean distance from each point to its nearest center.

    Computed block by block (``chunk_size`` x ``chunk_size`` at most), so no
    points x centers matrix is ever held; squared distances are clamped at
    zero before the square root.

    Returns
    -------
    distances : ndarray of shape (n_points,)
        ``inf`` for every point when ``centers`` is empty.
    """
    out = np.full(len(points), np.inf)
    if len(centers) == 0:
        return out
    sq_centers = np.einsum("ij,ij->i", centers, centers)
    for rows in chunk_slices(len(points), chunk_size):
        block = points[rows]
        sq_block = np.einsum("ij,ij->i", block, block)
        best = np.full(len(block), np.inf)
        for cols in chunk_slices(len(centers), chunk_size):
            sq = sq_block[:, None] + sq_centers[None, cols] - 2.0 * block @ centers[cols].T
            best = np.minimum(best, sq.min(axis=1))
        out[rows] = np.sqrt(np.maximum(best, 0.0))
    return out


def k_center_greedy(
    points: np.ndarray, centers: np.ndarray, n: int, *, rng=None, chunk_size: int = _DISTANCE_CHUNK
):
    """Farthest-first traversal: pick ``n`` points, each farthest from all centers so far.

    Keeps one O(n_points) vector of distances to the nearest center and
    updates it after every pick.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
        Candidate points.
    centers : ndarray of shape (n_centers, n_dims)
        Fixed centers (the labelled set); may be empty, then the first pick
        is drawn from ``rng``.
    n : int
        Number of picks.
    rng : numpy.random.RandomState, optional

    Returns
    -------
    picks : ndarray of shape (n,)
        Positions into ``points``, in pick order.
    pick_distances : ndarray of shape (n,)
        Distance of each pick to its nearest center when it was picked.
    radius : float
        Covering radius after the picks: the largest distance from a point
        to its nearest center.
    """
    n = check_n(n, len(points), what="the points")
    nearest = min_distances(points, centers, chunk_size=chunk_size)
    squared = np.einsum("ij,ij->i", points, points)
    picks = np.empty(n, dtype=np.intp)
    pick_distances = np.empty(n)
    # Duplicates (or rows on a center) tie at distance 0; masking the picked
    # rows keeps the picks distinct where argmax alone would repeat one.
    available = np.ones(len(points), dtype=bool)
    for t in range(n):
        if np.isinf(nearest).all():
            pick = int((rng or np.random.RandomState(0)).randint(len(points)))
        else:
            pick = int(np.argmax(np.where(available, nearest, -1.0)))
        picks[t], pick_distances[t] = pick, nearest[pick]
        available[pick] = False
        # Squared norms are computed once; each pick costs one matrix-vector product.
        d2 = squared + squared[pick] - 2.0 * (points @ points[pick])
        nearest = np.minimum(nearest, np.sqrt(np.maximum(d2, 0.0)))
    return picks, pick_distances, float(nearest.max())


class CoreSet(QueryStrategy):
    """Select rows that best cover the pool in the network's embedding space.

    Rows are embedded by the network (the input of its last linear layer by
    default, as in the paper) and compared by Euclidean distance. The
    labelled rows are fixed centers; ``n`` new centers are chosen among the
    candidates so that every candidate is close to some center.

    * ``method="greedy"``: k-center greedy (a 2-approximation of the
      k-center problem).
    * ``method="mip"``: the paper's robust k-center. Starting from the
      greedy solution and its radius ``r``, the radius is bisected over the
      actual distances in ``[r/2, r]`` (``[0, r]`` with outliers); at each
      radius a feasibility MIP on OR-Tools CP-SAT asks for ``n`` centers
      covering every candidate within the radius, except at most
      ``outliers`` of them, warm-started from the greedy picks. Only pairs
      closer than ``r`` enter the model. A solve that hits ``time_limit``
      counts as infeasible.

    Parameters
    ----------
    method : {"greedy", "mip"}, default="greedy"
    layer : str, default=None
        Name of the submodule whose output is the embedding (None: the
        input of the last ``nn.Linear``).
    normalize : bool, default=False
        Scale every embedding to unit Euclidean norm first, so distances
        compare directions only (cosine geometry). Penultimate ReLU features
        grow in norm as a net becomes confident, and the raw metric then
        favours the rows with the largest activations.
    outliers : int, default=0
        Candidates the MIP may leave uncovered (the published code fixes
        this to zero silently; here it is explicit).
    time_limit : float, default=5.0
        Per-solve limit of the MIP, in CP-SAT's deterministic time units
        (about seconds), so results are reproducible; a wall-clock guard of
        three times as long also applies.
    max_bisections : int, default=10
        Radius bisection steps of the MIP.
    max_pairs : int, default=30_000_000
        The MIP holds every pair of candidates closer than the greedy radius
        (16 bytes each). Past this many, it warns and keeps the greedy
        solution; lower ``candidates`` for large pools.
    candidates : int, default=None
        Consider only a random subset of this many pool rows (None: all).
    batch_size : int, default=None
        Rows per embedding pass (None: 128 on CPU, 1024 on a GPU).
    embedding : callable, default=None
        ``f(rows) -> (n_rows, n_dims)``, used instead of the network (then
        any estimator works, or none), such as a pretrained
        :class:`~skactive.embeddings.Embedding`.
    random_state : int, RandomState instance or None, default=None
        Seed of the candidate subset, of the first pick when there is no
        labelled set, and of CP-SAT.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Distance of every candidate to the nearest labelled row.
    greedy_radius_ : float
        Covering radius of the greedy solution.
    radius_ : float
        Covering radius of the returned solution (the MIP's radius, never
        larger than the greedy one; equal to it for ``method="greedy"``).
    mip_solves_ : list of dict
        For ``method="mip"``: ``radius``, ``status`` and ``seconds`` of every
        solve.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "method": [options(*_METHODS)],
        "normalize": [BOOLEAN],
        "outliers": [integer(0)],
        "time_limit": [real(0.0, low_open=True)],
        "max_bisections": [integer(1)],
        "max_pairs": [integer(1)],
        "embedding": [None, Constraint(callable, "a callable mapping rows to vectors")],
    }

    def __init__(
        self,
        *,
        method: str = "greedy",
        layer: str | None = None,
        normalize: bool = False,
        outliers: int = 0,
        time_limit: float = 5.0,
        max_bisections: int = 10,
        max_pairs: int = 30_000_000,
        candidates: int | None = None,
        batch_size: int | None = None,
        embedding=None,
        random_state=None,
    ):
        self.method = method
        self.layer = layer
        self.normalize = normalize
        self.outliers = outliers
        self.time_limit = time_limit
        self.max_bisections = max_bisections
        self.max_pairs = max_pairs
        self.candidates = candidates
        self.batch_size = batch_size
        self.embedding = embedding
        self.random_state = random_state

    def __skactive_tags__(self) -> StrategyTags:
        # With an embedding, no model is needed (the very first query).
        return replace(super().__skactive_tags__(), requires_estimator=self.embedding is None)

    def prepare(self, estimator):
        if self.embedding is not None:
            return self.embedding
        network = _torch.find_network(estimator, what=type(self).__name__)
        _torch.find_layer(network.module, self.layer)  # fail early on a bad name
        return network

    def _embed(self, network, X) -> np.ndarray:
        points = embed_rows(network, X, layer=self.layer, batch_size=self.batch_size)
        return unit_rows(points) if self.normalize else points

    def rank_candidates(self, network, X_pool, candidates, n, rng, X_labeled=None, y_labeled=None):
        points = self._embed(network, RowView(X_pool, candidates))
        centers = (
            np.empty((0, points.shape[1])) if X_labeled is None else self._embed(network, X_labeled)
        )
        picks, _, radius = k_center_greedy(points, centers, n, rng=rng)
        self.greedy_radius_ = self.radius_ = radius
        self.mip_solves_ = []
        scores = min_distances(points, centers)
        if self.method == "mip":
            if self.outliers >= len(points):
                raise ValueError(
                    f"outliers={self.outliers} must be smaller than the number of "
                    f"candidates ({len(points)}): the MIP could leave every row uncovered"
                )
            picks, self.radius_, self.mip_solves_ = robust_k_center(
                points,
                centers,
                n,
                picks,
                radius,
                outliers=int(self.outliers),
                time_limit=float(self.time_limit),
                max_bisections=int(self.max_bisections),
                max_pairs=int(self.max_pairs),
                seed=draw_seed(rng),
            )
        return picks, scores


def robust_k_center(
    points,
    centers,
    n,
    greedy_picks,
    greedy_radius,
    *,
    outliers=0,
    time_limit=5.0,
    max_bisections=10,
    max_pairs=30_000_000,
    seed=0,
):
    """The robust k-center MIP of Sener & Savarese, by radius bisection on CP-SAT.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
        Candidates (possible new centers, and the points to cover).
    centers : ndarray of shape (n_centers, n_dims)
        Fixed centers (the labelled set).
    n : int
        New centers to choose.
    greedy_picks : ndarray of shape (n,)
        A feasible solution at ``greedy_radius`` (the warm start).
    greedy_radius : float
    outliers : int
        Points allowed to stay uncovered.
    time_limit : float
        Deterministic-time limit per solve (about seconds).
    max_bisections : int
    max_pairs : int
        Largest number of point pairs within the greedy radius the model may
        hold; beyond it the greedy solution is returned with a warning.
    seed : int

    Returns
    -------
    picks : ndarray of shape (n,)
        Positions into ``points``, farthest from the labelled set first.
    radius : float
        Smallest radius found feasible (``greedy_radius`` if none was).
    solves : list of dict
    """
    import time

    from ortools.sat.python import cp_model

    to_fixed = min_distances(points, centers)
    try:
        neighbours = _pairs_within(points, greedy_radius, max_pairs)
    except _TooManyPairsError:
        warnings.warn(
            f"CoreSet(method='mip'): more than max_pairs={max_pairs} pairs of points lie "
            "within the greedy radius, so the MIP would not fit in memory or time; "
            "returning the greedy solution (use candidates= to shrink the problem)",
            UserWarning,
            stacklevel=4,
        )
        order = np.argsort(-to_fixed[greedy_picks], kind="stable")
        return np.asarray(greedy_picks)[order], float(greedy_radius), []
    lower = greedy_radius / 2.0 if outliers == 0 else 0.0
    radii = np.unique(np.concatenate([neighbours.data, to_fixed[np.isfinite(to_fixed)]]))
    radii = radii[(radii >= lower) & (radii < greedy_radius)]

    best_picks, best_radius, solves = np.asarray(greedy_picks), float(greedy_radius), []
    hint = np.zeros(len(points), dtype=bool)
    hint[best_picks] = True
    lo, hi = 0, len(radii)  # radii[hi] would be the greedy radius: known feasible
    for _ in range(max_bisections):
        if lo >= hi:
            break
        mid = (lo + hi) // 2
        radius = float(radii[mid])
        start = time.perf_counter()
        status, chosen = _solve_cover(
            neighbours, to_fixed, radius, n, outliers, hint, time_limit, seed, cp_model
        )
        solves.append({"radius": radius, "status": status, "seconds": time.perf_counter() - start})
        if chosen is not None:
            hi, best_picks, best_radius = mid, chosen, radius
            hint[:] = False
            hint[chosen] = True
        else:
            lo = mid + 1
    order = np.argsort(-to_fixed[best_picks], kind="stable")
    return best_picks[order], best_radius, solves


class _TooManyPairsError(Exception):
    pass


def _pairs_within(points: np.ndarray, radius: float, max_pairs: int) -> sparse.csr_matrix:
    """Sparse matrix of pairwise distances <= radius (the diagonal included).

    Raises ``_TooManyPairsError`` as soon as more than ``max_pairs`` are found.
    """
    rows, cols, dists = [], [], []
    n_pairs = 0
    sq = np.einsum("ij,ij->i", points, points)
    # Blocks of at most ~4M distances (32 MB), whatever the number of points.
    for block in chunk_slices(len(points), max(1, _BLOCK_ENTRIES // len(points))):
        d2 = sq[block, None] + sq[None, :] - 2.0 * points[block] @ points.T
        d = np.sqrt(np.maximum(d2, 0.0))
        d[np.arange(d.shape[0]), np.arange(block.start, block.stop)] = 0.0
        r, c = np.nonzero(d <= radius)
        n_pairs += len(r)
        if n_pairs > max_pairs:
            raise _TooManyPairsError(n_pairs)
        rows.append((r + block.start).astype(np.int32))
        cols.append(c.astype(np.int32))
        dists.append(d[r, c])
    data = np.concatenate(dists)
    # Store distance + 1 so that zero distances survive as explicit entries.
    matrix = sparse.csr_matrix(
        (data + 1.0, (np.concatenate(rows), np.concatenate(cols))), shape=(len(points), len(points))
    )
    matrix.data -= 1.0
    return matrix


def _solve_cover(neighbours, to_fixed, radius, n, outliers, hint, time_limit, seed, cp_model):
    """Is there a choice of n centers covering all but ``outliers`` points within radius?"""
    model = cp_model.CpModel()
    use = [model.new_bool_var(f"u{j}") for j in range(neighbours.shape[0])]
    model.add(sum(use) == n)
    slack = []
    indptr, indices, data = neighbours.indptr, neighbours.indices, neighbours.data
    for i in np.flatnonzero(to_fixed > radius):  # others are covered by the labelled set
        cols = indices[indptr[i] : indptr[i + 1]][data[indptr[i] : indptr[i + 1]] <= radius]
        literals = [use[j] for j in cols]
        if outliers:
            slack.append(model.new_bool_var(f"o{i}"))
            literals.append(slack[-1])
        model.add_bool_or(literals)
    if slack:
        model.add(sum(slack) <= outliers)
    for j, value in enumerate(hint):
        model.add_hint(use[j], bool(value))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed % MAX_SEED
    solver.parameters.max_deterministic_time = time_limit
    solver.parameters.max_time_in_seconds = 3.0 * time_limit
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = np.array([j for j, u in enumerate(use) if solver.value(u)], dtype=np.intp)
        return solver.status_name(status), chosen
    return solver.status_name(status), None


class FarthestFirst(CoreSet):
    """Farthest-first traversal of the net's embedding, from the labelled set.

    The geometry baseline of Geifman & El-Yaniv: each pick is the candidate
    farthest (Euclidean, penultimate layer) from every labelled row and
    every earlier pick. It is the same algorithm as
    ``CoreSet(method="greedy")`` (Sener & Savarese's k-center greedy,
    developed concurrently) and runs the same code; this class only fixes
    the method and names the baseline as the paper does.

    Reference: Y. Geifman and R. El-Yaniv, "Deep Active Learning over the
    Long Tail", arXiv:1711.00941, 2017.

    Parameters
    ----------
    layer : str, default=None
        Submodule whose output is the embedding (None: the input of the last
        ``nn.Linear``).
    normalize : bool, default=False
        Unit-norm embeddings first (see :class:`CoreSet`).
    candidates : int, default=None
        Consider only a random subset of this many pool rows (None: all).
    batch_size : int, default=None
        Rows per embedding pass (None: 128 on CPU, 1024 on a GPU).
    embedding : callable, default=None
        Used instead of the network (see :class:`CoreSet`).
    random_state : int, RandomState instance or None, default=None
        Seed of the candidate subset and of the first pick when there is no
        labelled set.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Distance of every candidate to the nearest labelled row.
    radius_ : float
        Largest distance from a candidate to its nearest center after the picks.
    """

    method = "greedy"
    outliers = 0
    time_limit = 5.0
    max_bisections = 10
    max_pairs = 30_000_000

    def __init__(
        self,
        *,
        layer: str | None = None,
        normalize: bool = False,
        candidates: int | None = None,
        batch_size: int | None = None,
        embedding=None,
        random_state=None,
    ):
        self.layer = layer
        self.normalize = normalize
        self.candidates = candidates
        self.batch_size = batch_size
        self.embedding = embedding
        self.random_state = random_state
