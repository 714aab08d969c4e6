"""Learning from the pool: what label propagation, Learning Loss and DeepCluster cost.

On Fashion-MNIST (digits when the Debian package is absent) with LeNet5
trained 5 epochs on 1,000 rows:

* label propagation over every row's 84-d penultimate features: seconds and
  peak memory of the kNN graph plus diffusion, scikit-learn's brute-force
  search against faiss-cpu's (when installed), and how often they agree;
* one fit of ``LossPredictionNet`` against the plain net (same rows, same
  epochs): the issue's target is at most 1.3x;
* ``LabelPropagationNet`` on 1,000 labelled and ``--unlabeled`` unlabelled
  rows, per epoch, against the plain net's epoch on the rows it trains on,
  for ``lp_every`` 1 and 5;
* one DeepCluster epoch on 10,000 rows.

Usage: ``python benchmarks/bench_semi_supervised.py [--threads 2] [--rows 60000]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import lenet_on_1000_rows, timed_peak_rss  # noqa: E402

from skactive import _torch  # noqa: E402
from skactive.models import make_net  # noqa: E402
from skactive.nets import LossPredictionNet  # noqa: E402
from skactive.pretraining import pretrain_deepcluster  # noqa: E402
from skactive.semi_supervised import LabelPropagationNet, label_propagation  # noqa: E402


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_propagation(net, X, y, order, rows: int) -> None:
    features = _torch.embed(_torch.TorchNetwork(net), X[order[:rows]])
    partial = np.full(rows, -1)
    partial[:1000] = y[order[:1000]]
    print(f"label propagation over {rows} rows of {features.shape[1]}-d features, k=50:")
    results = {}
    for knn in ("sklearn", "faiss"):
        if knn == "faiss" and _faiss_missing():
            print("  faiss: not installed (pip install 'skactive[faiss]')")
            continue
        (labels, _), seconds, peak = timed_peak_rss(
            lambda knn=knn: label_propagation(features, partial, knn=knn)
        )
        accuracy = np.mean(labels[1000:] == y[order[1000:rows]])
        print(
            f"  {knn:8s} {seconds:7.1f} s, peak RSS {peak:7.0f} MiB, "
            f"pseudo-label accuracy {accuracy:.3f}"
        )
        results[knn] = labels
    if len(results) == 2:
        print(
            f"  agreement sklearn vs faiss: {np.mean(results['sklearn'] == results['faiss']):.4f}"
        )
    dense_gib = rows * rows * 8 / 2**30
    print(f"  (a dense {rows} x {rows} affinity matrix would take {dense_gib:.0f} GiB)")


def _faiss_missing() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return True
    return False


def bench_learning_loss(X, y, order, epochs: int = 5) -> None:
    rows = order[:1000]
    plain = make_net("lenet5", image_size=X.shape[-1], max_epochs=epochs)
    joint = make_net(
        "lenet5", image_size=X.shape[-1], max_epochs=epochs, net_class=LossPredictionNet
    )
    t_plain = min(_seconds(lambda: plain.fit(X[rows], y[rows])) for _ in range(3))
    t_joint = min(_seconds(lambda: joint.fit(X[rows], y[rows])) for _ in range(3))
    print(
        f"LossPredictionNet: {t_joint:.2f} s vs plain {t_plain:.2f} s for {epochs} epochs on "
        f"1,000 rows: {t_joint / t_plain:.2f}x (target <= 1.3x)"
    )


def bench_label_propagation_net(X, y, order, n_unlabeled: int, epochs: int = 10) -> None:
    rows = order[: 1000 + n_unlabeled]
    targets = np.concatenate([y[order[:1000]], np.full(n_unlabeled, -1)])
    trained_on = 1000 + n_unlabeled // 2  # unlabeled_fraction=0.5
    plain = make_net("lenet5", image_size=X.shape[-1], max_epochs=epochs)
    t_plain = _seconds(lambda: plain.fit(X[order[:trained_on]], y[order[:trained_on]]))
    print(
        f"LabelPropagationNet, 1,000 labelled + {n_unlabeled} unlabelled rows, {epochs} epochs "
        f"(plain net on the {trained_on} rows it trains on: {t_plain / epochs:.2f} s/epoch):"
    )
    for lp_every in (1, 5):
        net = make_net(
            "lenet5",
            image_size=X.shape[-1],
            max_epochs=epochs,
            net_class=LabelPropagationNet,
            lp_every=lp_every,
            random_state=0,
        )
        seconds = _seconds(lambda net=net: net.fit(X[rows], targets))
        propagation = sum(h["seconds"] for h in net.lp_history_)
        print(
            f"  lp_every={lp_every}: {seconds / epochs:.2f} s/epoch, {seconds / t_plain:.2f}x "
            f"the plain epoch; propagation {propagation:.1f} s of {seconds:.1f} s"
        )


def bench_deepcluster(X, order, rows: int = 10_000) -> None:
    net = make_net("lenet5", image_size=X.shape[-1])
    pretrained = pretrain_deepcluster(net, X[order[:rows]], n_epochs=2, random_state=0)
    history = dict(pretrained.callbacks)["pretrained_weights"].history
    per_epoch = np.mean([h["seconds"] for h in history])
    print(f"DeepCluster on {rows} rows: {per_epoch:.1f} s per epoch (embed, k-means k=50, train)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=60_000, help="rows propagated over")
    parser.add_argument("--unlabeled", type=int, default=10_000)
    args = parser.parse_args(argv)
    X, y, name, order, net = lenet_on_1000_rows(args.threads)
    print(f"{name}, {args.threads} torch threads")
    bench_propagation(net, X, y, order, min(args.rows, len(X)))
    bench_learning_loss(X, y, order)
    bench_label_propagation_net(X, y, order, min(args.unlabeled, len(X) - 1000))
    bench_deepcluster(X, order, min(10_000, len(X)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
