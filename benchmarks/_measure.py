"""Small helpers shared by the benchmarks: wall time and peak RSS of a call."""

from __future__ import annotations

import threading
import time

import psutil


def timed_peak_rss(fn, *, interval: float = 0.02):
    """Run ``fn()``; return (result, seconds, peak RSS in MiB during the call)."""
    process = psutil.Process()
    peak = process.memory_info().rss
    done = threading.Event()

    def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(interval)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
    return result, seconds, max(peak, process.memory_info().rss) / 2**20


def lenet_on_1000_rows(threads: int):
    """The benchmarks' common setting: LeNet5 trained 5 epochs on 1,000 random rows.

    Fashion-MNIST (digits when the Debian package is absent), torch seeded,
    ``threads`` torch threads. Returns ``(X, y, name, order, net)``: the
    first 1,000 positions of ``order`` are the training rows.
    """
    import numpy as np
    import torch
    from bench_deepfool import load_data

    from skactive.models import make_net

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X, y, name = load_data()
    order = np.random.RandomState(0).permutation(len(X))
    net = make_net("lenet5", image_size=X.shape[-1], max_epochs=5)
    net.fit(X[order[:1000]], y[order[:1000]])
    return X, y, name, order, net
