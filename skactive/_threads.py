"""How many threads the library's own torch and BLAS work runs on.

torch's intra-op pool and the BLAS pools are process-wide and sized for an
idle machine. Small networks on small images spend most of their time
synchronising those threads when they cannot all run at once: beside busy
programs on two cores, one arm of the demo took 288 s with torch's two
threads and 65 s with one. Each fit and each query therefore runs inside
:func:`library_threads`, which picks the thread count for that call (the
cores the process may use, less those other programs kept busy since the
previous call, at most what torch is set to), or takes
``config_context(n_threads=...)``, and puts torch's and BLAS's settings
back when the call returns. The picks and records of the 31-strategy
campaign fingerprint are the same with one thread and with two, but the
final weights differ in their last float32 bits (torch splits its sums by
thread): fix ``n_threads`` for bit-identical reruns on a machine whose load
varies.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator

import torch
from threadpoolctl import ThreadpoolController

from skactive.config import get_config

#: torch's thread count when skactive was imported (what benchmarks call its default).
TORCH_DEFAULT = torch.get_num_threads()
#: A busy measurement older than this is taken afresh.
_STALE_S = 30.0
#: The shortest window worth measuring (shorter: keep the last decision).
_MIN_WINDOW_S = 0.2
_PROBE_S = 0.05

_lock = threading.Lock()
_state = {"users": 0, "saved": None, "sample": None, "busy": 0.0, "blas": None}


def _blas() -> ThreadpoolController:
    # Searched again only when Python modules were imported since (a BLAS
    # comes with a module): a fresh search costs 2.5 ms a call.
    cached = _state["blas"]
    if cached is None or cached[0] != len(sys.modules):
        cached = _state["blas"] = (len(sys.modules), ThreadpoolController())
    return cached[1]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def read_cpu_seconds() -> tuple[float, float] | None:
    """(busy seconds since boot of the cores this process may use, its own CPU seconds).

    Only the cores of the process's affinity count: in a container pinned to
    2 of a host's 64 cores, the host's other 62 are not competing. None off
    Linux.
    """
    try:
        mine = os.sched_getaffinity(0)
        with open("/proc/stat") as stat:
            lines = [line.split() for line in stat if line.startswith("cpu")]
        busy = 0
        for name, *values in lines:
            if name == "cpu" or int(name[3:]) not in mine:
                continue
            fields = [int(v) for v in values]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            busy += sum(fields[:8]) - idle
    except (AttributeError, OSError, ValueError):
        return None
    return busy / os.sysconf("SC_CLK_TCK"), time.process_time()


def busy_elsewhere() -> float:
    """Cores other programs kept busy since the last call (measured afresh when stale)."""
    now, last = time.monotonic(), _state["sample"]
    if last is not None and now - last[0] < _MIN_WINDOW_S:
        return _state["busy"]
    reading = read_cpu_seconds()
    if reading is None:
        return 0.0
    if last is None or now - last[0] > _STALE_S:
        time.sleep(_PROBE_S)
        last, now, reading = (now, *reading), time.monotonic(), read_cpu_seconds()
    window = max(now - last[0], 1e-9)
    total, own = reading[0] - last[1], reading[1] - last[2]
    _state["busy"] = max(0.0, (total - own) / window)
    _state["sample"] = (now, *reading)
    return _state["busy"]


def choose_threads(n_workers: int = 1) -> int:
    """Threads per worker for the next piece of library work.

    ``config_context(n_threads=...)`` when set; otherwise the free cores
    (available less busy elsewhere, rounded), at most torch's current
    setting (``torch.set_num_threads``), at least one. ``n_workers``
    workers running at once share them.
    """
    requested = get_config()["n_threads"]
    if requested is None:
        free = available_cores() - busy_elsewhere()
        # Never more than torch is set to: a user who lowered it keeps that.
        requested = min(torch.get_num_threads(), max(1, int(free + 0.5)))
    return max(1, int(requested) // max(1, int(n_workers)))


@contextlib.contextmanager
def library_threads(n_workers: int = 1) -> Iterator[int]:
    """torch and BLAS limited to :func:`choose_threads` inside the block, restored after.

    Nested and concurrent blocks (a meta-strategy's inner query, the
    service's refit beside a ranking) share the outermost block's setting;
    the last to leave restores what the user had.
    """
    with _lock:
        if _state["users"] == 0:
            n_threads = choose_threads(n_workers)
            limits = _blas().limit(limits=n_threads, user_api="blas")
            _state["saved"] = (torch.get_num_threads(), limits, n_threads)
            torch.set_num_threads(n_threads)
        _state["users"] += 1
        n_threads = _state["saved"][2]
    try:
        yield n_threads
    finally:
        with _lock:
            _state["users"] -= 1
            if _state["users"] == 0:
                before, limits, _ = _state["saved"]
                torch.set_num_threads(before)
                limits.restore_original_limits()
                _state["saved"] = None
