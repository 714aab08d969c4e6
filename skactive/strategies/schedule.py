"""Schedule: one strategy while labels are few, another once they are many.

Which strategy wins depends on the budget: typical or random rows at first,
uncertainty or margins later (Hacohen, Dekel & Weinshall, "Active Learning
on a Budget: Opposite Strategies Suit High and Low Budgets", ICML 2022).
"""

from __future__ import annotations

import copy
import itertools
import numbers
from typing import ClassVar

import numpy as np
from sklearn.base import clone

from skactive._validation import check_random_state_param, draw_seed
from skactive.base import MetaStrategy, QueryStrategy
from skactive.param_validation import Constraint


def _phases_problem(phases) -> str:
    """What is wrong with ``phases`` ("" when nothing is)."""
    try:
        pairs = [(strategy, until) for strategy, until in phases]
    except (TypeError, ValueError):
        return "it is not a list of pairs"
    if not pairs or any(not isinstance(strategy, QueryStrategy) for strategy, _ in pairs):
        return "a phase's strategy is not a QueryStrategy" if pairs else "it is empty"
    untils = [until for _, until in pairs]
    if untils[-1] is not None:
        return f"the last phase must have until=None, got {untils[-1]!r}"
    bounded = untils[:-1]
    if any(isinstance(u, bool) or not isinstance(u, numbers.Integral) or u < 1 for u in bounded):
        return f"thresholds {untils} are not positive integers before a last None"
    if any(b <= a for a, b in itertools.pairwise(bounded)):
        return f"thresholds {bounded} do not increase"
    return ""


_PHASES = Constraint(
    lambda phases: not _phases_problem(phases),
    "a non-empty list of (QueryStrategy, until) pairs with increasing integer thresholds "
    "and until=None last",
    explain=_phases_problem,
)


class Schedule(MetaStrategy):
    """Switch strategies as the labelled set grows.

    ``phases`` is a list of ``(strategy, until)`` pairs: a phase is active
    while the labelled set holds fewer than ``until`` rows; the last phase
    has ``until=None`` and lasts for ever. ``Schedule([(TypiClust(), 300),
    (DFAL(), None)])`` queries with TypiClust below 300 labels, then with
    DFAL. The active phase's results and training extras (DFAL's twins) are
    forwarded as the schedule's own, and each phase keeps its own round
    state (CEAL's round count) between its rounds.

    Parameters
    ----------
    phases : list of (QueryStrategy, int or None)
        Strategies with increasing ``until`` thresholds, the last ``None``.
    random_state : int, RandomState instance or None, default=None
        When set, seeds every phase's strategy (a different seed per phase).

    Attributes
    ----------
    active_phase_ : int
        Position in ``phases`` of the strategy used by the last ``select``.
    phase_strategies_ : list of QueryStrategy
        Each phase's strategy, with the state of its last round.
    candidates_, scores_, indices_, extras_
        Those of the active phase's strategy.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {"phases": [_PHASES]}

    def __init__(self, phases, *, random_state=None):
        self.phases = phases
        self.random_state = random_state

    def inner_strategies(self) -> list:
        """Each phase's strategy (see :meth:`MetaStrategy.inner_strategies`)."""
        return [strategy for strategy, _ in self.phases]

    def select(self, estimator, X_pool, n: int, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Select with the phase that the labelled set's size makes active.

        See :meth:`QueryStrategy.select`; ``X_labeled=None`` counts as no
        labelled rows.
        """
        self.check_params()
        phases = list(self.phases)
        rng = check_random_state_param(self.random_state)
        n_labeled = 0 if X_labeled is None else len(X_labeled)
        active = next(
            i for i, (_, until) in enumerate(phases) if until is None or n_labeled < until
        )
        strategies = getattr(self, "phase_strategies_", None)
        if strategies is None or len(strategies) != len(phases):
            strategies = [clone(strategy) for strategy, _ in phases]
        inner = copy.copy(strategies[active])
        if self.random_state is not None and "random_state" in inner.get_params():
            seeds = draw_seed(rng, size=len(phases))
            inner.set_params(random_state=int(seeds[active]))
        indices = inner.select(estimator, X_pool, n, X_labeled=X_labeled, y_labeled=y_labeled)
        # Assigned only after the phase's strategy succeeded.
        self.phase_strategies_ = [*strategies[:active], inner, *strategies[active + 1 :]]
        self.active_phase_ = active
        self.take_over(inner)
        return indices
