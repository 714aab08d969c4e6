"""Iterate over a pool in bounded chunks of rows."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def chunk_slices(n_rows: int, chunk_size: int) -> Iterator[slice]:
    """Yield consecutive slices of at most ``chunk_size`` rows covering ``n_rows``."""
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def take_rows(X, indices: np.ndarray) -> np.ndarray:
    """Copy the rows ``indices`` of ``X`` into memory.

    Works the same for in-memory arrays and ``numpy.memmap`` pools: only the
    requested rows are read, so a chunk costs memory proportional to its size.
    """
    indices = np.asarray(indices)
    if len(indices) and np.all(np.diff(indices) == 1):
        # A contiguous range reads as one slice instead of a gather.
        return np.asarray(X[indices[0] : indices[-1] + 1])
    return np.asarray(X[indices])
