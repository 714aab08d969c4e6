"""What BGADL's VAE-ACGAN costs per round, and what it generates.

One run prints, on Fashion-MNIST (digits when the Debian package is
absent) with LeNet5 in the runner's setting (20 epochs, batch 32):

* seconds of one refit of a plain net and of a
  :class:`~skactive.nets.GenerativeAugmentationNet` on ``--rows`` labelled
  rows, and their ratio;
* seconds of one BALD query (10 MC-dropout passes over 2,000 candidates)
  on each, and their ratio.

With ``--training-set`` (a campaign's final training set, as the runner
saves it in ``sets/``) the net is refitted on those rows, as the campaign's
last round did, and ``--figure`` gets a grid: for every class, real
labelled rows beside ``G(z, y)`` samples and reconstructions
``G(E(x), y)``.

Usage::

    python benchmarks/bench_bgadl.py --threads 2 \\
        --training-set results/bgadl/sets/fashion-mnist_lenet5_bgadl_0.npz \\
        --figure docs/_static/bgadl_samples.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skactive.datasets import DATASETS  # noqa: E402
from skactive.experiments.registry import estimator_for  # noqa: E402
from skactive.models import make_net_for  # noqa: E402
from skactive.strategies import BALD, BGADL  # noqa: E402


def data():
    try:
        return "fashion-mnist", DATASETS["fashion-mnist"]()
    except FileNotFoundError:
        return "digits", DATASETS["digits"]()


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--training-set", type=Path)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    name, (X_pool, y_pool, _, _) = data()
    order = np.random.RandomState(0).permutation(len(X_pool))
    X, y = X_pool[order[: args.rows]], y_pool[order[: args.rows]]
    candidates = X_pool[order[args.rows : args.rows + 2000]]
    plain = make_net_for("lenet5", X_pool, y_pool, max_epochs=20)
    generative = estimator_for("bgadl", plain).set_params(random_state=0)
    print(f"{name}, LeNet5, 20 epochs, {args.rows} labelled rows, {args.threads} torch threads")
    fitted, refit = {}, {}
    for label, net in (("plain net", plain), ("GenerativeAugmentationNet", generative)):
        torch.manual_seed(0)
        fitted[label], refit[label] = timed(lambda n=net: clone(n).fit(X, y))
        print(f"  refit  {label:26s} {refit[label]:7.1f} s")
    ratio = refit["GenerativeAugmentationNet"] / refit["plain net"]
    print(f"  refit ratio (generative / plain): {ratio:.1f}x")
    times = [
        timed(lambda s=s, n=n: s.select(n, candidates, 100))[1]
        for s, n in (
            (BALD(random_state=0), fitted["plain net"]),
            (BGADL(random_state=0), fitted["GenerativeAugmentationNet"]),
        )
    ]
    print(
        f"  BALD query on the plain net {times[0]:.2f} s, BGADL query {times[1]:.2f} s "
        f"(ratio {times[1] / times[0]:.1f}x)"
    )
    if args.training_set is not None:
        arrays = np.load(args.training_set)
        net, seconds = timed(lambda: clone(generative).fit(arrays["X"], arrays["y"]))
        print(f"  refit on {args.training_set.name} ({len(arrays['y'])} rows): {seconds:.1f} s")
        if args.figure is not None:
            _figure(net, arrays["X"], arrays["y"], args.figure)
            print(f"  figure: {args.figure}")
    return 0


def _figure(net, X, y, path: Path, per_class: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = np.unique(y)
    samples, sample_labels = net.sample(per_class, random_state=0)
    columns = ("real", "G(z, y)", "G(E(x), y)")
    figure, axes = plt.subplots(
        len(classes), 3 * per_class, figsize=(3 * per_class * 0.6, len(classes) * 0.65)
    )
    rng = np.random.RandomState(0)
    for row, label in enumerate(classes):
        real = X[rng.choice(np.flatnonzero(y == label), per_class, replace=False)]
        images = [
            real,
            samples[sample_labels == row],
            net.reconstruct(real, np.full(per_class, row)),
        ]
        for block, group in enumerate(images):
            for k in range(per_class):
                ax = axes[row, block * per_class + k]
                ax.imshow(group[k, 0], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0 and k == 0:
                    ax.set_title(columns[block], fontsize=7, loc="left")
        axes[row, 0].set_ylabel(str(label), fontsize=7, rotation=0, labelpad=8)
    figure.tight_layout(pad=0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
