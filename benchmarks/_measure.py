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
