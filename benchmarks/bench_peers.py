"""Peers side by side: the same trained net, the same pool, several libraries.

Trains LeNet5 on 1,000 Fashion-MNIST rows (digits when the Debian package is
absent) and selects 100 of 2,000 pool rows with this library and with the
implementations users would reach for instead, installed from PyPI as
optional benchmark dependencies (``pip install "skactive[bench]"``: baal,
scikit-activeml, modAL, small-text). Peers run as shipped,
with their documented fast options:

* entropy: skactive ``EntropySampling``; modAL ``entropy_sampling``;
  baal's ``Entropy`` heuristic on ``ModelWrapper`` predictions;
* BALD, 20 MC-dropout samples: skactive ``BALD``; baal ``BALD`` on
  ``MCDropoutModule`` + ``MCCachingModule`` predictions
  (``replicate_in_memory=False``, the cache's documented setting);
* BatchBALD, 20 samples, 10 picks: skactive ``BatchBALD`` (consistent MC
  dropout, its forward passes timed); baal ``BatchBALD`` on the predictions
  above (``benchmarks/bench_batchbald.py`` compares the greedy alone on one
  shared stack, for 10 and 100 picks);
* k-center greedy on the same 84-d embeddings: skactive ``k_center_greedy``;
  scikit-activeml ``CoreSet``; small-text ``greedy_coreset`` (Euclidean);
* entropy through small-text's ``PredictionEntropy`` and scikit-activeml's
  ``UncertaintySampling(method="entropy")`` (small adapters give each the
  net's ``predict_proba`` in the interface it calls);
* BADGE: skactive ``BADGE`` (from the pool rows: its time includes the
  forward pass); scikit-activeml ``Badge`` on the precomputed penultimate
  embeddings with the net's own last layer as its classifier (its
  ``predict_proba`` returns the embeddings, as ``Badge`` asks). Both draw
  k-means++ at random after the same first pick, so only part of the picks
  can agree.

Printed: seconds (best of ``--repeats``, the implementations of a task
taking turns at each repeat), each peer's time over skactive's,
and the share of picks in common with skactive. A peer that is not
installed, or whose call fails, is reported and skipped. Not part of the
test suite.

``--tasks entropy bald`` runs only the tasks whose names start with those
words (case-insensitive).

Usage: ``python benchmarks/bench_peers.py [--pool 2000] [--repeats 3] [--tasks ...]``
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

from skactive import _torch  # noqa: E402
from skactive.strategies import BADGE, BALD, BatchBALD, EntropySampling  # noqa: E402
from skactive.strategies.coreset import k_center_greedy  # noqa: E402

N = 100


def _top(scores, n=N):
    return np.argsort(-np.asarray(scores), kind="stable")[:n]


def ours_entropy(net, pool):
    return EntropySampling().select(net, pool, N)


def ours_bald(net, pool):
    return BALD(n_samples=20, random_state=0).select(net, pool, N)


def modal_entropy(net, pool):
    from modAL.uncertainty import entropy_sampling

    picked = entropy_sampling(net, pool, n_instances=N)
    return np.asarray(picked[0] if isinstance(picked, tuple) else picked)  # (indices, rows)


def _baal_predictions(module, pool, iterations):
    from baal.modelwrapper import ModelWrapper, TrainingArgs

    wrapper = ModelWrapper(
        module, TrainingArgs(replicate_in_memory=False, use_cuda=False, batch_size=128)
    )
    parts = []
    for start in range(0, len(pool), 128):
        x = torch.as_tensor(pool[start : start + 128])
        out = wrapper.predict_on_batch(x, iterations=iterations)
        parts.append(torch.softmax(out, dim=1).numpy())
    return np.concatenate(parts)


def baal_entropy(net, pool):
    from baal.active.heuristics import Entropy

    module = net.module_.eval()
    return _top(Entropy().get_uncertainties(_baal_predictions(module, pool, 1)))


def baal_bald(net, pool):
    from baal.active import heuristics
    from baal.bayesian.caching_utils import MCCachingModule
    from baal.bayesian.dropout import MCDropoutModule

    with MCDropoutModule(net.module_) as mc, MCCachingModule(mc) as cached:
        cached.eval()
        predictions = _baal_predictions(cached, pool, 20)
    net.module_.eval()
    return _top(heuristics.BALD().get_uncertainties(predictions))


#: BatchBALD's greedy costs a joint entropy per pick: 10 picks keep baal's run short.
N_BATCHBALD = 10


def ours_batchbald(net, pool):
    return BatchBALD(n_samples=20, random_state=0).select(net, pool, N_BATCHBALD)


def baal_batchbald(net, pool):
    from baal.active import heuristics
    from baal.bayesian.caching_utils import MCCachingModule
    from baal.bayesian.dropout import MCDropoutModule

    with MCDropoutModule(net.module_) as mc, MCCachingModule(mc) as cached:
        cached.eval()
        predictions = _baal_predictions(cached, pool, 20)
    net.module_.eval()
    return np.asarray(heuristics.BatchBALD(num_samples=N_BATCHBALD)(predictions))[:N_BATCHBALD]


def ours_kcenter(embedded):
    labeled, pool = embedded
    return k_center_greedy(pool, labeled, N)[0]


def skactiveml_coreset(embedded):
    from skactiveml.pool import CoreSet

    labeled, pool = embedded
    X = np.concatenate([labeled, pool])
    y = np.full(len(X), np.nan)
    y[: len(labeled)] = 0
    return CoreSet(random_state=0).query(X, y, batch_size=N) - len(labeled)


def smalltext_coreset(embedded):
    from small_text.query_strategies.coresets import greedy_coreset

    labeled, pool = embedded
    # greedy_coreset returns positions into indices_unlabeled but reads its
    # new centres as positions into x; with the pool first, the two agree.
    # (Labelled rows first, it measures distances to the wrong rows.)
    X = np.concatenate([pool, labeled])
    labeled_rows = np.arange(len(pool), len(X))
    picks = greedy_coreset(
        X, np.arange(len(pool)), labeled_rows, N, distance_metric="euclidean", normalized=False
    )
    return np.asarray(picks)


class _NetProba:
    """small-text asks a classifier for ``predict_proba(dataset)``."""

    def __init__(self, net, shape):
        self.net, self.shape = net, shape

    def predict_proba(self, dataset):
        return self.net.predict_proba(dataset.x.reshape(-1, *self.shape))


def smalltext_entropy(net, pool):
    from small_text.data import SklearnDataset
    from small_text.query_strategies import PredictionEntropy

    labels = np.zeros(len(pool), dtype=int)
    dataset = SklearnDataset(pool.reshape(len(pool), -1), labels, target_labels=np.arange(10))
    clf = _NetProba(net, pool.shape[1:])
    return PredictionEntropy().query(clf, dataset, np.arange(len(pool)), np.empty(0, int), None, N)


def skactiveml_entropy(net, pool):
    from skactiveml.base import SkactivemlClassifier
    from skactiveml.pool import UncertaintySampling

    shape = pool.shape[1:]

    class NetProba(SkactivemlClassifier):
        """The trained net behind scikit-activeml's classifier interface (flat rows)."""

        def fit(self, X, y, sample_weight=None):
            return self

        def predict_proba(self, X):
            return net.predict_proba(np.asarray(X, dtype=pool.dtype).reshape(-1, *shape))

    clf = NetProba(classes=np.arange(len(net.classes_)))
    flat = pool.reshape(len(pool), -1)
    strategy = UncertaintySampling(method="entropy", random_state=0)
    return strategy.query(flat, np.full(len(flat), np.nan), clf, fit_clf=False, batch_size=N)


def ours_badge(net, pool):
    return BADGE(random_state=0).select(net, pool, N)


def skactiveml_badge(net, pool):
    from skactiveml.base import SkactivemlClassifier
    from skactiveml.pool import Badge

    layer = _torch.find_layer(net.module_, None)
    weight = layer.weight.detach().double().numpy()
    bias = layer.bias.detach().double().numpy()

    class LastLayer(SkactivemlClassifier):
        def fit(self, X, y, sample_weight=None):
            return self

        def predict_proba(self, X, return_embeddings=False):
            logits = X @ weight.T + bias
            proba = np.exp(logits - logits.max(axis=1, keepdims=True))
            proba /= proba.sum(axis=1, keepdims=True)
            return (proba, X) if return_embeddings else proba

    h = _torch.embed(_torch.find_network(net), pool).astype(np.float64)
    clf = LastLayer(classes=np.arange(weight.shape[0]))
    badge = Badge(clf_embedding_flag_name="return_embeddings", random_state=0)
    return badge.query(h, np.full(len(h), np.nan), clf, fit_clf=False, batch_size=N)


TASKS = {
    "entropy": [
        ("skactive", ours_entropy),
        ("modAL", modal_entropy),
        ("baal", baal_entropy),
        ("small-text", smalltext_entropy),
        ("scikit-activeml", skactiveml_entropy),
    ],
    "BALD (20 samples)": [("skactive", ours_bald), ("baal", baal_bald)],
    "BatchBALD (20 samples, 10 picks)": [("skactive", ours_batchbald), ("baal", baal_batchbald)],
    "k-center greedy": [
        ("skactive", ours_kcenter),
        ("scikit-activeml", skactiveml_coreset),
        ("small-text", smalltext_coreset),
    ],
    "BADGE": [("skactive", ours_badge), ("scikit-activeml", skactiveml_badge)],
}
#: Tasks whose inputs are the embeddings, not the net and the pool.
EMBEDDED_TASKS = ("k-center greedy",)


def _timed_round_robin(runs, args, repeats) -> dict:
    """Best seconds and picks of each ``(name, fn)``, the implementations taking turns.

    Each repeat calls every implementation once, so a slow spell of a shared
    machine falls on all of them instead of on whichever ran then. A peer
    that fails is recorded with its reason and not called again; skactive
    (the first) failing raises.
    """
    results = {name: {"seconds": np.inf, "picks": None} for name, _ in runs}
    for _ in range(repeats):
        for name, fn in runs:
            if "skipped" in results[name]:
                continue
            start = time.perf_counter()
            try:
                picks = fn(*args)
            except Exception as exc:
                if name == runs[0][0]:
                    raise  # skactive's own failure is a bug, not a skip
                results[name]["skipped"] = (
                    f"not installed ({exc.name})"
                    if isinstance(exc, ImportError)
                    else f"{type(exc).__name__}: {exc}"
                )
                continue
            seconds = time.perf_counter() - start
            results[name]["seconds"] = min(results[name]["seconds"], seconds)
            results[name]["picks"] = np.asarray(picks)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", metavar="WORD", help="first words of task names")
    args = parser.parse_args(argv)
    tasks = {
        task: runs
        for task, runs in TASKS.items()
        if not args.tasks or any(task.lower().startswith(w.lower()) for w in args.tasks)
    }
    if not tasks:
        parser.error(f"--tasks: no task starts with {args.tasks}; tasks: {list(TASKS)}")
    X, _, name, order, net = lenet_on_1000_rows(args.threads)
    pool = X[order[1000 : 1000 + args.pool]]
    network = _torch.find_network(net)
    embedded = (
        _torch.embed(network, X[order[:100]]).astype(np.float64),
        _torch.embed(network, pool).astype(np.float64),
    )
    print(f"{name}, LeNet5, {args.pool} pool rows, {N} picks, {args.threads} thread(s)")
    for task, runs in tasks.items():
        inputs = (embedded,) if task in EMBEDDED_TASKS else (net, pool)
        results = _timed_round_robin(runs, inputs, args.repeats)
        ours = results["skactive"]
        print(f"{task}:")
        print(f"  {'skactive':16s} {ours['seconds']:7.3f} s")
        for peer, _ in runs[1:]:
            theirs = results[peer]
            if "skipped" in theirs:
                print(f"  {peer:16s} skipped: {theirs['skipped']}")
                continue
            common = len(set(theirs["picks"].tolist()) & set(ours["picks"].tolist()))
            print(
                f"  {peer:16s} {theirs['seconds']:7.3f} s   "
                f"{theirs['seconds'] / ours['seconds']:5.2f}x skactive's time, "
                f"{common / len(ours['picks']):.0%} of picks in common"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
