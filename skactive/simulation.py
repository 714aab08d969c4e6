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
    ProbCover on an embedding, :func:`~skactive.experiments.registry.make_initial_strategy`),
    a clone seeded by ``seed`` selects them before any label exists:
    ``strategy.select(None, X_pool, n_initial)``, best first.
    """
    if strategy is None:
        return np.random.RandomState(seed).choice(len(X_pool), size=n_initial, replace=False)
    chooser = clone(strategy)
    if "random_state" in chooser.get_params(deep=False):
        chooser.set_params(random_state=seed)
    return np.asarray(chooser.select(None, X_pool, n_initial), dtype=np.intp)


def campaign_learner(estimator, query_strategy, y_pool, seed: int, **params) -> ActiveLearner:
    """The unfitted learner of one simulated campaign: the pool's classes declared, seeded.

    Every class of ``y_pool`` is declared up front (an initial set may lack
    one), and ``seed`` is the campaign's ``random_state``; ``params`` are
    further :class:`~skactive.ActiveLearner` parameters (``semi_supervised``).
    :func:`compare_strategies` and the experiment runner build their
    learners here.
    """
    return ActiveLearner(
        estimator, query_strategy, classes=np.unique(y_pool), random_state=seed, **params
    )


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


@dataclass(frozen=True)
class SimulationState:
    """Where a :func:`simulate` campaign stands after a round; what a checkpoint saves.

    Every callback receives one after round 0 (the initial fit) and after
    each round; passed back to :func:`simulate` in place of the learner,
    the campaign goes on from the next round.

    Attributes
    ----------
    learner : ActiveLearner
        The fitted learner (the same object all campaign long).
    remaining : ndarray of int
        Positions in ``X_pool`` of the rows not labelled yet.
    round : int
        The round just finished (0: the initial fit).
    criteria : dict of str to StoppingCriterion
        The campaign's own copies of the stopping criteria, with their
        histories.
    """

    learner: ActiveLearner
    remaining: np.ndarray
    round: int
    criteria: dict


def simulate(
    learner,
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
    callbacks: Sequence = (),
) -> list[dict]:
    """Drive ``learner`` over a pool whose labels are known (the oracle).

    Fits on the initial set, then in each round queries ``query_size`` rows,
    teaches their true labels and evaluates on the test set. Stops early if
    the pool runs out. It is the one campaign driver of the package:
    :func:`compare_strategies` and the experiment runner
    (:mod:`skactive.experiments`) are grids of ``simulate`` calls whose
    files are written by ``callbacks``.

    Parameters
    ----------
    learner : ActiveLearner or SimulationState
        Unfitted (it is fitted on ``X_init, y_init``); or the state a
        callback received after round ``r``, to resume the campaign at round
        ``r + 1`` with its learner, remaining rows and stopping criteria
        (``X_init`` and ``y_init`` are then None, ``stopping`` is not used;
        pass the same pool).
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
    stopping : StoppingCriterion or dict of str to StoppingCriterion, default=None
        Criteria of :mod:`skactive.stopping`. Like an estimator in ``fit``,
        each is cloned at the start, so each campaign begins with a fresh
        history and the objects passed stay as they were; the clones are
        updated after every round on ``stop_set``, and each record has
        ``stop``: whether any of them said stop (with one criterion, its
        verdict). The clones, with their histories, are
        ``SimulationState.criteria``.
    stop_set : array-like, default=None
        Unlabelled rows the criteria look at, the same every round (None:
        :func:`draw_stop_set` of ``X_pool`` with the learner's integer
        ``random_state``, or 0).
    stop_early : bool, default=True
        End the campaign when a criterion says stop; ``False`` runs to the
        budget anyway, to measure the accuracy stopping would give up.
    scoring : dict of str to callable, default=None
        Further scores recorded each round next to accuracy, each called
        as ``scorer(learner, X_test, y_test)`` (scikit-learn's scorer
        signature), e.g. ``{"robust_accuracy":
        robust_accuracy_scorer(eps=0.1)}`` from :mod:`skactive.metrics`.
    callbacks : sequence of callable, default=()
        Each called as ``callback(state, record)`` after round 0 and after
        every round, in order, once the record (and the stopping verdict)
        is complete: the experiment runner's CSV files, robust accuracy and
        checkpoints are callbacks.

    Returns
    -------
    records : list of dict
        One per evaluation run here (round 0 is the initial fit) with
        ``round``, ``n_labeled`` (labels paid for), ``n_training_rows``
        (incl. twins and pseudo-labels), ``accuracy``, ``select_seconds``
        and ``fit_seconds``, plus one key per ``scoring`` entry. A learner
        with ``semi_supervised=True`` gets the pool as its first fit's
        unlabelled rows.
    """
    validate_params(dict(n_rounds=n_rounds, query_size=query_size), _ROUND_CONSTRAINTS)
    y_pool = np.asarray(y_pool)
    if isinstance(learner, SimulationState):
        if X_init is not None or y_init is not None:
            raise ValueError(
                "X_init, y_init: a campaign resumed from a SimulationState is already fitted; "
                "pass None for both"
            )
        state, records = learner, []
    else:
        state, fit_seconds = _initial_fit(learner, X_init, y_init, X_pool, stopping)
        record = _record(state.learner, X_test, y_test, 0, 0.0, fit_seconds, scoring)
        records = [record]
        _call(callbacks, state, record)
    if state.criteria and stop_set is None:
        seed = state.learner.get_params().get("random_state")
        stop_set = draw_stop_set(X_pool, seed if isinstance(seed, int) else 0)
    rounds = tqdm(
        range(state.round + 1, n_rounds + 1), desc=description, disable=not progress, leave=False
    )
    loop = campaign_rounds(
        state.learner, X_pool, y_pool, state.remaining, rounds=rounds, query_size=query_size
    )
    for step in loop:
        record = _record(
            state.learner,
            X_test,
            y_test,
            step.round,
            step.select_seconds,
            step.fit_seconds,
            scoring,
        )
        state = SimulationState(state.learner, step.remaining, step.round, state.criteria)
        if state.criteria:
            verdicts = [c.update(state.learner, stop_set) for c in state.criteria.values()]
            record["stop"] = any(verdicts)
        records.append(record)
        _call(callbacks, state, record)
        if record.get("stop") and stop_early:
            break
    return records


def _initial_fit(learner, X_init, y_init, X_pool, stopping) -> tuple[SimulationState, float]:
    """The state after round 0, and the seconds the initial fit took."""
    if stopping is None:
        criteria = {}
    elif isinstance(stopping, Mapping):
        criteria = {name: clone(criterion) for name, criterion in stopping.items()}
    else:
        criteria = {type(stopping).__name__: clone(stopping)}
    start = time.perf_counter()
    unlabeled = X_pool if learner.get_params().get("semi_supervised") else None
    learner.fit(X_init, y_init, unlabeled=unlabeled)
    seconds = time.perf_counter() - start
    return SimulationState(learner, np.arange(len(X_pool)), 0, criteria), seconds


def _call(callbacks, state: SimulationState, record: dict) -> None:
    for callback in callbacks:
        callback(state, record)


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
    """What one evaluation of the campaign records."""
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
    ``estimator`` is one estimator for every strategy, or a mapping with the
    keys of ``strategies`` (e.g. a committee for query-by-committee, see
    :func:`skactive.experiments.registry.estimator_for`); each run fits a
    clone.

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
    missing = sorted(set(strategies) - set(estimator)) if isinstance(estimator, Mapping) else []
    if missing:
        raise ValueError(
            f"estimator: a mapping needs an entry for every strategy; {missing} have none"
        )
    records = []
    initial = {
        seed: draw_initial_set(X_pool, n_initial, seed, strategy=initial_strategy) for seed in seeds
    }
    for name, seed in tqdm(runs, desc="strategies", disable=not progress):
        init = initial[seed]
        rest = np.setdiff1d(np.arange(len(X_pool)), init)
        learner = campaign_learner(
            clone(estimator[name] if isinstance(estimator, Mapping) else estimator),
            clone(strategies[name]),
            y_pool,
            seed,
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
