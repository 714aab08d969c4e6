"""Answers during a refit: how long Label Studio waits for an acknowledgement.

A :class:`~skactive.label_studio.LabelStudioBackend` (no server: its Python
methods, a real state file in a temporary folder) holds a LeNet5 learner
trained on ``--labels`` Fashion-MNIST rows (digits where the Debian package
is absent). Each of ``--rounds`` rounds starts a refit in a thread and,
while it trains, teaches answers one at a time (``--gap`` seconds apart)
and asks ``/predict`` for one task, timing each call from the request to
its return (an answer returns once it is saved). Before refits ran off the
backend's lock, each of these calls waited for the rest of the refit.

Usage: ``python benchmarks/bench_refit_ack.py [--labels 100] [--rounds 5] [--gap 0.2]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gap", type=float, default=0.2)
    args = parser.parse_args(argv)
    X, y = load(args.labels + 200)
    X = np.round(X / X.max(axis=(1, 2, 3), keepdims=True) * 255) / 255
    net = make_net_for("lenet5", X, y, max_epochs=10)
    learner = ActiveLearner(net, EntropySampling(), random_state=0)
    learner.fit(X[: args.labels], y[: args.labels])
    tasks = [{"id": i, "data": {"image": data_url(row)}} for i, row in enumerate(X)]
    choices = "".join(f'<Choice value="{k}"/>' for k in np.unique(y))
    with tempfile.TemporaryDirectory() as folder:
        backend = LabelStudioBackend(learner, path=Path(folder) / "state", background_refit=False)
        backend.setup(1, CONFIG.format(choices=choices))
        next_task = args.labels
        print(
            "| round | labels | refit (s) | answers during it | answer: median (s) | "
            "answer: max (s) | /predict (s) |"
        )
        print("|---|---|---|---|---|---|---|")
        for round_ in range(1, args.rounds + 1):
            answers, predicts = [], []
            start = time.perf_counter()
            refit = threading.Thread(target=backend.refit)
            refit.start()
            while refit.is_alive():
                clock = time.perf_counter()
                backend.teach_annotation(tasks[next_task], answer(next_task, y[next_task]))
                answers.append(time.perf_counter() - clock)
                next_task += 1
                clock = time.perf_counter()
                backend.predict([tasks[-1]])
                predicts.append(time.perf_counter() - clock)
                time.sleep(args.gap)
            refit.join()
            seconds = time.perf_counter() - start
            print(
                f"| {round_} | {backend.n_trained} | {seconds:.2f} | {len(answers)} | "
                f"{np.median(answers):.3f} | {max(answers):.3f} | {np.median(predicts):.3f} |",
                flush=True,
            )
        backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
