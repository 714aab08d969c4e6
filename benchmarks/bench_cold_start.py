"""TypiClust and ProbCover at scale, beside scikit-activeml's.

Trains LeNet5 on 1,000 Fashion-MNIST rows (digits when the Debian package
is absent), embeds pools of 10,000 and 50,000 rows (84-d penultimate layer,
L2-normalised) and 100 labelled rows, then selects 100 rows with skactive's
and scikit-activeml's TypiClust and ProbCover (PyPI ``scikit-activeml``,
``pip install "skactive[bench]"``; skipped when missing) on the *same*
embeddings. Printed per size: seconds (the mean over ``--repeats`` seeds,
since k-means' time varies with its seed), peak RSS, and the overlap of the
picks (seed 0). Both ProbCovers get the same radius (skactive's purity choice at the
smallest size). scikit-activeml's ProbCover holds an N x N distance matrix
(8 N^2 bytes); it is not run above ``--peer-max-rows`` (default 20,000).

Usage: ``python benchmarks/bench_cold_start.py [--sizes 10000 50000]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import timed_peak_rss  # noqa: E402
from bench_deepfool import load_data  # noqa: E402

from skactive import _torch  # noqa: E402
from skactive.models import make_net  # noqa: E402
from skactive.strategies import ProbCover, TypiClust  # noqa: E402


def identity(rows):
    return rows


def ours(strategy, pool, labeled, n):
    picks = strategy.select(None, pool, n, X_labeled=labeled)
    return picks


def peer(strategy, pool, labeled, n):
    X = np.concatenate([labeled, pool])
    y = np.full(len(X), np.nan)
    y[: len(labeled)] = 0  # the peers only need to know which rows are labelled
    picks = strategy.query(X, y, batch_size=n)
    return np.asarray(picks) - len(labeled)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--peer-max-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="mean time over this many seeds")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same embeddings in every run
    X, y, name = load_data()
    order = np.random.RandomState(0).permutation(len(X))
    net = make_net("lenet5", image_size=X.shape[-1], max_epochs=5).fit(
        X[order[:1000]], y[order[:1000]]
    )
    network = _torch.find_network(net)
    try:
        from skactiveml.pool import ProbCover as PeerProbCover
        from skactiveml.pool import TypiClust as PeerTypiClust
    except ImportError:
        PeerProbCover = PeerTypiClust = None
        print("scikit-activeml is not installed: pip install 'skactive[bench]'; peers skipped")

    def embed(rows):
        vectors = _torch.embed(network, X[rows]).astype(np.float64)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)

    labeled = embed(order[:100])
    print(f"{name}, LeNet5 embeddings (84-d, normalised), {len(labeled)} labelled, n={args.n}")
    delta = None
    for size in args.sizes:
        pool = embed(order[1000 : 1000 + size])
        if delta is None:
            chooser = ProbCover(embedding=identity, n_clusters=10, random_state=0)
            chooser.select(None, pool, args.n, X_labeled=labeled)
            delta = chooser.delta_
            print(
                f"  ProbCover radius by purity at {size} rows: {delta:.4f} "
                f"(purity {chooser.purity_:.3f}); used for both implementations"
            )
        runs = {
            "TypiClust skactive": lambda seed, p=pool: ours(
                TypiClust(embedding=identity, random_state=seed), p, labeled, args.n
            ),
            "ProbCover skactive": lambda seed, p=pool, d=delta: ours(
                ProbCover(d, embedding=identity, random_state=seed), p, labeled, args.n
            ),
        }
        if PeerTypiClust is not None:
            runs["TypiClust scikit-activeml"] = lambda seed, p=pool: peer(
                PeerTypiClust(random_state=seed, k=20), p, labeled, args.n
            )
            if size <= args.peer_max_rows:
                runs["ProbCover scikit-activeml"] = lambda seed, p=pool, d=delta: peer(
                    PeerProbCover(deltas=[d], random_state=seed), p, labeled, args.n
                )
            else:
                gib = 8 * (size + len(labeled)) ** 2 / 2**30
                print(
                    f"  ProbCover scikit-activeml at {size} rows: not run "
                    f"(its dense distance matrix needs {gib:.0f} GiB)"
                )
        picks = {}
        for label, run in runs.items():
            # k-means time varies with its seed: the mean over seeds 0, 1, ...
            timings = [timed_peak_rss(lambda r=r, f=run: f(r)) for r in range(args.repeats)]
            picks[label] = timings[0][0]
            seconds = float(np.mean([t[1] for t in timings]))
            peak = max(t[2] for t in timings)
            print(f"  {size:6d} rows  {label:26s} {seconds:8.2f} s   peak RSS {peak:7.0f} MiB")
        for method in ("TypiClust", "ProbCover"):
            mine, theirs = picks.get(f"{method} skactive"), picks.get(f"{method} scikit-activeml")
            if mine is not None and theirs is not None:
                overlap = len(set(mine.tolist()) & set(theirs.tolist())) / args.n
                print(f"  {size:6d} rows  {method} picks in common: {overlap:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
