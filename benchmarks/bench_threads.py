"""Threads on a shared machine: the library's work, idle and beside busy programs.

Each workload runs with torch and BLAS limited to 1 thread, to torch's
default (2 on a 2-core machine: what skactive did before it chose), and
with skactive's per-call choice (``n_threads="auto"``, the default), first
on an idle machine, then beside ``--busy`` CPU-bound processes that this
script starts and stops. It prints one table of seconds and each setting's
ratio to the best of its row, and appends every measurement to ``--csv``
(a row already there is not measured again, so an interrupted run resumes).

Workloads (LeNet5 and VGG8 from :mod:`skactive.models`; Fashion-MNIST from
Debian's ``dataset-fashion-mnist``, digits where it is absent):

* ``fit LeNet5 8x8``, ``fit LeNet5 28x28``, ``fit VGG8 28x28``: an
  ``ActiveLearner`` fit (what every round and the service's refit do);
* ``entropy query``, ``DFAL query``, ``BALD query``: a LeNet5 28x28 query;
* ``SimCLR epoch``: one epoch of :func:`~skactive.pretraining.pretrain_contrastive`;
* ``demo arm``: ``python -m skactive demo --strategies random --seeds 1``
  in a subprocess (with ``--demo``; the thread setting goes through
  ``SKACTIVE_N_THREADS``).

Usage::

    python benchmarks/bench_threads.py [--busy 4] [--repeats 2] [--demo]
        [--csv benchmarks/threads.csv]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skactive import ActiveLearner, config_context  # noqa: E402
from skactive._threads import TORCH_DEFAULT  # noqa: E402
from skactive.datasets import DATASETS, load_digits_images  # noqa: E402
from skactive.experiments.records import append_rows  # noqa: E402
from skactive.models import make_net_for  # noqa: E402
from skactive.pretraining import pretrain_contrastive  # noqa: E402
from skactive.strategies import BALD, DFAL, EntropySampling, RandomSampling  # noqa: E402

SETTINGS = {"1 thread": 1, f"{TORCH_DEFAULT} (torch default)": TORCH_DEFAULT, "auto": "auto"}
FIELDS = ["condition", "workload", "setting", "seconds"]


def fashion(n_rows: int, seed: int = 0):
    try:
        X, y, *_ = DATASETS["fashion-mnist"]()
    except (FileNotFoundError, OSError):
        X, y = load_digits_images()
    rows = np.random.RandomState(seed).choice(len(X), n_rows, replace=False)
    return X[rows].astype(np.float32), y[rows]


def _fit(architecture, X, y, epochs):
    net = make_net_for(architecture, X, y, max_epochs=epochs)
    learner = ActiveLearner(net, query_strategy=RandomSampling(), random_state=0)
    return lambda: learner.fit(X, y)


def _query(strategy, X_train, y_train, X_pool):
    net = make_net_for("lenet5", X_train, y_train, max_epochs=2).fit(X_train, y_train)
    return lambda: strategy.select(net, X_pool, 10)


def workloads() -> dict:
    X8, y8 = load_digits_images()
    X8, y8 = X8[:500].astype(np.float32), y8[:500]
    X, y = fashion(500)
    pool, _ = fashion(5000, seed=1)
    simclr_net = make_net_for("lenet5", X, y)
    return {
        "fit LeNet5 8x8": _fit("lenet5", X8, y8, 5),
        "fit LeNet5 28x28": _fit("lenet5", X, y, 3),
        "fit VGG8 28x28": _fit("vgg8", X[:300], y[:300], 1),
        "entropy query": _query(EntropySampling(), X, y, pool),
        "DFAL query": _query(DFAL(random_state=0), X, y, pool[:1000]),
        "BALD query": _query(BALD(n_samples=10, random_state=0), X, y, pool[:2000]),
        "SimCLR epoch": lambda: pretrain_contrastive(
            simclr_net, pool[:1024], n_epochs=1, random_state=0
        ),
    }


def time_in_process(work, setting, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        with config_context(n_threads=setting):
            start = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - start)
    return best


def time_demo(setting) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "skactive", "demo", "--strategies", "random"]
        command += ["--seeds", "1", "--no-progress", "--output-dir", out]
        env = dict(os.environ, SKACTIVE_N_THREADS=str(setting), PYTHONPATH=str(ROOT))
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - start


@contextlib.contextmanager
def busy_processes(n: int):
    """``n`` CPU-bound processes for the block's duration, stopped by their PIDs."""
    spin = [sys.executable, "-c", "while True: pass"]
    processes = [subprocess.Popen(spin) for _ in range(n)]
    try:
        time.sleep(1.0)  # let the scheduler see them
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


def read_done(path: Path) -> dict:
    if not path.is_file():
        return {}
    with path.open() as stream:
        return {
            (r["condition"], r["workload"], r["setting"]): float(r["seconds"])
            for r in csv.DictReader(stream)
        }


def measure(args, done: dict) -> None:
    work = workloads()
    names = [*work, "demo arm"] if args.demo else list(work)
    for condition in ("idle", f"{args.busy} busy"):
        context = busy_processes(args.busy) if condition != "idle" else contextlib.nullcontext()
        with context:
            for name in names:
                for label, setting in SETTINGS.items():
                    if (condition, name, label) in done:
                        continue
                    if name == "demo arm":
                        seconds = time_demo(setting)
                    else:
                        seconds = time_in_process(work[name], setting, args.repeats)
                    done[condition, name, label] = seconds
                    values = (condition, name, label, f"{seconds:.3f}")
                    append_rows(args.csv, FIELDS, [dict(zip(FIELDS, values, strict=True))])
                    print(" | ".join(values), flush=True)


def table(done: dict, busy: str) -> str:
    labels = list(SETTINGS)
    lines = [
        "| workload | condition | " + " | ".join(labels) + " | auto / best |",
        "|---" * (len(labels) + 3) + "|",
    ]
    workloads_seen = list(dict.fromkeys(w for _, w, _ in done))
    for name in workloads_seen:
        for condition in ("idle", busy):
            times = [done.get((condition, name, label)) for label in labels]
            if any(t is None for t in times):
                continue
            best = min(times)
            cells = [f"{t:.2f} s ({t / best:.2f}x)" for t in times]
            lines.append(
                f"| {name} | {condition} | " + " | ".join(cells) + f" | {times[-1] / best:.2f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=4, help="CPU-bound background processes")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    parser.add_argument("--demo", action="store_true", help="also time one arm of the demo")
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "threads.csv")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs; torch's default: {TORCH_DEFAULT} threads", flush=True)
    done = read_done(args.csv)
    measure(args, done)
    print(table(done, f"{args.busy} busy"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
