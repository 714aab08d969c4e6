"""Cluster ids across refits: how many tasks keep the id Label Studio balances on.

A :class:`~skactive.label_studio.LabelStudioBackend` (no server: its Python
methods) serves ``--tasks`` Fashion-MNIST images (digits where the Debian
package is absent) as PNG data URLs with ``--clusters`` diversity buckets,
from a LeNet5 learner trained on 50 labels. Each round teaches the
``--answers`` tasks ranked first, refits, and asks for every task's
prediction again. Between consecutive model versions it reports the share
of tasks that kept their served ``cluster`` id and the adjusted Rand index
of the two partitions, and the same for a fresh k-means of the labelled
rows at every version (``n_init=3, random_state=0``: the backend before its
k-means started from the previous groups and ids were carried).

Usage: ``python benchmarks/bench_cluster_ids.py [--tasks 300] [--rounds 10]
[--answers 10] [--clusters 8]``
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from skactive import ActiveLearner  # noqa: E402
from skactive._inference import embed_rows  # noqa: E402
from skactive.datasets import DATASETS, load_digits_images  # noqa: E402
from skactive.label_studio import LabelStudioBackend  # noqa: E402
from skactive.models import make_net_for  # noqa: E402
from skactive.strategies import EntropySampling  # noqa: E402

CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="label" toName="image">{choices}</Choices>
</View>"""


def load(n_rows: int):
    try:
        X, y, *_ = DATASETS["fashion-mnist"]()
    except (FileNotFoundError, OSError):
        X, y = load_digits_images()
    rows = np.random.RandomState(0).choice(len(X), n_rows, replace=False)
    return X[rows].astype(np.float32), y[rows]


def data_url(row: np.ndarray) -> str:
    pixels = np.clip(row[0] / max(float(row.max()), 1e-12) * 255, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def answer(task_id: int, label) -> dict:
    value = {"choices": [str(label)]}
    result = [{"from_name": "label", "to_name": "image", "type": "choices", "value": value}]
    return {"id": task_id, "task": task_id, "updated_at": "2026-12-07T10:00:00", "result": result}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--answers", type=int, default=10)
    parser.add_argument("--clusters", type=int, default=8)
    args = parser.parse_args(argv)
    X, y = load(args.tasks + 50)
    # Rows as the backend reads them back from the PNGs (0-1 scaled, 8 bits).
    X = np.round(X / X.max(axis=(1, 2, 3), keepdims=True) * 255) / 255
    X_init, y_init, X_tasks, y_tasks = X[:50], y[:50], X[50:], y[50:]
    net = make_net_for("lenet5", X, y, max_epochs=10)
    learner = ActiveLearner(net, EntropySampling(), random_state=0).fit(X_init, y_init)
    choices = "".join(f'<Choice value="{k}"/>' for k in np.unique(y))
    backend = LabelStudioBackend(learner, n_clusters=args.clusters, background_refit=False)
    backend.setup(1, CONFIG.format(choices=choices))
    tasks = [{"id": i, "data": {"image": data_url(row)}} for i, row in enumerate(X_tasks)]
    open_tasks = list(range(len(tasks)))
    served = np.array([r["cluster"] for r in backend.predict(tasks)])
    fresh = _fresh(backend, X_tasks, args.clusters)
    print("| refit | kept served id | ARI | fresh k-means: kept id | fresh: ARI |")
    print("|---|---|---|---|---|")
    kept, ari, kept_fresh, ari_fresh = [], [], [], []
    for refit in range(1, args.rounds + 1):
        open_rows = [tasks[i] for i in open_tasks]
        ranked = zip(open_tasks, backend.predict(open_rows), strict=True)
        scores = {i: result["score"] for i, result in ranked}
        for i in sorted(open_tasks, key=scores.get)[: args.answers]:
            backend.teach_annotation(tasks[i], answer(i, y_tasks[i]))
            open_tasks.remove(i)
        backend.refit()
        now = np.array([r["cluster"] for r in backend.predict(tasks)])
        now_fresh = _fresh(backend, X_tasks, args.clusters)
        kept.append((now == served).mean())
        ari.append(adjusted_rand_score(served, now))
        kept_fresh.append((now_fresh == fresh).mean())
        ari_fresh.append(adjusted_rand_score(fresh, now_fresh))
        cells = (kept[-1], ari[-1], kept_fresh[-1], ari_fresh[-1])
        print(f"| {refit} | " + " | ".join(f"{c:.3f}" for c in cells) + " |", flush=True)
        served, fresh = now, now_fresh
    medians = [np.median(v) for v in (kept, ari, kept_fresh, ari_fresh)]
    print("| median | " + " | ".join(f"{m:.3f}" for m in medians) + " |")
    return 0


def _fresh(backend, X, n_clusters):
    """The tasks' clusters from a fresh k-means of the labelled rows' embedding."""
    learner = backend.state.learner
    labeled = embed_rows(learner.estimator_, learner.X_labeled_)
    kmeans = KMeans(n_clusters=n_clusters, n_init=3, random_state=0).fit(labeled)
    return kmeans.predict(embed_rows(learner.estimator_, X))


if __name__ == "__main__":
    raise SystemExit(main())
