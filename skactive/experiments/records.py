"""The runner's CSV files: one row per run and round, appended as each round ends.

``results.csv`` has accuracy and timings, ``stopping.csv`` each stopping
criterion's verdict and ``robustness.csv`` PGD robust accuracy. The three
writers are :func:`~skactive.simulation.simulate` callbacks; every append
goes through :func:`append_rows`, and :func:`forget_rounds_after` drops
what a checkpoint does not cover before a run resumes.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skactive._files import atomic_write
from skactive.metrics import robust_accuracy

__all__ = [
    "COLUMNS",
    "ROBUSTNESS_COLUMNS",
    "STOPPING_COLUMNS",
    "ResultsLog",
    "RobustnessLog",
    "StoppingLog",
    "append_rows",
    "forget_rounds_after",
    "read_results",
    "run_of",
    "write_rows",
]

#: The key of a run: which grid cell it is.
RUN_COLUMNS = ["dataset", "network", "strategy", "seed"]

#: ``results.csv``.
COLUMNS = [
    *RUN_COLUMNS,
    "round",
    "n_labeled",
    "accuracy",
    "n_training_rows",
    "select_seconds",
    "fit_seconds",
]

#: ``stopping.csv``.
STOPPING_COLUMNS = [*COLUMNS[:6], "criterion", "value", "stop"]

#: ``robustness.csv``.
ROBUSTNESS_COLUMNS = [*COLUMNS[:6], "eps", "robust_accuracy"]

#: The files of :func:`forget_rounds_after`, in the runner's output folder.
RECORD_FILES = ("results.csv", "stopping.csv", "robustness.csv")


def append_rows(path: Path, fields, rows, *, sync: bool = False) -> None:
    """Append ``rows`` (dicts) to the CSV at ``path``, with a header if it is new.

    ``sync=True`` reaches the disk before returning: the last round's row of
    ``results.csv`` marks a run finished.
    """
    path = Path(path)
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerows(rows)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())


def read_results(path: Path) -> list[dict]:
    """Rows of a results CSV, typed, the last copy of any repeated round kept."""
    if not Path(path).is_file():
        return []
    rows = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key in ("seed", "round", "n_labeled", "n_training_rows"):
                row[key] = int(row[key])
            for key in ("accuracy", "select_seconds", "fit_seconds"):
                row[key] = float(row[key])
            rows[(row["dataset"], row["network"], row["strategy"], row["seed"], row["round"])] = row
    return list(rows.values())


def run_of(row: dict) -> tuple:
    """The run key ``(dataset, network, strategy, seed)`` of a CSV row."""
    return (row["dataset"], row["network"], row["strategy"], int(row["seed"]))


def forget_rounds_after(folder: Path, key, round_: int) -> None:
    """Drop every record of run ``key`` after ``round_`` from the runner's CSVs.

    A run killed after writing a round's rows but before its checkpoint
    writes that round again.
    """
    for path in (Path(folder) / name for name in RECORD_FILES):
        if not path.is_file():
            continue
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields, rows = reader.fieldnames, list(reader)
        keep = [r for r in rows if not (run_of(r) == key and int(r["round"]) > round_)]
        if len(keep) < len(rows):
            write_rows(path, fields, keep)


def write_rows(path: Path, fields, rows) -> None:
    """Replace the CSV at ``path`` with a header and ``rows``, atomically."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda stream: stream.write(text.getvalue().encode()))


def _row(key, state, **values) -> dict:
    return {
        **dict(zip(RUN_COLUMNS, key, strict=True)),
        "round": state.round,
        "n_labeled": len(state.learner.y_labeled_),
        **values,
    }


@dataclass(frozen=True)
class ResultsLog:
    """Callback: one ``results.csv`` row per round of run ``key``."""

    path: Path
    key: tuple

    def __call__(self, state, record) -> None:
        row = _row(
            self.key,
            state,
            accuracy=f"{record['accuracy']:.5f}",
            n_training_rows=record["n_training_rows"],
            select_seconds=f"{record['select_seconds']:.3f}",
            fit_seconds=f"{record['fit_seconds']:.3f}",
        )
        append_rows(self.path, COLUMNS, [row], sync=True)


@dataclass(frozen=True)
class StoppingLog:
    """Callback: each stopping criterion's value and verdict, one row per criterion."""

    path: Path
    key: tuple

    def __call__(self, state, record) -> None:
        if state.round == 0 or not state.criteria:
            return  # the criteria first look after round 1
        rows = [
            _row(
                self.key,
                state,
                criterion=name,
                value=f"{criterion.history_[-1]['value']:.5f}",
                stop=int(criterion.history_[-1]["stop"]),
            )
            for name, criterion in state.criteria.items()
        ]
        append_rows(self.path, STOPPING_COLUMNS, rows)


@dataclass(frozen=True)
class RobustnessLog:
    """Callback: PGD robust accuracy on a fixed test subset, one row per ``eps``.

    Recorded every ``every`` rounds and at round ``last``.
    """

    path: Path
    key: tuple
    X_test: np.ndarray
    y_test: np.ndarray
    eps: tuple
    rows: int
    every: int
    last: int

    def __call__(self, state, record) -> None:
        if state.round % self.every and state.round != self.last:
            return
        # The same test rows for every run and round.
        rows = np.sort(np.random.RandomState(0).permutation(len(self.X_test))[: self.rows])
        values = [
            robust_accuracy(
                state.learner,
                self.X_test[rows],
                self.y_test[rows],
                eps=float(eps),
                random_state=self.key[3],
            )
            for eps in self.eps
        ]
        out = [
            _row(self.key, state, eps=eps, robust_accuracy=f"{value:.5f}")
            for eps, value in zip(self.eps, values, strict=True)
        ]
        append_rows(self.path, ROBUSTNESS_COLUMNS, out)
