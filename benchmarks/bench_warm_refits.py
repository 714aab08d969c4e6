"""Warm refits in the labelling service: what they save in time and cost in accuracy.

A :class:`~skactive.label_studio.LabelStudioBackend` (its Python methods, no
server) holds a LeNet5 learner (``--epochs`` per fresh fit) trained on 50 Fashion-MNIST rows
(digits where the Debian package is absent) and serves ``--tasks`` tasks as
PNG data URLs. Each round the annotator answers the ``--answers`` open tasks
the backend ranks first, and the backend refits, up to ``--budget`` labels.
Three schedules, each on ``--seeds`` seeds:

* ``fresh``: every refit trains a fresh model (the default);
* ``warm``: refits continue from the current model for ``--warm-epochs``
  epochs, with a fresh one every ``--every`` label changes
  (``full_refit_every``);
* ``warm only``: never fresh after the first fit.

It prints the test accuracy (2,000 held-out rows) at each hundred labels and
the mean refit time, mean ± std over seeds.

Usage: ``python benchmarks/bench_warm_refits.py [--seeds 5] [--budget 300]
[--answers 10] [--tasks 2000] [--epochs 30] [--warm-epochs 3] [--every 50]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_cluster_ids import CONFIG, answer, data_url, load  # noqa: E402

from skactive import ActiveLearner  # noqa: E402
from skactive.label_studio import LabelStudioBackend  # noqa: E402
from skactive.models import make_net_for  # noqa: E402
from skactive.strategies import EntropySampling  # noqa: E402

N_INITIAL, N_TEST = 50, 2000


def campaign(data, seed: int, schedule: dict, args) -> tuple[dict, float]:
    """Accuracy by number of labels, and the mean refit seconds, of one schedule."""
    X, y, tasks, X_test, y_test = data
    net = make_net_for("lenet5", X, y, max_epochs=args.epochs)
    learner = ActiveLearner(net, EntropySampling(), random_state=seed)
    rows = np.random.RandomState(seed).choice(len(tasks), N_INITIAL, replace=False)
    learner.fit(X[rows], y[rows])
    backend = LabelStudioBackend(learner, background_refit=False, **schedule)
    backend.setup(1, CONFIG.format(choices="".join(f'<Choice value="{k}"/>' for k in np.unique(y))))
    open_tasks = sorted(set(range(len(tasks))) - set(rows.tolist()))
    accuracy, seconds = {}, []
    while len(backend.learner.y_labeled_) < args.budget:
        ranked = backend.predict([tasks[i] for i in open_tasks])
        scores = {i: r["score"] for i, r in zip(open_tasks, ranked, strict=True)}
        for i in sorted(open_tasks, key=scores.get)[: args.answers]:
            backend.teach_annotation(tasks[i], answer(i, y[i]))
            open_tasks.remove(i)
        clock = time.perf_counter()
        backend.refit()
        seconds.append(time.perf_counter() - clock)
        n = len(backend.learner.y_labeled_)
        if n % 100 == 0:
            accuracy[n] = float((backend.learner.predict(X_test) == y_test).mean())
    return accuracy, float(np.mean(seconds))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--answers", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--warm-epochs", type=int, default=3)
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args(argv)
    X, y = load(args.tasks + N_TEST)
    # Rows as the backend reads them back from the PNGs (0-1 scaled, 8 bits).
    X = np.round(X / X.max(axis=(1, 2, 3), keepdims=True) * 255) / 255
    X_test, y_test, X, y = X[:N_TEST], y[:N_TEST], X[N_TEST:], y[N_TEST:]
    tasks = [{"id": i, "data": {"image": data_url(row)}} for i, row in enumerate(X)]
    data = (X, y, tasks, X_test, y_test)
    schedules = {
        "fresh": {},
        f"warm ({args.warm_epochs} epochs, fresh every {args.every})": {
            "full_refit_every": args.every,
            "warm_epochs": args.warm_epochs,
        },
        f"warm only ({args.warm_epochs} epochs)": {
            "full_refit_every": 10**9,
            "warm_epochs": args.warm_epochs,
        },
    }
    marks = list(range(100, args.budget + 1, 100))
    print("| schedule | " + " | ".join(f"{m} labels" for m in marks) + " | refit (s) |")
    print("|---|" + "---|" * (len(marks) + 1))
    for name, schedule in schedules.items():
        runs = [campaign(data, seed, schedule, args) for seed in range(args.seeds)]
        cells = [
            f"{np.mean([r[0][m] for r in runs]):.3f} ± {np.std([r[0][m] for r in runs]):.3f}"
            for m in marks
        ]
        refit = np.mean([r[1] for r in runs])
        print(f"| {name} | " + " | ".join(cells) + f" | {refit:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
