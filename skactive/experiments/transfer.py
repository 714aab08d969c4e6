"""Transferred queries (the DFAL paper's Table 4): another network trained on a run's picks."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.base import clone
from tqdm.auto import tqdm

from skactive.datasets import DATASETS
from skactive.experiments.records import append_rows
from skactive.experiments.runner import key_name, set_path
from skactive.experiments.settings import ExperimentConfig
from skactive.learner import ActiveLearner

__all__ = [
    "run_transfer",
    "transfer_table",
]


def run_transfer(config: ExperimentConfig, *, source: str, target: str) -> Path:
    """Train ``target`` on the rows each strategy chose with ``source``.

    For every finished (dataset, ``source``, strategy, seed) run, a fresh
    ``target`` network is trained on the queried rows with and without their
    twins, and on as many random pool rows; test accuracy goes to
    ``transfer.csv``.
    """
    out = Path(config.output_dir)
    path = out / "transfer.csv"
    done = set()
    if path.is_file():
        with path.open(newline="") as handle:
            done = {(r["dataset"], r["strategy"], r["seed"]) for r in csv.DictReader(handle)}
    data = {}
    jobs = [
        (d, s, seed)
        for d in config.datasets
        for s in config.strategies
        for seed in config.seeds
        if (d, s, str(seed)) not in done
    ]
    missing = [
        key_name((d, source, s, seed))
        for d, s, seed in jobs
        if not set_path(config, (d, source, s, seed)).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"output_dir: no training set for the runs {missing[:10]} in "
            f"{Path(config.output_dir) / 'sets'}; run (or finish) them with "
            f"run_experiments before transferring, or leave them out of the grid"
        )
    for dataset, strategy, seed in tqdm(jobs, desc="transfer", disable=not config.progress):
        stored = set_path(config, (dataset, source, strategy, seed))
        if dataset not in data:
            data[dataset] = DATASETS[dataset]()
        X_pool, y_pool, X_test, y_test = data[dataset]
        with np.load(stored, allow_pickle=False) as saved:
            X, y, n_labeled = saved["X"], saved["y"], int(saved["n_labeled"])
        random_rows = np.random.RandomState(seed).choice(len(X_pool), n_labeled, replace=False)
        sets = {
            "queried": (X[:n_labeled], y[:n_labeled]),
            "queried+twins": (X, y),
            "random": (X_pool[random_rows], y_pool[random_rows]),
        }
        net = config.network(target, X_pool, y_pool)
        row = {
            "dataset": dataset,
            "source": source,
            "target": target,
            "strategy": strategy,
            "seed": seed,
            "n_labeled": n_labeled,
        }
        for name, (X_fit, y_fit) in sets.items():
            learner = ActiveLearner(clone(net), classes=np.unique(y_pool), random_state=seed)
            row[name] = f"{learner.fit(X_fit, y_fit).score(X_test, y_test):.5f}"
        append_rows(path, list(row), [row])
    return path


def transfer_table(path: Path) -> str:
    """Markdown Table 4: mean test accuracy of the target network per strategy."""
    if not Path(path).is_file():
        return ""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return ""
    grouped = defaultdict(lambda: defaultdict(list))
    for r in rows:
        for col in ("queried", "queried+twins", "random"):
            grouped[r["strategy"]][col].append(float(r[col]))
    first = rows[0]
    out = [
        f"Table 4 - {first['target']} trained on the {first['n_labeled']} rows chosen with "
        f"{first['source']} ({first['dataset']}); mean test accuracy",
        "",
        "| strategy | queried | queried + twins | random rows |",
        "|---|---|---|---|",
    ]
    for name, cols in grouped.items():
        cells = [f"{np.mean(cols[c]):.3f}" for c in ("queried", "queried+twins", "random")]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)
