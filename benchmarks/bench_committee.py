"""Committee cost: streamed scoring memory and time, and parallel training.

A committee of 5 LeNet5 members, trained on 1,000 Fashion-MNIST rows, scores
pools of 10,000 and 50,000 rows with QueryByCommittee (variation ratio).
Printed, in one run:

* peak RSS of the scoring at each pool size, and how far it rises above the
  RSS before scoring (streamed chunks: that rise should not grow with the
  pool);
* scoring time over five single-net ``predict_proba`` calls on the same
  rows (target <= 1.2x);
* committee training time with ``n_jobs=1`` and ``n_jobs=2`` (processes).

Usage: ``python benchmarks/bench_committee.py [--sizes 10000 50000] [--epochs 5]
[--device cpu]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import timed_peak_rss  # noqa: E402
from bench_deepfool import load_data  # noqa: E402

from skactive import Committee  # noqa: E402
from skactive.models import make_net  # noqa: E402
from skactive.strategies import QueryByCommittee  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y, name = load_data()
    order = np.random.RandomState(0).permutation(len(X))
    train = order[:1000]
    net = make_net("lenet5", image_size=X.shape[-1], max_epochs=args.epochs, device=args.device)

    print(
        f"{name}, committee of {args.members} LeNet5, 1 torch thread per process, "
        f"device {args.device}"
    )
    committees, figures = {}, {"training_seconds": {}, "scoring": {}}
    for n_jobs in (1, 2):
        committee = Committee(net, n_members=args.members, n_jobs=n_jobs, random_state=0)
        start = time.perf_counter()
        committees[n_jobs] = committee.fit(X[train], y[train])
        figures["training_seconds"][n_jobs] = time.perf_counter() - start
        print(f"  training, n_jobs={n_jobs}: {figures['training_seconds'][n_jobs]:7.2f} s")
    same = np.array_equal(
        committees[1].predict_proba(X[order[1000:1200]]),
        committees[2].predict_proba(X[order[1000:1200]]),
    )
    print(f"  the two committees are identical: {same}")
    figures["identical"] = same

    committee = committees[1]
    for size in args.sizes:
        pool = np.ascontiguousarray(X[order[1000 : 1000 + size]])
        strategy = QueryByCommittee("variation_ratio", random_state=0)
        before = psutil.Process().memory_info().rss / 2**20
        _, seconds, peak = timed_peak_rss(lambda p=pool, s=strategy: s.select(committee, p, 100))

        def single_predictions(p=pool):
            for member in committee.estimators_:
                member.predict_proba(p)

        _, single, _ = timed_peak_rss(single_predictions)
        pool_mib = pool.nbytes / 2**20
        print(
            f"  {size:6d} rows (pool {pool_mib:5.0f} MiB): scoring {seconds:6.2f} s, "
            f"{seconds / single:4.2f}x five single-net predictions ({single:6.2f} s), "
            f"peak RSS {peak:6.0f} MiB, {peak - before:5.0f} MiB above the RSS before scoring"
        )
        figures["scoring"][size] = {
            "seconds": seconds,
            "over_single": seconds / single,
            "rows": len(pool),
        }
    return figures


if __name__ == "__main__":
    sys.exit(0 if main()["identical"] else 1)
