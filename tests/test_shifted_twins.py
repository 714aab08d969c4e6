"""ShiftedTwins: shifted copies of the picks as training twins."""

import numpy as np
import pytest

from skactive import ActiveLearner

from .conftest import tiny_net


def test_shifted_twins_are_shifted_copies_with_their_source_label(digits_split):
    from skactive.strategies import ShiftedTwins

    X_init, y_init, X_pool, y_pool, *_ = digits_split
    images = np.arange(2 * 36, dtype=float).reshape(2, 1, 6, 6) + 1
    strategy = ShiftedTwins(max_shift=1, random_state=0)
    picks = strategy.select(None, images, 2)
    for twin, source in zip(strategy.extras_.twins, images[picks], strict=True):
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if (dy, dx) != (0, 0)
            and np.array_equal(
                twin[0, max(dy, 0) : 6 + min(dy, 0), max(dx, 0) : 6 + min(dx, 0)],
                source[0, max(-dy, 0) : 6 + min(-dy, 0), max(-dx, 0) : 6 + min(-dx, 0)],
            )
        ]
        assert matches, "a twin is its source moved by one pixel"
    learner = ActiveLearner(tiny_net(max_epochs=1), ShiftedTwins(), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, 5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_twins_) == 5
    np.testing.assert_array_equal(learner.y_twins_, y_pool[idx])
    with pytest.raises(ValueError, match=r"X_pool must hold images"):
        ShiftedTwins().select(None, X_pool.reshape(len(X_pool), -1), 2)
