"""The runner's report: learning curves and the DFAL paper's Tables 1-3, stopping and robustness.

Every table reads the runner's CSVs (:mod:`skactive.experiments.records`);
none runs a network.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from skactive.experiments.records import read_results, run_of
from skactive.simulation import plot_learning_curves, stopping_summary, summarize

__all__ = [
    "render_reports",
    "robustness_table",
    "stopping_table",
]


def _by_setting(rows):
    groups = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["network"])].append(row)
    return groups


def render_reports(results: Path, out_dir: Path, *, label_counts=None, target=None) -> Path:
    """Write curves (PNG per dataset x network) and ``report.md`` with Tables 1-3.

    Parameters
    ----------
    results : path of the results CSV.
    out_dir : folder for the PNGs and ``report.md``.
    label_counts : label counts for Table 1 (default: every count reached).
    target : accuracy for Table 2 (default: the final mean accuracy of
        random sampling, i.e. labels each strategy needs to match it).

    Returns
    -------
    report : Path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Results", ""]
    for (dataset, network), rows in _by_setting(read_results(results)).items():
        seeds = sorted({r["seed"] for r in rows})
        title = f"{dataset} / {network}: test accuracy vs labels ({len(seeds)} seeds)"
        png = plot_learning_curves(rows, out_dir / f"{dataset}_{network}_curves.png", title=title)
        lines += [f"## {dataset} / {network} (seeds {seeds})", "", f"![curves]({png.name})", ""]
        lines += [*_table_accuracy(rows, label_counts), ""]
        lines += [*_table_labels_to_target(rows, target), ""]
        lines += [*_table_selection_time(rows), ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return report


def _table_accuracy(rows, label_counts):
    summary = summarize(rows)
    counts = label_counts or sorted({n for curve in summary.values() for n in curve})
    out = [
        "Table 1 - test accuracy (mean ± std over seeds) at each label count",
        "",
        "| strategy | " + " | ".join(str(n) for n in counts) + " |",
        "|---|" + "---|" * len(counts),
    ]
    for name, curve in summary.items():
        cells = [f"{curve[n][0]:.3f} ± {curve[n][1]:.3f}" if n in curve else "-" for n in counts]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def _table_labels_to_target(rows, target):
    summary = summarize(rows)
    if target is None and "random" in summary:
        target = summary["random"][max(summary["random"])][0]
    if target is None:
        return []
    rows_at = defaultdict(list)
    for r in rows:
        rows_at[(r["strategy"], r["n_labeled"])].append(r["n_training_rows"])
    out = [
        f"Table 2 - labels needed to reach mean test accuracy {target:.3f} "
        "(training rows include twins and pseudo-labels)",
        "",
        "| strategy | labels | training rows |",
        "|---|---|---|",
    ]
    for name, curve in summary.items():
        reached = [n for n, (mean, _) in curve.items() if mean >= target - 1e-12]
        if reached:
            n = min(reached)
            out.append(f"| {name} | {n} | {int(np.mean(rows_at[(name, n)]))} |")
        else:
            out.append(f"| {name} | not reached | - |")
    return out


def _table_selection_time(rows):
    seconds = defaultdict(list)
    for r in rows:
        if r["round"] > 0:
            seconds[r["strategy"]].append(r["select_seconds"])
    out = [
        "Table 3 - seconds to select one batch (mean ± std over rounds and seeds)",
        "",
        "| strategy | seconds |",
        "|---|---|",
    ]
    for name, values in seconds.items():
        out.append(f"| {name} | {np.mean(values):.2f} ± {np.std(values):.2f} |")
    return out


def robustness_table(results: Path, robustness: Path) -> str:
    """Markdown: accuracy and robust accuracy per strategy at the last label count."""
    if not Path(robustness).is_file():
        return ""
    with open(robustness, newline="") as handle:
        robust = list(csv.DictReader(handle))
    final = max(int(r["n_labeled"]) for r in robust)
    values = defaultdict(dict)
    for r in robust:
        if int(r["n_labeled"]) == final:
            run = (r["strategy"], int(r["seed"]))
            values[run][float(r["eps"])] = float(r["robust_accuracy"])
    clean = {
        (r["strategy"], r["seed"]): r["accuracy"]
        for r in read_results(results)
        if r["n_labeled"] == final
    }
    eps_all = sorted({e for v in values.values() for e in v})
    out = [
        f"Robustness - test accuracy and PGD robust accuracy at {final} labels "
        "(mean ± std over seeds)",
        "",
        "| strategy | seeds | accuracy | " + " | ".join(f"eps {e:g}" for e in eps_all) + " |",
        "|---|---|---|" + "---|" * len(eps_all),
    ]
    for name in sorted({s for s, _ in values}):
        runs = sorted(run for run in values if run[0] == name)
        acc = [clean[run] for run in runs if run in clean]
        cells = [_mean_std([values[run].get(e, np.nan) for run in runs]) for e in eps_all]
        out.append(f"| {name} | {len(runs)} | {_mean_std(acc)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    return "-" if values.size == 0 else f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def stopping_table(results: Path, stopping: Path) -> str:
    """Markdown: per criterion and strategy, labels at the first stop and accuracy given up.

    Accuracy given up is the final (budget) accuracy minus the accuracy at
    the first round the criterion said stop (:func:`~skactive.simulation.stopping_summary`),
    averaged over the runs that stopped.
    """
    if not Path(stopping).is_file():
        return ""
    accuracy = {(*run_of(r), r["n_labeled"]): r["accuracy"] for r in read_results(results)}
    records = defaultdict(list)
    with open(stopping, newline="") as handle:
        for r in csv.DictReader(handle):
            run, labels = run_of(r), int(r["n_labeled"])
            if (*run, labels) in accuracy:
                # One "strategy" per run, so a summary row is one run.
                records[(r["criterion"], r["strategy"])].append(
                    dict(
                        strategy=run,
                        n_labeled=labels,
                        stop=bool(int(r["stop"])),
                        accuracy=accuracy[(*run, labels)],
                    )
                )
    out = [
        "Stopping - labels at the first stop and accuracy given up versus the budget "
        "(mean over the seeds that stopped)",
        "",
        "| criterion | strategy | runs stopped | labels at stop | accuracy given up |",
        "|---|---|---|---|---|",
    ]
    for (criterion, strategy), rows in sorted(records.items()):
        runs = stopping_summary(rows)
        stops = [run for run in runs if run["stop_n_labeled"] is not None]
        if not stops:
            out.append(f"| {criterion} | {strategy} | 0 of {len(runs)} | never | - |")
            continue
        labels = np.mean([run["stop_n_labeled"] for run in stops])
        given_up = np.mean([run["accuracy_given_up"] for run in stops])
        out.append(
            f"| {criterion} | {strategy} | {len(stops)} of {len(runs)} | {labels:.0f} | "
            f"{given_up:+.3f} |"
        )
    return "\n".join(out)
