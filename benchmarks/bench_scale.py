"""Scoring pools larger than memory: a memory-mapped pool of 10,000,000 rows.

Synthesises a pool of Fashion-MNIST-sized rows (1x28x28 float32, 29.2 GiB
for 1e7 rows, more than this machine's RAM) on disk as a .npy file, chunk
by chunk, opens it with ``np.load(mmap_mode="r")`` and scores prefixes of
it with a LeNet5:

* entropy sampling over every row;
* DFAL over every row (its default: the first-order screen over the pool,
  exact DeepFool on the shortlist);
* entropy on 100,000 random ``candidates``, with the share of the
  whole-pool picks it keeps (candidate reduction's price);
* the NaN check that ``select`` runs before scoring, timed on its own (the
  strategies run inside ``sklearn.config_context(assume_finite=True)``);
* the same entropy and DFAL queries on a Dask ``LocalCluster`` (2 worker
  processes), whose picks must equal the local ones.

Each line gives wall time, microseconds per row and the process's peak RSS
during the call. Targets: time linear in rows (same us/row at 1e6 and 1e7)
and peak RSS under 2 GiB whatever the pool size.

Usage: ``python benchmarks/bench_scale.py [--rows 10000000] [--sizes 1000000 10000000]
[--dask-rows 1000000] [--folder /tmp]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
import sklearn
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import timed_peak_rss

from skactive import config_context
from skactive._validation import check_rows
from skactive.datasets import load_fashion_mnist
from skactive.models import make_net
from skactive.strategies import DFAL, EntropySampling

N_QUERY = 100


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


def trained_net():
    """LeNet5 trained 2 epochs on 2,000 Fashion-MNIST rows; the training set is let go."""
    try:
        X_train, y_train = load_fashion_mnist(subset="train")
    except FileNotFoundError:
        X_train = np.random.RandomState(1).rand(2000, 1, 28, 28).astype(np.float32)
        y_train = np.random.RandomState(1).randint(10, size=2000)
    torch.manual_seed(0)
    return make_net("lenet5", max_epochs=2).fit(X_train[:2000].copy(), y_train[:2000].copy())


def strategies():
    return {
        "entropy (every row)": EntropySampling(batch_size=4096, random_state=0),
        "dfal (every row, screened)": DFAL(random_state=0),
    }


def report(size, label, seconds, rows, peak, note=""):
    print(
        f"{size:>10,} {label:>34} {seconds:9.1f} {seconds / rows * 1e6:7.1f} {peak:13.0f}  {note}",
        flush=True,
    )


def measure_size(net, pool, size):
    """Every local case on ``pool[:size]``; returns the whole-pool picks per strategy."""
    view = pool[:size]
    _, seconds, peak = timed_peak_rss(lambda: check_rows(view, name="X_pool"))
    report(size, "NaN check (read once)", seconds, size, peak)
    picks, entropy = {}, None
    with sklearn.config_context(assume_finite=True), config_context(show_progress=True):
        for label, strategy in strategies().items():
            picks[label], seconds, peak = timed_peak_rss(
                lambda s=strategy: s.select(net, view, N_QUERY)
            )
            report(size, label, seconds, size, peak)
            if isinstance(strategy, EntropySampling):
                entropy = strategy.scores_
        n_candidates = min(100_000, size)
        reduced = EntropySampling(batch_size=4096, candidates=n_candidates, random_state=0)
        subset, seconds, peak = timed_peak_rss(lambda: reduced.select(net, view, N_QUERY))
    full = picks["entropy (every row)"]
    kept = len(np.intersect1d(subset, full)) / N_QUERY
    # The pool holds many noisy copies of each of 10,000 images, so other rows
    # can be as good as the exact picks: their entropy says how much is lost.
    ratio = entropy[subset].mean() / entropy[full].mean()
    label = f"entropy ({n_candidates:,} candidates)"
    note = f"keeps {kept:.0%} of the picks, {ratio:.1%} of their mean entropy"
    report(size, label, seconds, n_candidates, peak, note)
    return picks


def measure_dask(net, pool, size, expected):
    """The same queries on a 2-process LocalCluster: time, and picks equal to the local ones."""
    from distributed import Client, LocalCluster

    view = pool[:size]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        joblib.parallel_backend("dask"),
        sklearn.config_context(assume_finite=True),
    ):
        client.run(torch.set_num_threads, 1)
        for label, strategy in strategies().items():
            picked, seconds, peak = timed_peak_rss(lambda s=strategy: s.select(net, view, N_QUERY))
            same = "same picks" if np.array_equal(picked, expected[label]) else "PICKS DIFFER"
            report(size, f"dask x2: {label}", seconds, size, peak, same)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dask-rows", type=int, default=1_000_000, help="0: no Dask run")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    path = args.folder / f"skactive_pool_{args.rows}.npy"
    if not path.is_file():
        print(f"writing {path} ...", flush=True)
        synthesise(path, args.rows)
    net = trained_net()
    pool = np.load(path, mmap_mode="r")
    print(
        f"pool {path} ({pool.nbytes / 2**30:.1f} GiB), torch threads {torch.get_num_threads()}, "
        f"n={N_QUERY}"
    )
    print(f"{'rows':>10} {'case':>34} {'seconds':>9} {'us/row':>7} {'peak RSS MiB':>13}")
    picks = {}
    for size in sorted(s for s in set(args.sizes) if s <= len(pool)):
        picks[size] = measure_size(net, pool, size)
    if args.dask_rows:
        expected = picks.get(args.dask_rows) or measure_size(net, pool, args.dask_rows)
        measure_dask(net, pool, args.dask_rows, expected)


if __name__ == "__main__":
    main()
