"""How the backend orders and groups tasks for Label Studio.

Label Studio serves the lowest score first, and balances an annotator across
the ``cluster`` ids of the predictions.

One scoring pass, whatever the strategy: the strategy's first pick
(``learner.query(rows, n=1)``), then the other rows in the order of the
per-row ``scores_`` it computed on the way, when that pick is the extreme
of those scores (which tells the strategy's direction). A strategy without
per-row scores, or whose first pick is not its best score, ranks all the
rows itself (``query(rows, n=len(rows))``).

Cluster ids are carried from one model version to the next
(:func:`carry_cluster_ids`): k-means numbers its clusters afresh at every
refit, and Label Studio's balancing only means something while a task's id
names the same group of tasks.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["carry_cluster_ids", "rank_tasks"]


def rank_tasks(learner, X: np.ndarray) -> np.ndarray:
    """Each row's position in the strategy's ranking of ``X`` (0: label first).

    One scoring pass: the strategy's first pick, then the other rows in the
    order of the scores it gave them, when that pick is the extreme of its
    scores (the strategy's direction); otherwise the strategy ranks all.
    """
    ranks = np.zeros(len(X), dtype=np.int64)
    if len(X) == 0:
        return ranks
    first = learner.query(X, n=1)
    order = _order_by_scores(learner.query_strategy_, first[0], len(X))
    if order is None:
        order = learner.query(X, n=len(X)) if len(X) > 1 else first
    ranks[order] = np.arange(len(X))
    return ranks


def _order_by_scores(strategy, first: int, n_rows: int):
    scores = getattr(strategy, "scores_", None)
    candidates = getattr(strategy, "candidates_", None)
    if scores is None or candidates is None or np.ndim(scores) != 1:
        return None
    scores = np.asarray(scores, dtype=np.float64)
    where = np.flatnonzero(candidates == first)
    finite = scores[np.isfinite(scores)]
    if len(where) != 1 or len(finite) == 0 or not np.isfinite(scores[where[0]]):
        return None
    picked = scores[where[0]]
    if picked == finite.max():
        sign = -1.0
    elif picked == finite.min():
        sign = 1.0
    else:  # a pick that is not the best score: the strategy does more than sort
        return None
    key = np.full(n_rows, np.inf)
    key[candidates] = np.where(np.isfinite(scores), sign * scores, np.inf)
    key[first] = -np.inf
    return np.argsort(key, kind="stable")


def carry_cluster_ids(previous: dict, keys, labels, n_clusters: int) -> np.ndarray:
    """The id each of this version's clusters is served as: the old id it shares most rows with.

    Parameters
    ----------
    previous : dict
        ``{row key: id served by the previous version}`` for the labelled
        rows then (empty for the first version).
    keys : sequence
        This version's labelled rows' keys (a task id, or any hashable).
    labels : array-like of int
        This version's cluster of each of those rows, ``0 .. n_clusters - 1``.
    n_clusters : int

    Returns
    -------
    ids : ndarray of shape (n_clusters,)
        ``ids[c]`` is the id cluster ``c`` is served as. Clusters are matched
        one to one to previous ids by the Hungarian method, maximising the
        rows they share; a cluster with no counterpart takes the smallest id
        left free. Without a previous version, ``ids[c] = c``.

    Examples
    --------
    >>> carry_cluster_ids({"a": 5, "b": 5, "c": 2}, ["a", "b", "c"], [0, 0, 1], 2)
    array([5, 2])
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids = np.full(n_clusters, -1, dtype=np.int64)
    pairs = zip(keys, labels, strict=True)
    shared = [(label, previous[key]) for key, label in pairs if key in previous]
    if shared:
        old_ids = sorted({old for _, old in shared})
        overlap = np.zeros((n_clusters, len(old_ids)))
        column = {old: j for j, old in enumerate(old_ids)}
        for label, old in shared:
            overlap[label, column[old]] += 1
        rows, cols = linear_sum_assignment(-overlap)
        for row, col in zip(rows, cols, strict=True):
            if overlap[row, col] > 0:
                ids[row] = old_ids[col]
    taken = set(ids.tolist())
    free = (i for i in range(2 * n_clusters + len(previous)) if i not in taken)
    for cluster in np.flatnonzero(ids < 0):
        ids[cluster] = next(free)
    return ids
