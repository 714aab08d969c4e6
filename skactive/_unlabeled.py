"""The pool rows a semi-supervised refit receives with scikit-learn's label -1."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from skactive._validation import row_key
from skactive.param_validation import check_estimator_params

#: scikit-learn's label for an unlabelled row (``SelfTrainingClassifier``,
#: ``LabelPropagation``).
UNLABELED = -1


def has_unlabeled(y) -> bool:
    """Whether the targets ``y`` mark some row unlabelled (``-1``)."""
    y = np.asarray(y) if y is not None else None
    return y is not None and y.ndim == 1 and bool(np.any(y == UNLABELED))


class UnlabeledRowsFit:
    """``fit``/``partial_fit`` for a skorch classifier that also learns from ``-1`` rows.

    Without ``-1`` rows both are skorch's own. With them, ``fit`` initialises
    the net (unless ``warm_start`` and already initialised) and calls the
    subclass's ``_fit_unlabeled(X, y, warm=False)``; ``partial_fit`` (a warm
    ``ActiveLearner`` refit) calls it with ``warm=True``. Put it before the
    skorch class in the bases.
    """

    def fit(self, X, y=None, **fit_params):
        """Train on the labelled rows and the ``-1`` rows; skorch's fit without ``-1`` rows."""
        if not has_unlabeled(y):
            return super().fit(X, y, **fit_params)
        if not self.warm_start or not self.initialized_:
            self.initialize()
        return self._fit_unlabeled(X, np.asarray(y), warm=False, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train on from the current weights, learning from ``-1`` rows when ``y`` has some."""
        if not has_unlabeled(y):
            return super().partial_fit(X, y, classes=classes, **fit_params)
        if not self.initialized_:
            self.initialize()
        return self._fit_unlabeled(X, np.asarray(y), warm=True, **fit_params)

    #: Why the subclass refuses a ``train_split`` (said in the error).
    no_split_reason = "a validation split would take rows from the labelled set"

    def _check_unlabeled_params(self) -> None:
        """Validate the parameters; a validation split is refused."""
        check_estimator_params(self)
        if self.train_split is not None:
            raise ValueError(
                f"train_split must be None for {type(self).__name__}: {self.no_split_reason}"
            )

    def _rows_to_fit(self, y: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
        """The labelled rows and the ``-1`` rows to learn from, positions in ``y``.

        At most ``max_unlabeled`` ``-1`` rows, drawn with ``rng`` and kept in
        pool order. ValueError if no row is labelled.
        """
        labeled = np.flatnonzero(y != UNLABELED)
        if len(labeled) == 0:
            raise ValueError(f"y: every label is -1; {type(self).__name__} needs labelled rows")
        unlabeled = np.flatnonzero(y == UNLABELED)
        if self.max_unlabeled is not None and len(unlabeled) > self.max_unlabeled:
            unlabeled = np.sort(rng.choice(unlabeled, self.max_unlabeled, replace=False))
        return labeled, unlabeled


class UnlabeledPool:
    """A reference to the pool (never a copy) and which of its rows are still unlabelled.

    Rows are matched by content, as the learner matches taught rows, so a
    row the oracle labels leaves the pool whichever array it was taught
    from; every copy of a duplicated row leaves with it. The content index
    is built on the first removal and shared by the pools derived from
    this one.

    Parameters
    ----------
    rows : ndarray or numpy.memmap of shape (n_pool, ...)
    """

    def __init__(self, rows):
        self.rows = rows
        self.keep = np.ones(len(rows), dtype=bool)
        self._index: dict | None = None

    def __len__(self) -> int:
        return int(self.keep.sum())

    def without(self, rows) -> UnlabeledPool:
        """A new pool, sharing this one's rows, minus every row equal to one of ``rows``."""
        out = UnlabeledPool.__new__(UnlabeledPool)
        out.rows, out.keep, out._index = self.rows, self.keep.copy(), self._index
        if len(rows) == 0 or not out.keep.any():
            return out
        index = self._content_index()
        out._index = index
        for row in rows:
            out.keep[index.get(row_key(row), [])] = False
        return out

    def unlabeled_rows(self) -> np.ndarray:
        """The rows still unlabelled, as an array (a copy only of those rows)."""
        if self.keep.all():
            return np.asarray(self.rows)
        return np.asarray(self.rows[np.flatnonzero(self.keep)])

    def _content_index(self) -> dict:
        if self._index is None:
            index = defaultdict(list)
            for position in range(len(self.rows)):
                index[row_key(self.rows[position])].append(position)
            self._index = dict(index)
        return self._index
