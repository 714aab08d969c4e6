"""Simulated labelling campaigns: an oracle with known labels, learning curves, plots."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from tqdm.auto import tqdm

from skactive._validation import check_n
from skactive.base import QueryStrategy
from skactive.learner import ActiveLearner
from skactive.param_validation import integer, validate_params
from skactive.registry import estimator_for

#: Rows of the pool a stopping criterion watches (the stop set).
STOP_SET_ROWS = 1000

_ROUND_CONSTRAINTS = {"n_rounds": [integer(1)], "query_size": [integer(1)]}


@dataclass(frozen=True)
class Round:
    """One query-and-teach round of :func:`campaign_rounds`."""

    round: int
    chosen: np.ndarray
    select_seconds: float
    fit_seconds: float
    remaining: np.ndarray


def campaign_rounds(
    learner: ActiveLearner, X_pool, y_pool, remaining, *, rounds: Iterable[int], query_size: int
) -> Iterator[Round]:
    """The active-learning loop, one round at a time, for a fitted learner.

    Each round queries ``query_size`` rows among ``X_pool[remaining]``,
    teaches their labels from ``y_pool`` (the oracle) and yields what
    happened; the loop ends early when fewer than ``query_size`` rows
    remain. :func:`simulate` and the experiment runner both drive
    campaigns through it, adding their own records between rounds.

    Parameters
    ----------
    learner : fitted ActiveLearner
    X_pool, y_pool : array-like
        The pool and the labels the oracle reveals.
    remaining : ndarray of int
        Indices of the pool rows not labelled yet.
    rounds : iterable of int
        Round numbers to run (e.g. ``range(1, n_rounds + 1)``, or a
        ``tqdm`` of it).
    query_size : int

    Yields
    ------
    round : Round
    """
    for round_ in rounds:
        if len(remaining) < query_size:
            return
        start = time.perf_counter()
        chosen = remaining[learner.query(X_pool[remaining], n=query_size)]
        select_seconds = time.perf_counter() - start
        start = time.perf_counter()
        learner.teach(X_pool[chosen], y_pool[chosen])
        fit_seconds = time.perf_counter() - start
        remaining = np.setdiff1d(remaining, chosen, assume_unique=True)
        yield Round(round_, chosen, select_seconds, fit_seconds, remaining)


def draw_initial_set(X_pool, n_initial: int, seed: int, *, strategy=None) -> np.ndarray:
    """Indices of a run's initial labelled rows: a seeded random draw, or a strategy's picks.

    Without ``strategy``, ``n_initial`` rows drawn by ``RandomState(seed)``
    (the draw every campaign here has always used). With one (TypiClust or
    ProbCover on an embedding, :func:`~skactive.registry.make_initial_strategy`),
    a clone seeded by ``seed`` selects them before any label exists:
    ``strategy.select(None, X_pool, n_initial)``, best first.
    """
    if strategy is None:
        return np.random.RandomState(seed).choice(len(X_pool), size=n_initial, replace=False)
    chooser = clone(strategy)
    if "random_state" in chooser.get_params(deep=False):
        chooser.set_params(random_state=seed)
    return np.asarray(chooser.select(None, X_pool, n_initial), dtype=np.intp)


def draw_stop_set(X_pool, seed: int) -> np.ndarray:
    """The unlabelled rows a stopping criterion watches: the same every round.

    ``STOP_SET_ROWS`` pool rows drawn with ``RandomState(seed + 1)``, in pool
    order; the one rule of :func:`simulate` and the experiment runner.
    """
    rows = np.random.RandomState(seed + 1).permutation(len(X_pool))[:STOP_SET_ROWS]
    return np.asarray(X_pool)[np.sort(rows)]


def check_budget(*, n_initial: int, query_size: int, budget: int, candidates, names=None) -> int:
    """The number of query rounds a label budget allows; ValueError if it allows none.

    ``names`` maps the parameter names to how the caller calls them (the
    command line's flags) for the messages.
    """
    names = {k: k for k in ("n_initial", "query_size", "budget", "candidates")} | (names or {})
    if budget < n_initial + query_size:
        raise ValueError(
            f"{names['budget']} ({budget}) must be at least {names['n_initial']} + "
            f"{names['query_size']} ({n_initial} + {query_size}): otherwise no round of "
            "queries runs"
        )
    if candidates is not None and candidates < query_size:
        raise ValueError(
            f"{names['candidates']} ({candidates}) must be at least {names['query_size']} "
            f"({query_size}): each round picks {names['query_size']} rows among the candidates"
        )
    return (budget - n_initial) // query_size


def simulate(
    learner: ActiveLearner,
    X_init,
    y_init,
    X_pool,
    y_pool,
    X_test,
    y_test,
    *,
    n_rounds: int,
    query_size: int,
    progress: bool = True,
    description: str = "rounds",
    stopping=None,
    stop_set=None,
    stop_early: bool = True,
    scoring: dict | None = None,
) -> list[dict]:
    """Drive ``learner`` over a pool whose labels are known (the oracle).

    Fits on the initial set, then in each round queries ``query_size`` rows,
    teaches their true labels and evaluates on the test set. Stops early if
    the pool runs out.

    Parameters
    ----------
    learner : ActiveLearner
        Unfitted (it is fitted on ``X_init, y_init``).
    X_init, y_init : array-like
        Initial labelled set.
    X_pool, y_pool : array-like
        Pool and the labels the oracle reveals.
    X_test, y_test : array-like
        Held-out evaluation data.
    n_rounds : int
        Number of query/teach rounds.
    query_size : int
        Rows labelled per round.
    progress : bool, default=True
        Show a tqdm progress bar.
    description : str
        Label of the progress bar.
    stopping : StoppingCriterion, default=None
        A criterion of :mod:`skactive.stopping`. Like an estimator in
        ``fit``, it is cloned at the start, so each campaign begins with a
        fresh history and the object passed stays as it was; the clone is
        updated after every round on ``stop_set``, and each record has
        ``stop`` (its verdict).
    stop_set : array-like, default=None
        Unlabelled rows the criterion looks at, the same every round
        (None: :func:`draw_stop_set` with the learner's integer
        ``random_state``, or 0).
    stop_early : bool, default=True
        End the campaign when the criterion says stop; ``False`` runs to
        the budget anyway, to measure the accuracy stopping would give up.
    scoring : dict of str to callable, default=None
        Further scores recorded each round next to accuracy, each called
        as ``scorer(learner, X_test, y_test)`` (scikit-learn's scorer
        signature), e.g. ``{"robust_accuracy":
        robust_accuracy_scorer(eps=0.1)}`` from :mod:`skactive.metrics`.

    Returns
    -------
    records : list of dict
        One per evaluation (round 0 is the initial fit) with ``round``,
        ``n_labeled`` (labels paid for), ``n_training_rows`` (incl. twins
        and pseudo-labels), ``accuracy``, ``select_seconds`` and
        ``fit_seconds``, plus one key per ``scoring`` entry. A learner with
        ``semi_supervised=True`` gets the pool as its first fit's
        unlabelled rows.
    """
    validate_params(dict(n_rounds=n_rounds, query_size=query_size), _ROUND_CONSTRAINTS)
    y_pool = np.asarray(y_pool)
    stopping = None if stopping is None else clone(stopping)
    if stopping is not None and stop_set is None:
        seed = learner.get_params().get("random_state")
        stop_set = draw_stop_set(X_pool, seed if isinstance(seed, int) else 0)
    start = time.perf_counter()
    unlabeled = X_pool if learner.get_params().get("semi_supervised") else None
    learner.fit(X_init, y_init, unlabeled=unlabeled)
    records = [_record(learner, X_test, y_test, 0, 0.0, time.perf_counter() - start, scoring)]
    rounds = tqdm(range(1, n_rounds + 1), desc=description, disable=not progress, leave=False)
    loop = campaign_rounds(
        learner, X_pool, y_pool, np.arange(len(X_pool)), rounds=rounds, query_size=query_size
    )
    for step in loop:
        records.append(
            _record(
                learner, X_test, y_test, step.round, step.select_seconds, step.fit_seconds, scoring
            )
        )
        if stopping is not None:
            records[-1]["stop"] = stopping.update(learner, stop_set)
            if records[-1]["stop"] and stop_early:
                break
    return records


def stopping_summary(records: Sequence[dict]) -> list[dict]:
    """Where each run's stopping criterion said stop, and what stopping there gives up.

    Parameters
    ----------
    records : list of dict
        Records with ``stop`` (from :func:`compare_strategies` or
        :func:`simulate` with ``stop_early=False``).

    Returns
    -------
    rows : list of dict
        Per strategy and seed: ``stop_n_labeled`` (None if it never said
        stop), ``final_n_labeled``, ``accuracy_at_stop``, ``final_accuracy``
        and ``accuracy_given_up`` (final minus at-stop).
    """
    runs = defaultdict(list)
    for record in records:
        if "stop" in record:
            runs[(record.get("strategy"), record.get("seed"))].append(record)
    rows = []
    for (strategy, seed), run in runs.items():
        run = sorted(run, key=lambda r: r["n_labeled"])
        final = run[-1]
        at_stop = next((r for r in run if r["stop"]), None)
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "stop_n_labeled": None if at_stop is None else at_stop["n_labeled"],
                "final_n_labeled": final["n_labeled"],
                "accuracy_at_stop": None if at_stop is None else at_stop["accuracy"],
                "final_accuracy": final["accuracy"],
                "accuracy_given_up": None
                if at_stop is None
                else final["accuracy"] - at_stop["accuracy"],
            }
        )
    return rows


def _record(learner, X_test, y_test, round_, select_seconds, fit_seconds, scoring) -> dict:
    X, _, _ = learner.training_set(include_pseudo=True)
    extra = {
        name: float(scorer(learner, X_test, y_test)) for name, scorer in (scoring or {}).items()
    }
    return {
        **extra,
        "round": round_,
        "n_labeled": len(learner.y_labeled_),
        "n_training_rows": len(X),
        "accuracy": float(learner.score(X_test, y_test)),
        "select_seconds": select_seconds,
        "fit_seconds": fit_seconds,
    }


def compare_strategies(
    estimator,
    strategies: Mapping[str, QueryStrategy],
    X_pool,
    y_pool,
    X_test,
    y_test,
    *,
    n_initial: int,
    n_rounds: int,
    query_size: int,
    seeds: Sequence[int] = (0,),
    progress: bool = True,
    by_name: bool = False,
    stopping=None,
    initial_strategy=None,
) -> list[dict]:
    """Run :func:`simulate` for every strategy and seed on the same splits.

    For each seed the initial labelled set is drawn at random from the pool,
    or chosen by ``initial_strategy`` (see :func:`draw_initial_set`), the
    same rows for every strategy, so curves differ only by strategy.
    With ``stopping`` (a criterion of :mod:`skactive.stopping`), a fresh
    copy follows every run, which continues to the budget anyway; records
    carry its ``stop`` verdicts (see :func:`stopping_summary`).
    With ``by_name=True`` the keys of ``strategies`` are the short names of
    :data:`skactive.registry.STRATEGIES`, and committee strategies
    (:data:`~skactive.registry.COMMITTEES`) query a committee of
    ``estimator``.

    Returns
    -------
    records : list of dict
        The records of :func:`simulate`, each with ``strategy`` and ``seed``.
    """
    X_pool, y_pool = np.asarray(X_pool), np.asarray(y_pool)
    validate_params(dict(n_rounds=n_rounds, query_size=query_size), _ROUND_CONSTRAINTS)
    check_n(n_initial, len(X_pool), what="the pool")
    runs = [(name, seed) for seed in seeds for name in strategies]
    if not runs:
        raise ValueError("strategies and seeds must each name at least one run")
    records = []
    initial = {
        seed: draw_initial_set(X_pool, n_initial, seed, strategy=initial_strategy) for seed in seeds
    }
    for name, seed in tqdm(runs, desc="strategies", disable=not progress):
        init = initial[seed]
        rest = np.setdiff1d(np.arange(len(X_pool)), init)
        learner = ActiveLearner(
            estimator_for(name, clone(estimator)) if by_name else clone(estimator),
            clone(strategies[name]),
            classes=np.unique(y_pool),
            random_state=seed,
        )
        run = simulate(
            learner,
            X_pool[init],
            y_pool[init],
            X_pool[rest],
            y_pool[rest],
            X_test,
            y_test,
            n_rounds=n_rounds,
            query_size=query_size,
            progress=progress,
            description=name,
            stopping=stopping,
            stop_early=False,
        )
        records += [{"strategy": name, "seed": seed, **row} for row in run]
    return records


def summarize(records: Sequence[dict]) -> dict[str, dict[int, tuple[float, float]]]:
    """Mean and standard deviation of accuracy over seeds.

    Returns
    -------
    summary : dict
        ``summary[strategy][n_labeled] = (mean, std)``.
    """
    grouped: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in records:
        grouped[row.get("strategy", "")][row["n_labeled"]].append(row["accuracy"])
    return {
        name: {n: (float(np.mean(a)), float(np.std(a))) for n, a in sorted(curve.items())}
        for name, curve in grouped.items()
    }


def format_table(records: Sequence[dict]) -> str:
    """A plain-text table: one row per label count, one column per strategy."""
    summary = summarize(records)
    names = list(summary)
    counts = sorted({n for curve in summary.values() for n in curve})
    header = ["labels", *names]
    lines = [header]
    for n in counts:
        cells = [str(n)]
        for name in names:
            mean_std = summary[name].get(n)
            cells.append("-" if mean_std is None else f"{mean_std[0]:.3f} ± {mean_std[1]:.3f}")
        lines.append(cells)
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def plot_learning_curves(records: Sequence[dict], path, *, title: str = "Learning curves") -> Path:
    """Write a PNG of test accuracy vs labels, mean ± std over seeds.

    Parameters
    ----------
    records : list of dict
        Output of :func:`compare_strategies` (or :func:`simulate` rows with a
        ``strategy`` key).
    path : path-like
        Where to write the PNG.
    title : str
        Figure title (name the data set and network).

    Returns
    -------
    path : Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in summarize(records).items():
        n = np.array(list(curve))
        mean = np.array([m for m, _ in curve.values()])
        std = np.array([s for _, s in curve.values()])
        (line,) = ax.plot(n, mean, marker="o", markersize=3, label=name)
        ax.fill_between(n, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("labelled samples (oracle labels)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
