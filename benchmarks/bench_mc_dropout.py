"""Monte-Carlo dropout speed: the deterministic prefix runs once per batch.

Trains LeNet5 on 1,000 Fashion-MNIST rows (digits when the Debian package
is absent), then scores a 2,000-row pool with BALD at 20 samples three ways
in one run and prints their times and ratios:

* ``full passes``: every layer runs in every pass (skactive's BALD before
  the cache; the cache switched off);
* ``skactive``: :func:`skactive._speedups.cached_deterministic_layers`, the
  layers before the first dropout run once per batch;
* ``baal``: the same loop inside baal's documented fast path,
  ``baal.bayesian.caching_utils.MCCachingModule`` (PyPI package ``baal``,
  ``pip install "skactive[bench]"``; skipped when it is not installed).

It checks that the cached scores equal the full passes' bit for bit.
Targets: skactive at least 5x faster than full passes, and ahead of baal.

Usage: ``python benchmarks/bench_mc_dropout.py [--pool 2000] [--samples 20] [--repeats 3]
[--device cpu]``
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skactive import _posterior  # noqa: E402
from skactive.models import make_net  # noqa: E402
from skactive.strategies import BALD  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_deepfool import load_data  # noqa: E402


def _no_cache(module):
    return contextlib.nullcontext()


def score(net, pool, samples, mode):
    """Seconds and scores of one BALD selection in ``mode``."""
    strategy = BALD(n_samples=samples, random_state=0)
    with contextlib.ExitStack() as stack:
        if mode in ("full passes", "baal"):
            stack.enter_context(
                mock.patch.object(_posterior._speedups, "cached_deterministic_layers", _no_cache)
            )
        if mode == "baal":
            from baal.bayesian.caching_utils import MCCachingModule

            stack.enter_context(MCCachingModule(net.module_))
        start = time.perf_counter()
        strategy.select(net, pool, 10)
        seconds = time.perf_counter() - start
    return seconds, strategy.scores_


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y, name = load_data()
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    train, pool = order[:1000], order[1000 : 1000 + args.pool]
    net = make_net("lenet5", image_size=X.shape[-1], max_epochs=5, device=args.device)
    net.fit(X[train], y[train])
    modes = ["full passes", "skactive"]
    try:
        import baal.bayesian.caching_utils  # noqa: F401

        modes.append("baal")
    except ImportError:
        print("baal is not installed: pip install 'skactive[bench]'")
    best, scores = {}, {}
    for _ in range(args.repeats):
        for mode in modes:
            seconds, scores[mode] = score(net, X[pool], args.samples, mode)
            best[mode] = min(best.get(mode, np.inf), seconds)
    print(
        f"{name}, LeNet5, {args.pool} rows, {args.samples} samples, "
        f"{args.threads} thread(s), device {args.device}"
    )
    print("best of", args.repeats, "runs:")
    for mode in modes:
        ratio = best[mode] / best["full passes"]
        print(f"  {mode:12s} {best[mode]:7.3f} s   {ratio:5.3f}x the full passes' time")
    print(f"skactive speedup over full passes: {best['full passes'] / best['skactive']:.1f}x")
    if "baal" in best:
        print(f"skactive vs baal: {best['baal'] / best['skactive']:.1f}x faster")
    identical = np.array_equal(scores["skactive"], scores["full passes"])
    print(f"cached scores identical to full passes: {identical}")
    return {"seconds": best, "identical": identical, "rows": len(pool)}


if __name__ == "__main__":
    sys.exit(0 if main()["identical"] else 1)
