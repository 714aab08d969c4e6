"""Fingerprint a 3-round digits campaign of every short-named strategy.

Used to show that a refactoring changes no result: run it before and after,
then compare the two JSON files (they must be identical)::

    python benchmarks/campaign_fingerprint.py before.json
    python benchmarks/campaign_fingerprint.py after.json
    cmp before.json after.json

Each strategy runs through ``simulate`` on scikit-learn's digits with a
small LeNet5 (seed 0): the record of every round (labels, training rows,
accuracy), the queried indices and a hash of the final network's weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skactive import ActiveLearner, set_config
from skactive.datasets import load_digits_images
from skactive.models import make_net
from skactive.simulation import simulate

try:  # the registry's home in the harness, after the redesign, and before it
    from skactive.experiments.registry import SHORT_NAMES, estimator_for, make_strategy
except ImportError:  # pragma: no cover
    try:
        from skactive.registry import SHORT_NAMES, estimator_for, make_strategy
    except ImportError:
        from skactive.strategies import SHORT_NAMES, estimator_for, make_strategy


def fingerprint(name: str) -> dict:
    X, y = load_digits_images()
    order = np.random.RandomState(0).permutation(len(X))
    init, pool, test = order[:30], order[30:430], order[1400:]
    strategy = make_strategy(name, query_size=10, candidates=200)
    for param, value in (("n_iterations", 3), ("max_epochs", 3), ("n_samples", 4)):
        if param in strategy.get_params():
            strategy.set_params(**{param: value})
    net = make_net("lenet5", image_size=8, max_epochs=15, batch_size=16)
    learner = ActiveLearner(
        estimator_for(name, net), strategy, classes=np.arange(10), random_state=0
    )
    records = simulate(
        learner,
        X[init],
        y[init],
        X[pool],
        y[pool],
        X[test],
        y[test],
        n_rounds=3,
        query_size=10,
        progress=False,
    )
    weights = hashlib.sha256()
    for tensor in _tensors(learner.estimator_):
        weights.update(tensor.detach().cpu().numpy().tobytes())
    return {
        "records": [
            {k: r[k] for k in ("round", "n_labeled", "n_training_rows", "accuracy")}
            for r in records
        ],
        "indices": [entry["indices"].tolist() for entry in learner.history_],
        "weights": weights.hexdigest(),
    }


def _tensors(estimator):
    nets = getattr(estimator, "estimators_", None) or [estimator]
    for net in nets:
        yield from net.module_.state_dict().values()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "campaign_fingerprint.json")
    # One thread, inside the library's calls too: the weights' last bits
    # depend on the thread count, and "auto" would follow the machine's load.
    torch.set_num_threads(1)
    with contextlib.suppress(TypeError):  # a tree from before n_threads
        set_config(n_threads=1)
    warnings.filterwarnings("ignore")
    result = {name: fingerprint(name) for name in SHORT_NAMES}
    out.write_text(json.dumps(result, indent=1, sort_keys=True))
    print(f"{len(result)} strategies fingerprinted: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
