"""Speedup of scoring on a Dask cluster with 2 workers over 1 (on this machine).

Starts ``dask.distributed.LocalCluster`` on loopback with 1 and then 2
single-threaded worker processes, and scores the same pool with DFAL and
entropy inside ``joblib.parallel_backend("dask")``. Selections must be
identical to the single-process run; prints the speedup.

To use a real cluster, connect a client to its scheduler instead:
``Client("tcp://scheduler:8786")``, then run selections inside
``with joblib.parallel_backend("dask"):``.

Usage: ``python benchmarks/bench_dask.py [--pool 6000]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skactive.datasets import load_digits_images, load_fashion_mnist
from skactive.models import make_net
from skactive.strategies import DFAL, EntropySampling


def main(argv=None):
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=6000)
    args = parser.parse_args(argv)
    try:
        X, y = load_fashion_mnist(subset="train")
    except FileNotFoundError:
        X, y = load_digits_images()
    torch.manual_seed(0)
    net = make_net("lenet5", image_size=X.shape[-1], max_epochs=2).fit(X[:1000], y[:1000])
    pool = X[1000 : 1000 + args.pool]
    strategies = {
        "dfal": lambda: DFAL(batch_size=500, random_state=0),
        "entropy": lambda: EntropySampling(batch_size=500, random_state=0),
    }
    reference = {name: make().select(net, pool, 50) for name, make in strategies.items()}
    seconds = {}
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
            joblib.parallel_backend("dask"),
        ):
            client.run(torch.set_num_threads, 1)  # one core per worker process
            for name, make in strategies.items():
                make().select(net, pool, 50)  # warm every worker (imports, first batches)
                start = time.perf_counter()
                picked = make().select(net, pool, 50)
                seconds[name, workers] = time.perf_counter() - start
                assert np.array_equal(picked, reference[name]), f"{name} differs on dask"
    for name in strategies:
        one, two = seconds[name, 1], seconds[name, 2]
        print(
            f"{name:8s} pool {len(pool)}: 1 worker {one:6.2f} s, 2 workers {two:6.2f} s, "
            f"speedup {one / two:4.2f}x; selections identical to the local run"
        )


if __name__ == "__main__":
    main()
