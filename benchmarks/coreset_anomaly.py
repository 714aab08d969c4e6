"""Why core-set ends below random on Fashion-MNIST / LeNet5: variants side by side.

Runs each variant through the experiment runner (3 seeds, 100 -> 1,000
labels, the runner's defaults) in its own folder under ``--root`` (runs are
keyed by strategy name, so variants cannot share one), resuming whatever is
there, then prints one table: accuracy at 200, 500 and 1,000 labels, the
mean over 200-1,000, seconds per selection, and how the queried labels
spread over the classes (normalised entropy of the class histogram, 1 =
uniform; the two classes most queried and their share).

Usage: ``python benchmarks/coreset_anomaly.py [--root results/coreset] [--only-report]``
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import run_experiments  # noqa: E402

FASHION_CLASSES = (
    "T-shirt", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Boot",
)  # fmt: skip

#: folder -> (strategy, runner arguments)
VARIANTS = {
    "base": ("coreset", []),
    "normalize": ("coreset", ["--param", "coreset.normalize=True"]),
    "whole-pool": ("coreset", ["--candidates", "60000"]),
    "conv-features": ("coreset", ["--param", "coreset.layer=features"]),
    "mip-outliers": (
        "coreset",
        ["--param", "coreset.method=mip", "--param", "coreset.outliers=20"],
    ),
    "egl": ("egl", []),
}


def run(root: Path) -> None:
    for folder, (strategy, extra) in VARIANTS.items():
        run_experiments.main(
            [
                *("--threads", "1", "--no-progress", "--strategies", strategy),
                *extra,
                *("--output-dir", str(root / folder)),
            ]
        )


def summarise(folder: Path, strategy: str) -> dict | None:
    path = folder / "results.csv"
    if not path.is_file():
        return None
    accuracy, seconds = defaultdict(list), []
    for row in csv.DictReader(path.open()):
        if row["strategy"] != strategy:
            continue
        accuracy[int(row["n_labeled"])].append(float(row["accuracy"]))
        if int(row["round"]) > 0:
            seconds.append(float(row["select_seconds"]))
    counts = np.zeros(len(FASHION_CLASSES))
    for stored in sorted((folder / "sets").glob(f"*_{strategy}_*.npz")):
        with np.load(stored) as saved:
            # The first 100 labels are the random initial set.
            counts += np.bincount(saved["y"][100 : int(saved["n_labeled"])], minlength=10)
    share = counts / counts.sum()
    entropy = -np.sum(share[share > 0] * np.log(share[share > 0])) / np.log(len(share))
    top = np.argsort(-share)[:2]
    means = {k: statistics.mean(v) for k, v in accuracy.items()}
    return {
        "at": {k: (means[k], statistics.pstdev(accuracy[k])) for k in (200, 500, 1000)},
        "mean": statistics.mean(v for k, v in means.items() if k >= 200),
        "seconds": statistics.mean(seconds),
        "entropy": entropy,
        "top": ", ".join(f"{FASHION_CLASSES[k]} {share[k]:.0%}" for k in top),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("results/coreset"))
    parser.add_argument("--only-report", action="store_true", help="do not run missing variants")
    parser.add_argument(
        "--random-dir",
        type=Path,
        default=Path("results/experiments-budget"),
        help="a runner folder holding the random baseline, printed first when present",
    )
    args = parser.parse_args(argv)
    if not args.only_report:
        run(args.root)
    columns = ["variant", "200", "500", "1,000", "mean 200-1,000", "s/query"]
    columns += ["class entropy", "most queried"]
    print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    rows = [("random", args.random_dir, "random")]
    rows += [(folder, args.root / folder, strategy) for folder, (strategy, _) in VARIANTS.items()]
    for folder, path, strategy in rows:
        found = summarise(path, strategy)
        if found is None:
            print(f"| {folder} | not run |")
            continue
        at = " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in found["at"].values())
        print(
            f"| {folder} | {at} | {found['mean']:.3f} | {found['seconds']:.1f} | "
            f"{found['entropy']:.2f} | {found['top']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
