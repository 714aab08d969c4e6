"""Scoring pools larger than memory: a memory-mapped pool of 1,000,000 rows.

Synthesises a pool of Fashion-MNIST-sized rows (1x28x28 float32, 3.1 GB for
1e6 rows) on disk as a .npy file, opens it with ``np.load(mmap_mode="r")``,
and scores prefixes of 1e4, 1e5 and 1e6 rows with entropy sampling (every
row) and DFAL on 2,000 candidates, reporting wall time and peak RSS.

Targets: cost linear in the pool size; peak RSS under 2 GiB for 1e6 rows.

Usage: ``python benchmarks/bench_scale.py [--rows 1000000] [--folder /tmp]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import timed_peak_rss

from skactive.datasets import load_fashion_mnist
from skactive.models import make_net
from skactive.strategies import DFAL, EntropySampling


def synthesise(path: Path, n_rows: int) -> None:
    """Fashion-MNIST rows with noise, written chunk by chunk (never all in RAM)."""
    try:
        base, _ = load_fashion_mnist(subset="test")
    except FileNotFoundError:
        base = np.random.RandomState(0).rand(10_000, 1, 28, 28).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, 1, 28, 28))
    rng = np.random.RandomState(0)
    for start in range(0, n_rows, 50_000):
        stop = min(start + 50_000, n_rows)
        rows = base[rng.randint(len(base), size=stop - start)]
        out[start:stop] = np.clip(rows + rng.normal(0, 0.05, rows.shape), 0, 1)
    out.flush()
    del out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    path = args.folder / f"skactive_pool_{args.rows}.npy"
    if not path.is_file():
        print(f"writing {path} ...", flush=True)
        synthesise(path, args.rows)
    try:
        X_train, y_train = load_fashion_mnist(subset="train")
    except FileNotFoundError:
        X_train = np.random.RandomState(1).rand(1000, 1, 28, 28).astype(np.float32)
        y_train = np.random.RandomState(1).randint(10, size=1000)
    torch.manual_seed(0)
    net = make_net("lenet5", max_epochs=2).fit(X_train[:2000], y_train[:2000])
    pool = np.load(path, mmap_mode="r")
    print(f"pool {path} ({pool.nbytes / 2**30:.1f} GiB), torch threads {torch.get_num_threads()}")
    print(f"{'rows':>9} {'strategy':>26} {'seconds':>8} {'us/row':>7} {'peak RSS MiB':>13}")
    sizes = [s for s in (10_000, 100_000, 1_000_000) if s <= args.rows]
    for size in sizes:
        view = pool[:size]
        for label, strategy in (
            ("entropy (every row)", EntropySampling(batch_size=4096)),
            ("dfal (2,000 candidates)", DFAL(candidates=2000)),
        ):
            _, seconds, peak = timed_peak_rss(lambda s=strategy, v=view: s.select(net, v, 100))
            per_row = seconds / (size if label.startswith("entropy") else 2000) * 1e6
            print(f"{size:>9} {label:>26} {seconds:8.2f} {per_row:7.1f} {peak:13.0f}", flush=True)


if __name__ == "__main__":
    main()
