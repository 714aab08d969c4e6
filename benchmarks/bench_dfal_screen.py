"""DFAL over the whole pool: the first-order screen against exact DeepFool on every row.

Trains LeNet5 on 1,000 Fashion-MNIST rows (10 epochs; digits when the Debian
package is absent), then, on the remaining training rows as the pool:

* the exact path: DeepFool on every pool row (``DFAL(screen=None)``), timed;
* the screened path: ``DFAL(screen="linear", shortlist=k)`` for each ``k`` of
  ``--shortlists``, timed: :func:`skactive.attacks.deepfool_screen` on every
  row, exact DeepFool on the ``k * n`` rows it ranks first;

and prints, for n = ``--n``, each path's seconds, the share of the exact
top-n among the screened picks, and the Spearman correlation of screen and
exact DeepFool norms on the shortlist. The exact norms are cached in
``--cache`` (an ``.npz`` keyed by pool size) so a rerun skips the minute
they take. One run, one table; not part of the test suite.

``--labels`` and ``--epochs`` train the net as at another stage of a
campaign (50 labels: the early rounds, where the screen misjudges most).

Usage: ``python benchmarks/bench_dfal_screen.py [--pool 59000] [--n 100] [--labels 1000]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from skactive import _speedups
from skactive.attacks import deepfool_screen
from skactive.datasets import DATASETS
from skactive.models import make_net_for
from skactive.strategies import DFAL


def _data(pool: int, seed: int, device: str = "cpu", labels: int = 1000, epochs: int = 10):
    try:
        X, y, *_ = DATASETS["fashion-mnist"]()
    except FileNotFoundError:
        X, y, *_ = DATASETS["digits"]()
    order = np.random.RandomState(seed).permutation(len(X))
    train, rest = order[:labels], order[1000:]
    torch.manual_seed(seed)
    net = make_net_for("lenet5", X, y, max_epochs=epochs, device=device).fit(X[train], y[train])
    return net, X[rest[:pool]]


def _exact_norms(net, pool, cache: Path, seed: int, device: str, stage: str = ""):
    key = f"n{len(pool)}" if seed == 0 else f"n{len(pool)}_seed{seed}"
    key += stage
    key = key if device == "cpu" else f"{key}_{device.replace(':', '')}"
    if cache.exists():
        stored = np.load(cache)
        if key in stored:
            return stored[key], float(stored[key + "_seconds"])
    strategy = DFAL(screen=None, random_state=0)
    start = time.perf_counter()
    strategy.select(net, pool, 1)
    seconds = time.perf_counter() - start
    cache.parent.mkdir(parents=True, exist_ok=True)
    stored = dict(np.load(cache)) if cache.exists() else {}
    np.savez(cache, **stored, **{key: strategy.scores_, key + "_seconds": seconds})
    return strategy.scores_, seconds


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=59_000)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--shortlists", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--cache", type=Path, default=Path("results/dfal_exact_norms.npz"))
    parser.add_argument("--seed", type=int, default=0, help="the split and the net's training")
    parser.add_argument("--device", default="cpu", help="torch device of the net, e.g. cuda")
    parser.add_argument("--labels", type=int, default=1000, help="rows the net trains on")
    parser.add_argument("--epochs", type=int, default=10, help="the net's training epochs")
    args = parser.parse_args(argv)
    net, pool = _data(args.pool, args.seed, args.device, args.labels, args.epochs)
    stage = "" if (args.labels, args.epochs) == (1000, 10) else f"_l{args.labels}_e{args.epochs}"
    exact, exact_s = _exact_norms(net, pool, args.cache, args.seed, args.device, stage)
    truth = set(np.argsort(exact, kind="stable")[: args.n].tolist())
    rows = [{"path": "exact", "seconds": exact_s, "top_n_recall": 1.0, "rows": len(pool)}]
    rows.append({"path": "screen alone", "seconds": None})
    print(
        f"seed={args.seed}, pool={len(pool)}, n={args.n}, labels={args.labels}, "
        f"epochs={args.epochs}; exact DeepFool: {exact_s:.1f} s"
    )
    with _speedups.cpu_channels_last(net.module_):
        start = time.perf_counter()
        screen = deepfool_screen(net, pool)
        screen_s = time.perf_counter() - start
    print(f"screen alone: {screen_s:.1f} s")
    rows[-1]["seconds"] = screen_s
    for k in args.shortlists:
        strategy = DFAL(screen="linear", shortlist=k, random_state=0)
        start = time.perf_counter()
        picks = strategy.select(net, pool, args.n)
        seconds = time.perf_counter() - start
        short = np.argsort(screen, kind="stable")[: k * args.n]
        rho = spearmanr(screen[short], exact[short]).statistic
        row = {
            "path": f"screen, shortlist {k}n",
            "seconds": seconds,
            "top_n_recall": len(truth & set(picks.tolist())) / args.n,
            "spearman_on_shortlist": float(rho),
            "rows_attacked": len(getattr(strategy, "shortlist_", picks)),
        }
        rows.append(row)
        print(", ".join(_format(key, value) for key, value in row.items()))
    return rows


def _format(key: str, value) -> str:
    return f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"


if __name__ == "__main__":
    main()
