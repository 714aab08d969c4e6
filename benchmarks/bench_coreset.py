"""Core-set speed and memory: k-center greedy and the robust MIP.

Embeds Fashion-MNIST (digits when absent, tiled) with a briefly trained
LeNet5 (84-dimensional penultimate features), then picks 100 centers from
pools of 1k, 10k and 50k embeddings with 100 labelled centers, reporting
wall time and peak traced memory (numpy allocations, via tracemalloc).

Targets: greedy time grows linearly in the pool; the MIP with default
settings picks 100 from 10k in under a minute on CPU. The paper reports
784-892 s for its MIP picking 10 from an 800-row pool.

Usage: ``python benchmarks/bench_coreset.py [--sizes 1000 10000 50000] [--mip-max 10000]``
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skactive import _torch
from skactive.datasets import load_digits_images, load_fashion_mnist
from skactive.models import make_net
from skactive.strategies import CoreSet
from skactive.strategies.coreset import k_center_greedy, robust_k_center


def embeddings(n_rows: int) -> np.ndarray:
    """Penultimate LeNet5 features of n_rows + 100 images."""
    try:
        X, y = load_fashion_mnist(subset="train")
    except FileNotFoundError:
        X, y = load_digits_images()
        X, y = np.tile(X, (40, 1, 1, 1)), np.tile(y, 40)
    torch.manual_seed(0)
    net = make_net("lenet5", image_size=X.shape[-1], max_epochs=2).fit(X[:2000], y[:2000])
    rows = np.random.RandomState(0).permutation(len(X))[: n_rows + 100]
    return _torch.embed(_torch.find_network(net), X[rows], batch_size=1024).astype(np.float64)


def measure(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--picks", type=int, default=100)
    parser.add_argument("--mip-max", type=int, default=50000, help="largest pool the MIP is run on")
    args = parser.parse_args(argv)
    warnings.simplefilter("default")
    feats = embeddings(max(args.sizes))
    labelled, pool = feats[:100], feats[100:]
    defaults = CoreSet()
    print(f"{'pool':>7} {'method':>7} {'seconds':>8} {'peak MiB':>9} {'radius':>8}  notes")
    greedy_seconds = {}
    for size in args.sizes:
        points = pool[:size]
        (picks, _, radius), secs, peak = measure(
            lambda p=points: k_center_greedy(p, labelled, args.picks)
        )
        greedy_seconds[size] = secs
        print(f"{size:>7} {'greedy':>7} {secs:8.2f} {peak:9.1f} {radius:8.3f}")
        if size > args.mip_max:
            continue
        (_, mip_radius, solves), secs, peak = measure(
            lambda p=points, g=picks, r=radius: robust_k_center(
                p,
                labelled,
                args.picks,
                g,
                r,
                time_limit=defaults.time_limit,
                max_bisections=defaults.max_bisections,
                max_pairs=defaults.max_pairs,
            )
        )
        statuses = ",".join(s["status"][:3] for s in solves) or "none (over max_pairs)"
        print(f"{size:>7} {'mip':>7} {secs:8.2f} {peak:9.1f} {mip_radius:8.3f}  {statuses}")
    sizes = sorted(greedy_seconds)
    if len(sizes) > 1:
        per_row = [greedy_seconds[s] / s * 1e6 for s in sizes]
        print(
            "greedy microseconds per pool row: "
            + ", ".join(f"{s}: {v:.1f}" for s, v in zip(sizes, per_row, strict=True))
            + " (constant = linear scaling)"
        )


if __name__ == "__main__":
    main()
