"""What an answer and a ranking cost the Label Studio backend (issue 33).

1. **Acknowledging an answer** with a memory-mapped ``--pool`` of about
   200 MiB (65,000 Fashion-MNIST-sized rows): the size of the state file
   and the seconds from a webhook to its acknowledgement (the save
   included), over ``--answers`` answers. The pool is runtime only, so the
   file holds the learner and the ledger.
2. **Ranking 400 tasks for /predict with BatchBALD**: the backend's rule
   (one scoring pass: the strategy's first pick, then its per-row scores)
   against the strategy's own ordering of all 400 (the greedy joint
   selection, ``query(rows, n=400)``), measured in the same run.

LeNet5 on 200 Fashion-MNIST rows (digits, upscaled, when the Debian package
is absent). Not part of the test suite.

Usage: ``python benchmarks/bench_label_studio_state.py [--answers 20] [--tasks 400]``
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from skactive import ActiveLearner
from skactive.datasets import load_digits_images, load_fashion_mnist
from skactive.label_studio import LabelStudioBackend, make_app
from skactive.models import make_net_for
from skactive.strategies import BatchBALD, EntropySampling

CONFIG = """<View><Image name="image" value="$image"/><Choices name="label" toName="image">
{}</Choices></View>"""


def data():
    try:
        X, y = load_fashion_mnist()
    except (OSError, ValueError):
        X, y = load_digits_images()
        X = np.kron(X, np.ones((1, 1, 4, 4), dtype=X.dtype))[:, :, :28, :28]
    order = np.random.RandomState(0).permutation(len(X))
    return X[order], y[order]


def learner_for(strategy, X, y):
    net = make_net_for("lenet5", X, y, max_epochs=10)
    return ActiveLearner(net, strategy, random_state=0).fit(X, y)


def acknowledgements(X, y, answers: int, folder: Path) -> dict:
    pool = np.lib.format.open_memmap(
        folder / "pool.npy", mode="w+", dtype=np.float32, shape=(65_000, *X.shape[1:])
    )
    pool[:] = np.resize(X, pool.shape)
    pool.flush()
    pool = np.load(folder / "pool.npy", mmap_mode="r")
    learner = learner_for(EntropySampling(), X[:200], y[:200])
    config = CONFIG.format("".join(f'<Choice value="{c}"/>' for c in learner.classes_))
    backend = LabelStudioBackend(
        learner,
        path=folder / "state.skactive",
        label_config=config,
        pool=pool,
        background_refit=False,
    )
    client = make_app(backend).test_client()
    seconds = []
    for i in range(answers):
        label = str(learner.classes_[i % len(learner.classes_)])
        event = {
            "action": "ANNOTATION_CREATED",
            "task": {"id": i, "data": {"row": 1000 + i}},
            "annotation": {
                "id": i,
                "task": i,
                "result": [
                    {"from_name": "label", "type": "choices", "value": {"choices": [label]}}
                ],
            },
        }
        start = time.perf_counter()
        answer = client.post("/webhook", data=json.dumps(event), content_type="application/json")
        seconds.append(time.perf_counter() - start)
        assert answer.status_code == 201, answer.get_json()
    return {
        "pool_mib": pool.nbytes / 2**20,
        "state_mib": (folder / "state.skactive").stat().st_size / 2**20,
        "ack_median_s": statistics.median(seconds),
        "ack_max_s": max(seconds),
    }


def ranking(X, y, n_tasks: int) -> dict:
    learner = learner_for(BatchBALD(n_samples=20), X[:200], y[:200])
    config = CONFIG.format("".join(f'<Choice value="{c}"/>' for c in learner.classes_))
    backend = LabelStudioBackend(learner, label_config=config, background_refit=False)
    tasks = X[200 : 200 + n_tasks]
    backend.configure(pool=tasks)
    start = time.perf_counter()
    backend.predict([{"id": i, "data": {"row": i}} for i in range(n_tasks)])
    served = time.perf_counter() - start
    start = time.perf_counter()
    copy.copy(learner).query(tasks, n=n_tasks)
    greedy = time.perf_counter() - start
    return {"one_pass_s": served, "greedy_all_s": greedy, "ratio": greedy / served}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=400)
    args = parser.parse_args()
    X, y = data()
    with tempfile.TemporaryDirectory() as folder:
        ack = acknowledgements(X, y, args.answers, Path(folder))
    print(
        f"acknowledging an answer, pool of {ack['pool_mib']:.0f} MiB memory-mapped: state file "
        f"{ack['state_mib']:.2f} MiB; {ack['ack_median_s'] * 1000:.0f} ms median, "
        f"{ack['ack_max_s'] * 1000:.0f} ms max over {args.answers} answers"
    )
    rank = ranking(X, y, args.tasks)
    print(
        f"ranking {args.tasks} tasks with BatchBALD: one scoring pass {rank['one_pass_s']:.2f} s "
        f"(clusters and predictions included), the greedy joint selection of all "
        f"{rank['greedy_all_s']:.2f} s ({rank['ratio']:.0f}x)"
    )


if __name__ == "__main__":
    main()
