"""Iterate over a pool in bounded chunks of rows, whatever holds the pool.

A pool may be an in-memory array, a ``numpy.memmap`` (e.g. from
``np.load(path, mmap_mode="r")``) larger than RAM, or a torch ``Dataset``.
Reading a chunk costs memory proportional to the chunk only: memmap rows are
read with positioned file reads instead of through the mapping, whose
touched pages would otherwise stay resident and grow the process to the
size of the file.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

import numpy as np

#: numpy.memmap modes whose mapping always shows the file's bytes.
_SHARED_MODES = ("r", "r+", "w+")


#: Rows read at once by a pass that only reads the pool (hashing rows, their
#: value range, finiteness): enough to amortise a memory-mapped read, few
#: enough to bound memory. Forward passes use the torch adapter's batch size.
READ_CHUNK = 4096


def chunk_slices(n_rows: int, chunk_size: int) -> Iterator[slice]:
    """Yield consecutive slices of at most ``chunk_size`` rows covering ``n_rows``."""
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


class RowView:
    """Read-only view of ``X[indices]`` that reads rows only when sliced.

    Lets an embedding or scoring loop walk a candidate subset of a pool
    (possibly a memmap) chunk by chunk without first copying the subset.
    """

    def __init__(self, X, indices):
        self.X, self.indices = X, np.asarray(indices, dtype=np.intp)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key):
        return take_rows(self.X, self.indices[key])


def take_rows(X, indices) -> np.ndarray:
    """Copy the rows ``indices`` (an index array or a slice) of ``X`` into memory.

    The copy is C-contiguous and in the machine's byte order, whatever the
    layout of ``X``: torch, and code that hands rows to torch, refuses
    negative strides and foreign byte orders.
    """
    if isinstance(indices, slice):
        indices = np.arange(*indices.indices(len(X)))
    indices = np.asarray(indices, dtype=np.intp)
    if isinstance(X, np.memmap):
        location = _file_location(X)
        if location is not None:
            return _native(_read_from_file(X, indices, *location))
    if len(indices) and np.all(np.diff(indices) == 1):
        # A contiguous range reads as one slice instead of a gather.
        return _native(np.ascontiguousarray(X[indices[0] : indices[-1] + 1]))
    return _native(np.ascontiguousarray(X[indices]))


def _native(rows: np.ndarray) -> np.ndarray:
    return canonical_strides(rows.astype(rows.dtype.newbyteorder("="), copy=False))


def canonical_strides(rows: np.ndarray) -> np.ndarray:
    """C-contiguous ``rows`` with C-order strides on every axis, a view (no copy).

    numpy leaves the stride of a size-1 axis arbitrary (a channel axis made
    by ``X[:, None]`` has stride 0, a gather of a view keeps another), and
    torch reads it: a (rows, 1, H, W) batch with such a stride looks
    ``channels_last`` and takes other CPU kernels, whose sums round
    differently. The same values then trained VAAL's VAE to other picks as
    a view or as a copy. Arrays that are not C-contiguous, and memmaps
    (read from their file, and kept as memmaps), are returned as they are.
    """
    if not isinstance(rows, np.ndarray) or isinstance(rows, np.memmap):
        return rows
    if not rows.flags.c_contiguous:
        return rows
    strides, step = [], rows.itemsize
    for size in reversed(rows.shape):
        strides.append(step)
        step *= size
    strides = tuple(reversed(strides))
    if rows.strides == strides:
        return rows
    return np.lib.stride_tricks.as_strided(
        rows, rows.shape, strides, writeable=rows.flags.writeable
    )


def _file_location(X: np.memmap):
    """(file name, byte offset of ``X[0]``) of a C-contiguous memmap, else None.

    None too for a copy-on-write mapping (``mode="c"``): the values it shows
    may differ from the bytes on disk, so it is read through the mapping.
    """
    mapping, filename = getattr(X, "_mmap", None), getattr(X, "filename", None)
    if mapping is None or filename is None or not X.flags.c_contiguous or X.ndim == 0:
        return None
    if getattr(X, "mode", None) not in _SHARED_MODES:
        return None
    try:
        map_start = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    except (TypeError, ValueError):
        return None
    # numpy maps from the offset rounded down to the allocation granularity;
    # ``X.offset`` is the file offset of the memmap the view came from.
    root_start = map_start + X.offset % mmap.ALLOCATIONGRANULARITY
    return filename, X.offset + (X.ctypes.data - root_start)


def _read_from_file(X: np.memmap, indices: np.ndarray, filename, offset: int) -> np.ndarray:
    row_bytes = X.itemsize * int(np.prod(X.shape[1:], dtype=np.int64))
    if len(indices) == 0:
        return np.empty((0, *X.shape[1:]), dtype=X.dtype)
    order = np.argsort(indices, kind="stable")
    wanted = indices[order]
    if wanted[0] < 0 or wanted[-1] >= len(X):
        raise IndexError(f"row index out of range for a pool of {len(X)} rows")
    out = np.empty((len(wanted), *X.shape[1:]), dtype=X.dtype)
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    # Consecutive rows are read in one call.
    breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
    fd = os.open(filename, os.O_RDONLY)
    try:
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(wanted)], strict=True):
            target = buffer[start * row_bytes : stop * row_bytes]
            position = offset + int(wanted[start]) * row_bytes
            while len(target):
                read = os.preadv(fd, [target], position)
                if read == 0:
                    raise OSError(f"{filename} ended before the pool's last row")
                target, position = target[read:], position + read
    finally:
        os.close(fd)
    result = np.empty_like(out)
    result[order] = out
    return result


class DatasetPool:
    """Read-only, array-like view of a torch ``Dataset`` as a pool of rows.

    ``dataset[i]`` may be the input itself or an ``(input, target)`` pair;
    only the input is used. Rows are fetched when a chunk is read.
    """

    def __init__(self, dataset):
        self.dataset = dataset
        first = self._row(0)
        self.shape = (len(dataset), *first.shape)
        self.dtype = first.dtype
        self.ndim = len(self.shape)

    def _row(self, i: int) -> np.ndarray:
        item = self.dataset[int(i)]
        if isinstance(item, tuple | list):
            item = item[0]
        if hasattr(item, "detach"):
            item = item.detach().cpu().numpy()
        return np.asarray(item)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, int | np.integer):
            return self._row(key)
        if isinstance(key, slice):
            key = np.arange(*key.indices(len(self)))
        return np.stack([self._row(i) for i in np.asarray(key)])
