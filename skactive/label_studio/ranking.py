"""How the backend ranks tasks for Label Studio, which serves the lowest score first.

One scoring pass, whatever the strategy: the strategy's first pick
(``learner.query(rows, n=1)``), then the other rows in the order of the
per-row ``scores_`` it computed on the way, when that pick is the extreme
of those scores (which tells the strategy's direction). A strategy without
per-row scores, or whose first pick is not its best score, ranks all the
rows itself (``query(rows, n=len(rows))``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["rank_tasks"]


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
