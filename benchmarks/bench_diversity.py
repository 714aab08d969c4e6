"""BADGE, Diversified and VAAL: time and memory on Fashion-MNIST / LeNet5.

Trains LeNet5 on 1,000 Fashion-MNIST rows (digits when the Debian package is
absent), then measures, each in one run:

* BADGE picking 100 of ``--badge-rows`` candidates (default 50,000): seconds
  and peak RSS growth, beside ``CoreSet`` greedy on the same rows. The peak
  is compared with what the formed ``(rows, classes * features)`` gradient
  matrix alone would take (scikit-activeml needed 24.6 GB at 20,000 rows
  before its fix);
* ``Diversified(DFAL(candidates=2000), factor=10)`` against plain
  ``DFAL(candidates=2000)``, 100 picks: the overhead of shortlisting and
  spreading (target: at most 10%);
* VAAL on a ``--vaal-rows`` pool (default 10,000) with 1,000 labelled rows at
  its default iterations: seconds per query, the share spent training the
  VAE and discriminator versus scoring, and what the reference's 39,062
  iterations would cost at the measured rate; beside the task net's refit
  time on the 1,000 rows.

Usage: ``python benchmarks/bench_diversity.py [--threads 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import lenet_on_1000_rows, timed_peak_rss  # noqa: E402

from skactive.models import make_net  # noqa: E402
from skactive.strategies import BADGE, DFAL, VAAL, CoreSet, Diversified  # noqa: E402

N = 100
REFERENCE_ITERATIONS = 50000 * 100 // 128


def _best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_badge(net, X, rows):
    pool = X[:rows]
    _, _, base_rss = timed_peak_rss(lambda: None)
    _, seconds, peak = timed_peak_rss(lambda: BADGE(random_state=0).select(net, pool, N))
    _, core_seconds, core_peak = timed_peak_rss(lambda: CoreSet().select(net, pool, N))
    formed = rows * 10 * 84 * 8 / 2**20
    print(f"BADGE, {rows} candidates, {N} picks:")
    print(f"  BADGE            {seconds:7.2f} s   peak RSS +{peak - base_rss:7.1f} MiB")
    print(f"  CoreSet greedy   {core_seconds:7.2f} s   peak RSS +{core_peak - base_rss:7.1f} MiB")
    print(f"  (the formed gradient matrix alone: {formed:.0f} MiB in float64)")


def bench_diversified(net, X_labeled, X, repeats):
    pool = X[:20000]

    def plain():
        DFAL(candidates=2000, random_state=0).select(net, pool, N, X_labeled=X_labeled)

    def diversified():
        strategy = Diversified(DFAL(candidates=2000, random_state=0), factor=10)
        strategy.select(net, pool, N, X_labeled=X_labeled)

    plain_seconds, div_seconds = _best_of(plain, repeats), _best_of(diversified, repeats)
    print(f"Diversified(DFAL(candidates=2000), factor=10), {N} picks:")
    print(f"  DFAL             {plain_seconds:7.2f} s")
    print(
        f"  Diversified      {div_seconds:7.2f} s   overhead "
        f"{(div_seconds / plain_seconds - 1):+.1%}"
    )


def bench_vaal(net, X_labeled, y_labeled, X, rows):
    pool = X[:rows]
    strategy = VAAL(random_state=0)
    start = time.perf_counter()
    strategy.select(net, pool, N, X_labeled=X_labeled)
    seconds = time.perf_counter() - start
    iterations = strategy.n_iterations
    # Scoring alone: the trained networks over the pool, as select does.
    start = time.perf_counter()
    strategy._p_labeled(strategy.vae_, strategy.discriminator_, pool, torch.device("cpu"))
    scoring = time.perf_counter() - start
    training = seconds - scoring
    refit = make_net("lenet5", image_size=X.shape[-1], max_epochs=20)
    start = time.perf_counter()
    refit.fit(X_labeled, y_labeled)
    refit_seconds = time.perf_counter() - start
    per_iteration = training / iterations
    print(f"VAAL, {rows}-row pool, {len(X_labeled)} labelled, {iterations} iterations:")
    print(
        f"  one query {seconds:.1f} s: training {training:.1f} s ({training / seconds:.0%}), "
        f"scoring {scoring:.1f} s"
    )
    print(f"  LeNet5 refit (20 epochs, {len(X_labeled)} rows): {refit_seconds:.1f} s")
    print(
        f"  the reference's {REFERENCE_ITERATIONS} iterations at this rate: "
        f"{REFERENCE_ITERATIONS * per_iteration / 60:.0f} min per query"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--badge-rows", type=int, default=50000)
    parser.add_argument("--vaal-rows", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    X, y, name, order, net = lenet_on_1000_rows(args.threads)
    X_labeled, y_labeled = X[order[:1000]], y[order[:1000]]
    rest = X[order[1000:]]
    print(f"{name}, LeNet5 trained on 1,000 rows, {args.threads} thread(s)")
    bench_badge(net, rest, min(args.badge_rows, len(rest)))
    bench_diversified(net, X_labeled, rest, args.repeats)
    bench_vaal(net, X_labeled, y_labeled, rest, min(args.vaal_rows, len(rest)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
