"""The pool rows a semi-supervised refit receives with scikit-learn's label -1."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from skactive._validation import row_key

#: scikit-learn's label for an unlabelled row (``SelfTrainingClassifier``,
#: ``LabelPropagation``).
UNLABELED = -1


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
