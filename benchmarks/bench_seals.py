"""SEALS against scoring the whole pool: time, candidates scored, and the picks it keeps.

LeNet5 trained 5 epochs on 1,000 Fashion-MNIST rows (digits when the
Debian package is absent; those rows are the labelled set) queries 100 rows
from the other 59,000 by entropy and by DFAL (its whole-pool screen), once
over the whole pool and through ``SEALS`` with ``n_neighbors`` of 10 and
100 (the paper's) in the net's penultimate layer: embedding the pool
every query, and on an :class:`~skactive.embeddings.Embedding` of it
cached once (as a campaign with a fixed, pretrained embedding does; its
one-off cost is printed). Printed per run: seconds, rows in the
neighbourhood, and the share of the whole-pool picks SEALS also picks.
faiss is used when installed (the ``faiss`` extra).

SEALS's own regime, a large pool and few labels, is ``--pool-rows`` (the
pool rows tiled with small seeded noise up to that many rows) and
``--labels`` (the first rows of the 1,000 as the labelled set), e.g.
``--pool-rows 500000 --labels 100``.

Usage: ``python benchmarks/bench_seals.py [--threads 2] [--pool-rows N] [--labels L]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import lenet_on_1000_rows  # noqa: E402

from skactive.embeddings import Embedding  # noqa: E402
from skactive.strategies import DFAL, SEALS, EntropySampling  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--pool-rows", type=int, default=None, help="tile the pool to N rows")
    parser.add_argument("--labels", type=int, default=1000, help="labelled rows (<= 1000)")
    args = parser.parse_args(argv)
    X, y, name, order, net = lenet_on_1000_rows(args.threads)
    labeled, pool = X[order[: args.labels]], X[order[1000:]]
    if args.pool_rows:
        pool = _tiled(pool, args.pool_rows)
    try:
        import faiss  # noqa: F401

        backend = "faiss"
    except ImportError:
        backend = "scikit-learn"
    print(f"{name}: {len(pool)} pool rows, {len(labeled)} labelled, n={args.n}, kNN by {backend}")
    start = time.perf_counter()
    cached = Embedding(net).fit(np.concatenate([pool, labeled]))
    once = time.perf_counter() - start
    print(f"  cached embedding of pool and labelled rows, once: {once:.1f} s")
    for label, make in (("entropy", EntropySampling), ("DFAL", DFAL)):
        start = time.perf_counter()
        whole = make().select(net, pool, args.n, X_labeled=labeled)
        whole_s = time.perf_counter() - start
        print(f"  {label:8s} whole pool        {whole_s:7.1f} s   {len(pool):6d} rows scored")
        for k, embedding in ((10, None), (100, None), (10, cached), (100, cached)):
            seals = SEALS(make(), n_neighbors=k, embedding=embedding, random_state=0)
            start = time.perf_counter()
            picks = seals.select(
                net, pool, args.n, X_labeled=labeled, y_labeled=y[order[: args.labels]]
            )
            seconds = time.perf_counter() - start
            kept = len(set(picks.tolist()) & set(whole.tolist())) / args.n
            how = "cached" if embedding is not None else "embeds"
            print(
                f"  {label:8s} SEALS k={k:<4d} {how}  {seconds:7.1f} s   "
                f"{len(seals.neighbourhood_):6d} rows scored   {kept:4.0%} of the whole-pool "
                f"picks (whole pool / SEALS: {whole_s / seconds:.1f}x)"
            )
    return 0


def _tiled(pool: np.ndarray, rows: int) -> np.ndarray:
    """``rows`` rows: copies of ``pool`` with small seeded noise, so no two are equal."""
    rng = np.random.RandomState(1)
    out = np.empty((rows, *pool.shape[1:]), dtype=np.float32)
    for start in range(0, rows, len(pool)):
        stop = min(rows, start + len(pool))
        noise = rng.normal(scale=0.02, size=(stop - start, *pool.shape[1:]))
        out[start:stop] = np.clip(pool[: stop - start] + noise, 0.0, 1.0)
    return out


if __name__ == "__main__":
    sys.exit(main())
