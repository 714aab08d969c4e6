"""What SimCLR pretraining costs and whether its features are worth it.

On Fashion-MNIST (digits when the Debian package is absent) with LeNet5,
one run prints:

* **cost**: seconds per SimCLR epoch (two views, a projection head) over
  ``--rows`` pool rows against one plain supervised epoch over the same
  rows, and the ratio; seconds to embed the whole pool with
  :class:`~skactive.embeddings.Embedding` and to look it up again (cache);
* **the features**: a linear probe (scikit-learn ``LogisticRegression`` on
  standardised features, ``--probe-labels`` labelled training rows, the
  whole test split) on the SimCLR trunk (the embedding TypiClust and
  ProbCover use), on its convolutional features, on the same layers of a
  randomly initialised LeNet5, and on the raw pixels;
* **the peers**: TypiClust and ProbCover of skactive and of
  scikit-activeml (PyPI ``scikit-activeml``, skipped when missing) on the
  same SimCLR vectors of ``--peer-rows`` pool rows, ProbCover's radius
  chosen once by skactive's purity heuristic and given to both: seconds
  (mean of 3 seeds) and picks in common (seed 0).

Usage: ``python benchmarks/bench_pretraining.py [--epochs 20] [--rows 20000]``;
``--pretrained FILE`` reuses the weights the runner pretrained (``results/.../
pretrained/simclr_*_weights.pkl``, a pickle this project wrote) for the probes
and the peers, and times one fresh SimCLR epoch for the cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cold_start import peer  # noqa: E402

from skactive._files import load_pickle  # noqa: E402
from skactive.datasets import DATASETS  # noqa: E402
from skactive.embeddings import Embedding, flattened_rows  # noqa: E402
from skactive.experiments import SIMCLR  # noqa: E402
from skactive.models import make_net_for  # noqa: E402
from skactive.pretraining import PretrainedWeights, pretrain_contrastive  # noqa: E402
from skactive.strategies import ProbCover, TypiClust  # noqa: E402


def data():
    try:
        return "fashion-mnist", DATASETS["fashion-mnist"]()
    except FileNotFoundError:
        return "digits", DATASETS["digits"]()


def plain_epoch_seconds(net, X, y) -> float:
    """One supervised epoch of the net over ``X`` (batch size the net's)."""
    one = clone(net).set_params(max_epochs=1)
    start = time.perf_counter()
    one.fit(X, y)
    return time.perf_counter() - start


def probe(features, train, y_pool, test_features, y_test) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))
    model.fit(features[train], y_pool[train])
    return float(model.score(test_features, y_test))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=SIMCLR["n_epochs"])
    parser.add_argument("--rows", type=int, default=SIMCLR["max_rows"])
    parser.add_argument("--probe-labels", type=int, default=1000)
    parser.add_argument("--peer-rows", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pretrained", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    name, (X_pool, y_pool, X_test, y_test) = data()
    order = np.random.RandomState(0).permutation(len(X_pool))
    subset = order[: args.rows]
    torch.manual_seed(0)
    net = make_net_for("lenet5", X_pool, y_pool, max_epochs=1)
    settings = dict(SIMCLR, n_epochs=args.epochs, max_rows=args.rows)
    print(f"{name}, LeNet5, SimCLR {settings}, {args.threads} torch threads")

    if args.pretrained is None:
        pretrained = pretrain_contrastive(net, X_pool, random_state=0, **settings)
        history = dict(pretrained.callbacks)["pretrained_weights"].history
    else:
        # Written by this project's runner, so trusted: the weights it caches
        # now (``*_weights.pkl``), or a whole pretrained net (older runs).
        if args.pretrained.name.endswith("_weights.pkl"):
            weights = load_pickle(args.pretrained, PretrainedWeights, kind="pretrained weights")
            pretrained = clone(net).set_params(callbacks=[("pretrained_weights", weights)])
        else:
            pretrained = load_pickle(args.pretrained, object, kind="pretrained")
        recorded = dict(pretrained.callbacks)["pretrained_weights"].history
        print(
            f"reusing {args.pretrained}: loss {recorded[0]['loss']:.3f} -> "
            f"{recorded[-1]['loss']:.3f} over {len(recorded)} epochs"
        )
        # One fresh epoch, so the cost ratio is measured in this run.
        timing = pretrain_contrastive(net, X_pool, random_state=0, **dict(settings, n_epochs=1))
        history = dict(timing.callbacks)["pretrained_weights"].history
    simclr_epoch = float(np.median([h["seconds"] for h in history]))
    plain = plain_epoch_seconds(net, X_pool[subset], y_pool[subset])
    print(
        f"cost: SimCLR epoch over {len(subset)} rows {simclr_epoch:.1f} s (median of "
        f"{len(history)}), plain epoch {plain:.1f} s, ratio {simclr_epoch / plain:.1f}x"
    )

    start = time.perf_counter()
    embedding = Embedding(pretrained).fit(X_pool)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    vectors = embedding(X_pool)
    lookup_s = time.perf_counter() - start
    print(
        f"embedding {len(X_pool)} rows: {embed_s:.1f} s; looked up again from the cache: "
        f"{lookup_s:.2f} s ({embed_s / lookup_s:.0f}x faster)"
    )

    train = order[-args.probe_labels :]
    torch.manual_seed(0)
    random_net = make_net_for("lenet5", X_pool, y_pool)
    probes = {
        "SimCLR trunk (84-d, the embedding)": Embedding(pretrained),
        "SimCLR conv features (784-d)": Embedding(pretrained, layer="features"),
        "random-init trunk": Embedding(random_net),
        "random-init conv features": Embedding(random_net, layer="features"),
    }
    print(f"linear probe, {args.probe_labels} labels, {len(X_test)} test rows:")
    for label, extractor in probes.items():
        extractor.fit()
        accuracy = probe(extractor(X_pool), train, y_pool, extractor(X_test), y_test)
        print(f"  {label:36s} {accuracy:.3f}")
    pixels = probe(flattened_rows(X_pool), train, y_pool, flattened_rows(X_test), y_test)
    print(f"  {'raw pixels (784-d)':36s} {pixels:.3f}")

    peer_pool = vectors[order[: args.peer_rows]].astype(np.float64)
    compare_with_peers(peer_pool, args.n)
    return 0


def compare_with_peers(pool: np.ndarray, n: int) -> None:
    try:
        from skactiveml.pool import ProbCover as PeerProbCover
        from skactiveml.pool import TypiClust as PeerTypiClust
    except ImportError:
        PeerProbCover = PeerTypiClust = None
        print("scikit-activeml is not installed (pip install 'skactive[bench]'): peers skipped")
    labeled = pool[:0]
    # The radius by skactive's purity heuristic, untimed; both ProbCovers get it.
    chooser = ProbCover(embedding=_identity, n_clusters=10, random_state=0)
    chooser.select(None, pool, n)
    delta = chooser.delta_
    print(f"cold start on {len(pool)} SimCLR vectors, n={n}, no labels, radius {delta:.4f}:")
    runs = {
        "TypiClust skactive": lambda seed: TypiClust(embedding=_identity, random_state=seed).select(
            None, pool, n
        ),
        "ProbCover skactive": lambda seed: ProbCover(
            delta, embedding=_identity, random_state=seed
        ).select(None, pool, n),
    }
    if PeerTypiClust is not None:
        runs["TypiClust scikit-activeml"] = lambda seed: peer(
            PeerTypiClust(random_state=seed, k=20), pool, labeled, n
        )
        runs["ProbCover scikit-activeml"] = lambda seed: peer(
            PeerProbCover(deltas=[delta], random_state=seed), pool, labeled, n
        )
    picks = {}
    for label, run in runs.items():
        # k-means' time varies with its seed: the mean over seeds 0, 1, 2.
        seconds = []
        for seed in range(3):
            start = time.perf_counter()
            chosen = np.asarray(run(seed))
            seconds.append(time.perf_counter() - start)
            picks.setdefault(label, chosen)
        print(f"  {label:26s} {np.mean(seconds):7.2f} s (mean of 3 seeds)")
    for method in ("TypiClust", "ProbCover"):
        mine, theirs = picks.get(f"{method} skactive"), picks.get(f"{method} scikit-activeml")
        if theirs is not None:
            common = len(set(mine.tolist()) & set(theirs.tolist())) / n
            print(f"  {method} picks in common: {common:.0%}")


def _identity(rows):
    return rows


if __name__ == "__main__":
    sys.exit(main())
