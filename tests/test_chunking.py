"""Pools larger than memory: memory-mapped files and torch Datasets."""

import numpy as np
import psutil
import pytest
import torch
from numpy.testing import assert_array_equal
from torch.utils.data import TensorDataset

from skactive import ActiveLearner
from skactive._chunking import DatasetPool, take_rows
from skactive.strategies import DFAL, EntropySampling

from .conftest import tiny_net


@pytest.fixture(scope="module")
def npy_pool(tmp_path_factory):
    path = tmp_path_factory.mktemp("pool") / "pool.npy"
    data = np.random.RandomState(0).rand(5000, 1, 8, 8).astype(np.float32)
    np.save(path, data)
    return path, data


def test_memmap_rows_equal_plain_indexing(npy_pool):
    path, data = npy_pool
    X = np.load(path, mmap_mode="r")
    rng = np.random.RandomState(1)
    for indices in (
        np.arange(10, 400),
        rng.choice(5000, 300, replace=False),
        np.array([4999, 0, 7, 8, 9, 3]),
        np.array([], dtype=int),
    ):
        assert_array_equal(take_rows(X, indices), data[indices])
    view = X[1000:3000]
    assert_array_equal(take_rows(view, np.array([0, 5, 1999])), data[[1000, 1005, 2999]])
    assert_array_equal(take_rows(X, slice(20, 30)), data[20:30])
    with pytest.raises(IndexError):
        take_rows(X, np.array([5000]))


def test_a_copy_on_write_memmap_is_scored_from_the_values_it_shows(npy_pool, digits_split):
    # mode="c" keeps writes in memory: the file still holds the old bytes.
    path, data = npy_pool
    shown = np.load(path, mmap_mode="c")
    shown /= 255
    assert_array_equal(take_rows(shown, np.array([3, 1, 2])), data[[3, 1, 2]] / 255)
    assert_array_equal(take_rows(shown[100:], np.arange(5)), data[100:105] / 255)
    X_init, y_init, X_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), random_state=0).fit(X_init, y_init)
    on_disk = path.with_name("scaled.npy")
    np.save(on_disk, X_pool * 255)
    scaled = np.load(on_disk, mmap_mode="c")
    scaled /= 255
    strategy = EntropySampling()
    strategy.select(learner, scaled, 5)
    reference = EntropySampling()
    reference.select(learner, np.asarray(scaled), 5)
    np.testing.assert_allclose(strategy.scores_, reference.scores_, rtol=1e-5)


def test_reversed_and_flipped_pools_are_read_in_order(npy_pool):
    _, data = npy_pool
    for view in (data[::-1], np.flip(data, axis=-1)):
        rows = take_rows(view, slice(0, 10))
        assert rows.flags.c_contiguous
        assert_array_equal(rows, view[:10])
        assert torch.equal(torch.as_tensor(rows), torch.as_tensor(np.array(view[:10])))


def test_scanning_a_memmap_keeps_memory_flat(tmp_path):
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(50_000, 1024))
    big[:] = 1.0
    big.flush()
    del big
    X = np.load(path, mmap_mode="r")  # 200 MB on disk
    process = psutil.Process()
    before = process.memory_info().rss
    total = 0.0
    for start in range(0, len(X), 2048):
        total += float(take_rows(X, np.arange(start, min(start + 2048, len(X)))).sum())
    grown = (process.memory_info().rss - before) / 2**20
    assert total == 50_000 * 1024
    assert grown < 50, f"RSS grew by {grown:.0f} MiB while scanning a 200 MiB memmap"


def test_learner_queries_a_memmap_and_a_dataset_like_an_array(npy_pool, digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=200), random_state=0)
    learner.fit(X_init, y_init)
    path, _ = npy_pool
    np.save(path.with_name("digits.npy"), X_pool)
    on_disk = np.load(path.with_name("digits.npy"), mmap_mode="r")
    dataset = TensorDataset(torch.as_tensor(X_pool), torch.as_tensor(y_pool))
    expected = learner.query(X_pool, 5)
    for pool in (on_disk, dataset):
        clone = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=200), random_state=0)
        clone.fit(X_init, y_init)
        assert_array_equal(clone.query(pool, 5), expected)
        # twins were recorded: teaching the rows adds them
        clone.teach(X_pool[expected], y_pool[expected])
        assert len(clone.y_twins_) > 0


def test_dataset_pool_validation(digits_split):
    X_pool = digits_split[2][:50]
    pool = DatasetPool(TensorDataset(torch.as_tensor(X_pool)))
    assert pool.shape == (50, 1, 8, 8) and len(pool) == 50
    assert_array_equal(pool[np.array([3, 1])], X_pool[[3, 1]])
    bad = X_pool.copy()
    bad[7, 0, 0, 0] = np.nan
    net = tiny_net(max_epochs=1).fit(digits_split[0], digits_split[1])
    with pytest.raises(ValueError, match=r"X_pool contains NaN or infinity \(first at row 7"):
        EntropySampling().select(net, TensorDataset(torch.as_tensor(bad)), 2)


def test_a_campaign_on_big_endian_rows(digits_split):
    # Arrays read from files written on other platforms can be big-endian,
    # which torch refuses to wrap; every path converts them.
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    swapped = X_pool.astype(">f4")
    learner = ActiveLearner(tiny_net(max_epochs=2), DFAL(max_iter=10), random_state=0)
    learner.fit(X_init.astype(">f4"), y_init)
    idx = learner.query(swapped, 4)
    learner.teach(swapped[idx], y_pool[idx])
    reference = ActiveLearner(tiny_net(max_epochs=2), DFAL(max_iter=10), random_state=0)
    reference.fit(X_init, y_init)
    assert_array_equal(idx, reference.query(X_pool, 4))
    assert learner.n_iter_ == 1 and len(learner.X_twins_) > 0


def test_canonical_strides_give_size_1_axes_c_order_strides_without_copying():
    from skactive._chunking import canonical_strides

    rows = np.arange(24, dtype=np.float32).reshape(3, 1, 2, 4)
    odd = np.lib.stride_tricks.as_strided(rows, rows.shape, (32, 0, 16, 4))  # X[:, None]-like
    fixed = canonical_strides(odd)
    assert fixed.strides == (32, 32, 16, 4) and np.shares_memory(fixed, rows)
    np.testing.assert_array_equal(fixed, rows)
    assert canonical_strides(rows) is rows  # already canonical: the same object
    reversed_rows = rows[::-1]
    assert canonical_strides(reversed_rows) is reversed_rows  # not C-contiguous: left alone
    read_only = np.lib.stride_tricks.as_strided(rows, rows.shape, (32, 0, 16, 4), writeable=False)
    assert not canonical_strides(read_only).flags.writeable  # never made writable
