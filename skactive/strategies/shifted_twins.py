"""ShiftedTwins: a control for DFAL's twins, made by ordinary augmentation.

DFAL trains on two rows per label (a queried row and its adversarial twin),
so part of its lead may be the extra rows rather than the selection. This
meta-strategy gives any strategy the same number of extra rows through the
most ordinary image augmentation, a small random shift.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from skactive._validation import check_random_state_param
from skactive.base import STRATEGY, MetaStrategy, TrainingExtras
from skactive.param_validation import integer
from skactive.strategies.random import RandomSampling


class ShiftedTwins(MetaStrategy):
    """Select with ``strategy``, and give each selected image a shifted twin.

    Each twin is its row translated by a random ``(dy, dx)`` with
    ``|dy|, |dx| <= max_shift`` (not both 0), zero-filled at the border,
    and is trained on with the oracle's label of its source: the same
    hand-over as DFAL's adversarial twins. ``ShiftedTwins()`` is random
    sampling with augmentation twins, the control that shows how much of
    DFAL's lead comes from training on twice as many rows.

    Parameters
    ----------
    strategy : QueryStrategy, default=None
        What selects the rows (None: random sampling).
    max_shift : int, default=2
        Largest shift in pixels.
    candidates : int, default=None
        Passed to the inner strategy (when it takes ``candidates``).
    random_state : int, RandomState instance or None, default=None
        Seeds the shifts and the inner strategy.

    Attributes
    ----------
    strategy_ : QueryStrategy
        The inner strategy as used in the last ``select``.
    candidates_, scores_, indices_
        The inner strategy's.
    extras_ : TrainingExtras
        The shifted twins (one per selected row).
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "strategy": [None, STRATEGY],
        "max_shift": [integer(1)],
    }

    def __init__(
        self, strategy=None, *, max_shift: int = 2, candidates: int | None = None, random_state=None
    ):
        self.strategy = strategy
        self.max_shift = max_shift
        self.candidates = candidates
        self.random_state = random_state

    def select(self, estimator, X_pool, n: int, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Select with the inner strategy, then shift copies of the picks."""

        self.check_params()
        rng = check_random_state_param(self.random_state)
        if np.ndim(X_pool) != 4:
            raise ValueError(
                f"X_pool must hold images of shape (n, channels, height, width) to be "
                f"shifted, got shape {np.shape(X_pool)}"
            )
        inner = self.seeded_clone(RandomSampling() if self.strategy is None else self.strategy, rng)
        if self.candidates is not None and "candidates" in inner.get_params():
            inner.set_params(candidates=self.candidates)
        indices = inner.select(estimator, X_pool, n, X_labeled=X_labeled, y_labeled=y_labeled)
        twins = _shifted(np.asarray(X_pool)[indices], int(self.max_shift), rng)
        self.strategy_ = inner
        self.take_over(
            inner,
            indices=indices,
            extras=TrainingExtras(twins=twins, twin_sources=np.arange(len(indices))),
        )
        return indices


def _shifted(images: np.ndarray, max_shift: int, rng) -> np.ndarray:
    """Each image moved by its own random (dy, dx), not both zero, zero-filled."""
    out = np.zeros_like(images)
    height, width = images.shape[2:]
    for i, image in enumerate(images):
        dy = dx = 0
        while dy == 0 and dx == 0:
            dy, dx = rng.randint(-max_shift, max_shift + 1, size=2)
        rows = slice(max(dy, 0), height + min(dy, 0))
        cols = slice(max(dx, 0), width + min(dx, 0))
        src_rows = slice(max(-dy, 0), height + min(-dy, 0))
        src_cols = slice(max(-dx, 0), width + min(-dx, 0))
        out[i, :, rows, cols] = image[:, src_rows, src_cols]
    return out
