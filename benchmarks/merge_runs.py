"""Merge strategies from several runner folders into one results CSV, curves and report.

Variants of one strategy live in separate folders (runs are keyed by
strategy name); this gives each a name of its own and renders them together::

    python benchmarks/merge_runs.py --output-dir results/merged-diversity \\
        --run random=results/experiments-budget:random \\
        --run dfal=results/experiments-budget:dfal \\
        --run diversified_kmeanspp=results/diversified/kmeanspp:diversified_dfal

Each ``--run`` is ``NAME=FOLDER:STRATEGY``: the rows of ``STRATEGY`` in
``FOLDER/results.csv``, renamed ``NAME``. Writes ``results.csv``, the curves
and ``report.md`` (Tables 1-3) under ``--output-dir``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skactive.experiments import render_reports  # noqa: E402


def run_spec(text: str) -> tuple[str, Path, str]:
    name, sep, rest = text.partition("=")
    folder, colon, strategy = rest.rpartition(":")
    if not sep or not colon or not name or not folder or not strategy:
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER:STRATEGY, got {text!r}")
    path = Path(folder) / "results.csv"
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r}: {path} does not exist")
    return name, path, strategy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", type=run_spec, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = []
    for name, path, strategy in args.run:
        found = [r for r in csv.DictReader(path.open()) if r["strategy"] == strategy]
        if not found:
            parser.error(f"--run {name}: no rows of {strategy!r} in {path}")
        rows += [{**r, "strategy": name} for r in found]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    merged = args.output_dir / "results.csv"
    with merged.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = render_reports(merged, args.output_dir)
    print(report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
