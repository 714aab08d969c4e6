"""Random sampling, the baseline every strategy must beat."""

from __future__ import annotations

from dataclasses import replace

from skactive.base import QueryStrategy, StrategyTags


class RandomSampling(QueryStrategy):
    """Select pool rows uniformly at random.

    Parameters
    ----------
    candidates : int, default=None
        Draw from a random subset of this many pool rows (None: the whole
        pool). Kept for a uniform interface; it does not change the
        distribution of the picks.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : None
        Random sampling does not score rows.
    """

    def __init__(self, *, candidates: int | None = None, random_state=None):
        self.candidates = candidates
        self.random_state = random_state

    def __skactive_tags__(self) -> StrategyTags:
        # Random picks need no model: select(None, X_pool, n) works.
        return replace(super().__skactive_tags__(), requires_estimator=False)

    def rank_candidates(self, model, X_pool, candidates, n, rng, **labeled):
        return rng.choice(len(candidates), size=n, replace=False), None
