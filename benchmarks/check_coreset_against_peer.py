"""k-center greedy against scikit-activeml's CoreSet on identical embeddings.

Core-set ends below random on the Fashion-MNIST protocol (docs/results.rst).
This rules out one explanation: the greedy picks themselves. On random
84-d embeddings (100 labelled, 2,000 candidates, 50 picks), skactive's
``k_center_greedy`` and scikit-activeml's ``CoreSet`` (PyPI
``scikit-activeml``, ``pip install "skactive[bench]"``) must pick the same
rows in the same order.

Usage: ``python benchmarks/check_coreset_against_peer.py [--trials 3]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skactive.strategies.coreset import k_center_greedy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        from skactiveml.pool import CoreSet
    except ImportError:
        print("scikit-activeml is not installed: pip install 'skactive[bench]'; nothing to compare")
        return 0
    rng = np.random.RandomState(0)
    same = 0
    for trial in range(args.trials):
        embeddings = rng.rand(2100, 84)
        labeled, pool = embeddings[:100], embeddings[100:]
        y = np.full(len(embeddings), np.nan)
        y[:100] = 0
        theirs = CoreSet(random_state=0).query(embeddings, y, batch_size=50) - 100
        ours, _, _ = k_center_greedy(pool, labeled, 50)
        identical = np.array_equal(theirs, ours)
        same += identical
        print(f"trial {trial}: same picks in the same order: {identical}")
    print(f"{same} of {args.trials} trials identical")
    return 0 if same == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
