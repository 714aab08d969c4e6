"""BatchBALD beside baal's: time per query and shared picks, on the same stack.

Trains LeNet5 on 1,000 Fashion-MNIST rows (digits when the Debian package is
absent), draws one stack of consistent MC-dropout samples (``--samples``
passes, the same masks for every row) for ``--pool`` pool rows, and hands
the very same stack to skactive's :func:`~skactive.strategies.batchbald.batchbald_greedy`
and to baal's ``BatchBALD`` heuristic (PyPI, ``pip install "skactive[bench]"``),
for a batch of 10 and of 100. The greedy step's cost is what is measured:
the forward passes are shared and not timed.

Printed: seconds (best of ``--repeats``), baal's time over skactive's, the
share of baal's top-n in skactive's picks, and the batch's mutual
information by skactive's exact/sampled estimate for both sets of picks.
baal's heuristic stops early when every gain falls below 0.1 nats and then
returns fewer picks; its remaining rows are ranked by score 0 and counted
as they come. Not part of the test suite.

Usage: ``python benchmarks/bench_batchbald.py [--pool 2000] [--samples 20]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from skactive import _torch
from skactive._posterior import ConsistentMCDropoutStack
from skactive.datasets import DATASETS
from skactive.models import make_net_for
from skactive.strategies.batchbald import batchbald_greedy, joint_entropy


def _stack(pool: int, samples: int) -> np.ndarray:
    try:
        X, y, *_ = DATASETS["fashion-mnist"]()
    except FileNotFoundError:
        X, y, *_ = DATASETS["digits"]()
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    train, rows = order[:1000], order[1000 : 1000 + pool]
    torch.manual_seed(0)
    net = make_net_for("lenet5", X, y, max_epochs=10).fit(X[train], y[train])
    source = ConsistentMCDropoutStack(_torch.find_network(net), samples)
    with source.context():
        return source(X[rows], seed=0)


def _best_time(fn, repeats: int):
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    stack = _stack(args.pool, args.samples)
    try:
        from baal.active.heuristics import BatchBALD as BaalBatchBALD
    except ImportError as exc:
        BaalBatchBALD = None
        print(f"baal is not installed ({exc}); timing skactive alone")
    rows = []
    for n in (10, 100):
        ours_s, (picks, _) = _best_time(lambda n=n: batchbald_greedy(stack, n), args.repeats)
        row = {"n": n, "skactive_s": ours_s}
        row["skactive_information"] = _information(stack, picks)
        if BaalBatchBALD is not None:
            heuristic = BaalBatchBALD(num_samples=n)
            baal_input = np.ascontiguousarray(stack.transpose(1, 2, 0))  # [N, C, K]
            baal_s, ranks = _best_time(lambda h=heuristic, x=baal_input: h(x), args.repeats)
            theirs = np.asarray(ranks)[:n]
            row.update(
                baal_s=baal_s,
                ratio=baal_s / ours_s,
                agreement=len(set(picks.tolist()) & set(theirs.tolist())) / n,
                baal_information=_information(stack, theirs),
            )
        rows.append(row)
        print(", ".join(_format(k, v) for k, v in row.items()))
    return rows


def _format(key: str, value) -> str:
    return f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"


def _information(stack: np.ndarray, picks: np.ndarray) -> float:
    """I(y_picks; model) by skactive's estimator (10,000 sampled configurations)."""
    selected = stack[:, picks, :]
    conditional = -(selected * np.log(np.maximum(selected, 1e-300))).sum(axis=2).mean(axis=0)
    rng = np.random.RandomState(1)
    return joint_entropy(selected, n_configurations=10_000, rng=rng) - conditional.sum()


if __name__ == "__main__":
    main()
