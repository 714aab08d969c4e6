"""PGD, adversarial training and VAE twins: what they cost, measured in one run.

On Fashion-MNIST (digits when the Debian package is absent) with LeNet5:

* PGD (L-inf, ``eps=0.3``, ``--pgd-steps`` steps) on ``--rows`` rows, batched
  against one row at a time (same net, same rows, identical results);
* one epoch of ``AdversarialTrainingNet`` (10 and 40 PGD steps) against one
  epoch of the plain net on 1,000 rows, and the ratio to the floor of
  ``n_steps + 1`` forward and backward passes per batch;
* ``BALDWithVAETwins`` selecting 100 of 2,000 candidates with 1,000
  labelled rows: the share of the round spent training the VAE.

Usage: ``python benchmarks/bench_robust.py [--threads 2]``
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

from _measure import lenet_on_1000_rows  # noqa: E402

from skactive.attacks import pgd  # noqa: E402
from skactive.models import make_net  # noqa: E402
from skactive.nets import AdversarialTrainingNet  # noqa: E402
from skactive.strategies import BALD, BALDWithVAETwins  # noqa: E402


def _seconds(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_pgd(net, X, y, steps):
    settings = dict(eps=0.3, step_size=0.01, n_steps=steps, clip=(0.0, 1.0))
    batched_s, batched = _seconds(lambda: pgd(net, X, y, **settings))

    def one_at_a_time():
        return np.concatenate(
            [pgd(net, X[i : i + 1], y[i : i + 1], **settings) for i in range(len(X))]
        )

    looped_s, looped = _seconds(one_at_a_time)
    # Sign steps flip where a gradient entry is ~0 and rounding differs with
    # the batch shape, so rows can differ by a few steps in a few pixels.
    identical = np.all(np.abs(batched - looped).reshape(len(X), -1) < 1e-5, axis=1).mean()
    agree = (net.predict(batched) == net.predict(looped)).mean()
    print(f"PGD, {len(X)} rows, {steps} steps:")
    print(
        f"  batched {batched_s:6.2f} s, one row at a time {looped_s:6.2f} s: "
        f"{looped_s / batched_s:.1f}x; rows identical {identical:.0%}, "
        f"predictions on them agree {agree:.0%}"
    )


def bench_adversarial_training(X, y):
    def epoch_seconds(net_class=None, **params):
        net = make_net(
            "lenet5", image_size=X.shape[-1], max_epochs=1, net_class=net_class, **params
        )
        torch.manual_seed(0)
        return _seconds(lambda: net.fit(X, y))[0]

    plain = min(epoch_seconds() for _ in range(2))
    print(f"One epoch on {len(X)} rows (batch 32): plain {plain:.2f} s")
    for steps in (10, 40):
        seconds = epoch_seconds(AdversarialTrainingNet, n_steps=steps, step_size=2.5 * 0.3 / steps)
        ratio = seconds / plain
        print(f"  PGD-{steps} training {seconds:6.2f} s: {ratio:5.1f}x plain, "
              f"{ratio / (steps + 1):.2f}x the floor of {steps + 1} passes")  # fmt: skip


def bench_vae_twins(net, X_labeled, pool):
    bald_s, _ = _seconds(lambda: BALD(n_samples=10, random_state=0).select(net, pool, 100))
    twins = BALDWithVAETwins(n_samples=10, random_state=0)
    twins_s, _ = _seconds(lambda: twins.select(net, pool, 100, X_labeled=X_labeled))
    print(f"BALDWithVAETwins, 100 of {len(pool)} candidates, {len(X_labeled)} labelled rows, "
          f"{twins.n_iterations} VAE iterations:")  # fmt: skip
    print(f"  {twins_s:.1f} s per round, BALD alone {bald_s:.2f} s: "
          f"VAE training and twins {(twins_s - bald_s) / twins_s:.0%} of the round")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--pgd-steps", type=int, default=10)
    args = parser.parse_args(argv)
    X, y, name, order, net = lenet_on_1000_rows(args.threads)
    X_labeled, y_labeled = X[order[:1000]], y[order[:1000]]
    print(f"{name}, LeNet5, {args.threads} thread(s)")
    rows = order[1000 : 1000 + args.rows]
    bench_pgd(net, X[rows], y[rows], args.pgd_steps)
    bench_adversarial_training(X_labeled, y_labeled)
    bench_vae_twins(net, X_labeled, X[order[1000:3000]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
