"""The DFAL paper's experimental protocol, resumable, with its tables and figures.

For every dataset x network x strategy x seed: draw a random initial labelled
set, query in batches up to a label budget, retrain after every round and
evaluate on the held-out test set. Every round is appended to a CSV as soon as
it finishes and the campaign is checkpointed, so an interrupted run resumes
where it stopped. Reports mirror the paper: learning curves (Figure 2),
accuracy at fixed label counts (Table 1), labels needed to reach a target
accuracy (Table 2), selection time (Table 3) and transferred queries
(Table 4).
"""

from __future__ import annotations

import csv
import functools
import io
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from tqdm.auto import tqdm

from skactive._files import atomic_write, load_pickle, remove_stale_temporaries, save_pickle
from skactive.datasets import DATASETS
from skactive.embeddings import Embedding, flattened_rows
from skactive.learner import ActiveLearner
from skactive.metrics import robust_accuracy
from skactive.models import ARCHITECTURES, make_net_for
from skactive.nets import AdversarialTrainingNet
from skactive.param_validation import BOOLEAN, integer, options, real, satisfies, validate_params
from skactive.pretraining import PretrainedWeights, pretrain_contrastive, pretrain_deepcluster
from skactive.registry import (
    GENERATIVE_AUGMENTATION,
    INITIAL_STRATEGIES,
    LOSS_PREDICTION,
    SHORT_NAMES,
    STRATEGIES,
    estimator_for,
    make_initial_strategy,
    make_strategy,
    with_embedding,
)
from skactive.semi_supervised import LabelPropagationNet
from skactive.simulation import (
    campaign_rounds,
    check_budget,
    draw_initial_set,
    draw_stop_set,
    plot_learning_curves,
    summarize,
)
from skactive.stopping import CRITERIA

COLUMNS = [
    "dataset",
    "network",
    "strategy",
    "seed",
    "round",
    "n_labeled",
    "accuracy",
    "n_training_rows",
    "select_seconds",
    "fit_seconds",
]


#: Strategy settings for the runner; CEAL's pseudo-labels are capped so the
#: refit stays affordable on CPU.
STRATEGY_PARAMS = {"ceal": {"max_pseudo": 1000}}


#: DeepCluster in the runner (CPU setting): 10 epochs on 10,000 pool rows.
PRETRAINING = dict(n_epochs=10, max_rows=10_000)

#: SimCLR in the runner (CPU setting, about 3 minutes for LeNet5 on 2 cores):
#: 20 epochs on 20,000 pool rows; temperature and learning rate chosen by a
#: linear probe on Fashion-MNIST (docs/results.rst, "Cold start").
SIMCLR = dict(n_epochs=20, max_rows=20_000, temperature=0.2, lr=3e-3)

#: Pretraining methods of ``--pretrain``.
PRETRAINING_METHODS = ("deepcluster", "simclr")

#: Candidates of the cold-start strategies when the nets are SimCLR-pretrained
#: and they rank on its embedding (cached, so the pool costs a lookup):
#: TypiClust sees the whole pool (about 2 s on 60,000 rows); ProbCover 10,000
#: random rows, the setting of the published campaigns (chosen when a query
#: over all 60,000 took over 2 minutes; it now takes about 25 s).
CANDIDATES_ON_EMBEDDING = {"typiclust": None, "probcover": 10_000}

#: DeepCluster's optimizer: the task net's own, or the original's SGD
#: (learning rate 0.05, momentum 0.9, weight decay 1e-5).
PRETRAINING_OPTIMIZERS = {
    "net": {},
    "sgd": dict(
        optimizer=functools.partial(torch.optim.SGD, momentum=0.9, weight_decay=1e-5), lr=0.05
    ),
    # The original DeepCluster's optimizer and its sampler, equal rows per cluster.
    "sgd_balanced": dict(
        optimizer=functools.partial(torch.optim.SGD, momentum=0.9, weight_decay=1e-5),
        lr=0.05,
        balanced_clusters=True,
    ),
}


def _all(constraint):
    """Every item of a tuple meets ``constraint`` (an empty tuple too)."""
    return lambda values: all(constraint.accepts(value) for value in values)


_SETTING_CONSTRAINTS = {
    "seeds": [satisfies(lambda s: bool(s) and _all(integer(0))(s), "non-negative integers")],
    "n_initial": [integer(1)],
    "query_size": [integer(1)],
    "budget": [integer(1)],
    "epochs": [integer(1)],
    "candidates": [integer(1), None],
    "robust_eps": [satisfies(_all(real(0.0)), "non-negative numbers")],
    "robust_rows": [integer(1)],
    "robust_every": [integer(1)],
    "adversarial_training": [BOOLEAN],
    "adversarial_eps": [real(0.0, low_open=True)],
    "semi_supervised": [BOOLEAN],
    "pretrain": [None, options(*PRETRAINING_METHODS)],
    "pretrain_optimizer": [options(*sorted(PRETRAINING_OPTIMIZERS))],
    "initial_strategy": [options(*INITIAL_STRATEGIES)],
}


@dataclass
class ExperimentConfig:
    """Settings of one experiment grid (the defaults follow the paper on CPU)."""

    datasets: Sequence[str] = ("fashion-mnist",)
    networks: Sequence[str] = ("lenet5",)
    strategies: Sequence[str] = tuple(STRATEGIES)
    seeds: Sequence[int] = (0, 1, 2)
    n_initial: int = 100
    query_size: int = 100
    budget: int = 1000
    epochs: int = 20
    candidates: int | None = 2000
    device: str = "cpu"
    output_dir: Path = Path("results/experiments")
    progress: bool = True
    extra_strategy_params: dict = field(default_factory=dict)
    stopping: Sequence[str] = ()
    robust_eps: Sequence[float] = ()
    robust_rows: int = 1000
    robust_every: int = 1
    adversarial_training: bool = False
    adversarial_eps: float = 0.3
    semi_supervised: bool = False
    pretrain: str | None = None
    pretrain_optimizer: str = "net"
    initial_strategy: str = "random"

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot run.

        Called by :func:`run_experiments` before any data is loaded, so a
        bad grid never trains a network, and a budget that gives no round
        of queries never reruns round 0 on every resume.
        """
        for name, known in [
            ("datasets", DATASETS),
            ("networks", ARCHITECTURES),
            ("strategies", SHORT_NAMES),
        ]:
            chosen = tuple(getattr(self, name))
            unknown = sorted(set(chosen) - set(known))
            if not chosen or unknown:
                raise ValueError(
                    f"{name}: unknown {unknown or 'none given'}; choose from {sorted(known)}"
                )
        validate_params(
            {**vars(self), "seeds": tuple(self.seeds), "robust_eps": tuple(self.robust_eps)},
            _SETTING_CONSTRAINTS,
        )
        unknown = sorted(set(self.stopping) - set(CRITERIA))
        if unknown:
            raise ValueError(f"stopping: unknown {unknown}; choose from {sorted(CRITERIA)}")
        check_budget(
            n_initial=self.n_initial,
            query_size=self.query_size,
            budget=self.budget,
            candidates=self.candidates,
        )
        self._validate_strategy_params()
        if self.semi_supervised and self.adversarial_training:
            raise ValueError("semi_supervised and adversarial_training cannot be combined")
        own_nets = sorted(set(self.strategies) & {*LOSS_PREDICTION, *GENERATIVE_AUGMENTATION})
        if (self.semi_supervised or self.adversarial_training) and own_nets:
            raise ValueError(
                f"semi_supervised, adversarial_training: {own_nets} train nets of their own "
                "(LossPredictionNet, GenerativeAugmentationNet); run them without either"
            )

    def _validate_strategy_params(self) -> None:
        for name, params in self.extra_strategy_params.items():
            if name not in self.strategies:
                raise ValueError(
                    f"extra_strategy_params: {name!r} is not one of the strategies run "
                    f"({list(self.strategies)})"
                )
            try:
                strategy = self.strategy(name)
            except TypeError as exc:
                raise ValueError(f"extra_strategy_params[{name!r}]: {exc}") from None
            unknown = sorted(set(params) - set(strategy.get_params()))
            if unknown:
                raise ValueError(
                    f"extra_strategy_params[{name!r}]: unknown parameters {unknown}; "
                    f"{type(strategy).__name__} takes {sorted(strategy.get_params())}"
                )
        # Values too, before any network is trained (a bad one used to fail in round 1).
        for name in self.strategies:
            try:
                self.strategy(name).check_params()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"strategies: {name}: {exc}") from None

    @property
    def n_rounds(self) -> int:
        """Query rounds from the initial set to the budget."""
        return (self.budget - self.n_initial) // self.query_size

    def network(self, name: str, X_train, y_train):
        """An unfitted ``make_net(name)`` sized for ``X_train`` and its classes.

        With ``adversarial_training`` it is an
        :class:`~skactive.nets.AdversarialTrainingNet` in the CPU setting
        :data:`ADVERSARIAL_TRAINING`; with ``semi_supervised`` a
        :class:`~skactive.semi_supervised.LabelPropagationNet` in the
        setting :data:`SEMI_SUPERVISED`.
        """
        extra = {}
        if self.adversarial_training:
            eps = float(self.adversarial_eps)
            extra = dict(ADVERSARIAL_TRAINING, eps=eps, step_size=2.5 * eps / 10)
        if self.semi_supervised:
            extra = dict(SEMI_SUPERVISED)
        return make_net_for(
            name, X_train, y_train, max_epochs=self.epochs, device=self.device, **extra
        )

    def strategy(self, name: str, embedding=None):
        """The strategy called ``name`` with the grid's candidate subset size.

        With ``embedding`` (the SimCLR runs), strategies that take one rank
        on it, and those of :data:`CANDIDATES_ON_EMBEDDING` see as many
        candidates as it says unless ``extra_strategy_params`` set theirs.
        """
        params = dict(STRATEGY_PARAMS.get(name, {}))
        params.update(self.extra_strategy_params.get(name, {}))
        default = self.candidates
        if embedding is not None and name in CANDIDATES_ON_EMBEDDING:
            default = CANDIDATES_ON_EMBEDDING[name]
        candidates = params.pop("candidates", default)
        made = make_strategy(name, query_size=self.query_size, candidates=candidates, **params)
        return with_embedding(made, embedding)


#: Adversarial training in the runner: the reference's eps on [0, 1] pixels
#: (``adversarial_eps`` changes it), 10 PGD steps of Madry's 2.5 * eps / n_steps
#: instead of its 40 steps of 0.01.
ADVERSARIAL_TRAINING = dict(net_class=AdversarialTrainingNet, eps=0.3, n_steps=10, step_size=0.075)


#: Label propagation in the runner (CPU setting): a propagation every 5
#: epochs over the labelled rows and 5,000 unlabelled ones, half of those
#: drawn to train on.
SEMI_SUPERVISED = dict(net_class=LabelPropagationNet, lp_every=5, max_unlabeled=5_000)


#: A minutes-long grid for 2 CPU cores (exercised by the test suite).
QUICK = dict(
    datasets=("digits",),
    networks=("lenet5",),
    strategies=("random", "entropy", "dfal"),
    seeds=(0, 1),
    n_initial=20,
    query_size=20,
    budget=100,
    epochs=60,
    candidates=400,
)


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


def run_experiments(config: ExperimentConfig) -> Path:
    """Run (or resume) the grid; return the path of the results CSV."""
    config.validate()
    out = Path(config.output_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "sets").mkdir(exist_ok=True)
    # A killed run leaves its half-written files; they are never read, only in the way.
    remove_stale_temporaries(out)
    results = out / "results.csv"
    last_rounds = {
        (r["dataset"], r["network"], r["strategy"], r["seed"])
        for r in read_results(results)
        if r["round"] == config.n_rounds
    }
    # Finished means the last round's row *and* the run's training set are written.
    todo = [
        key
        for key in _grid(config)
        if key not in last_rounds or not _set_path(config, key).is_file()
    ]
    check_checkpoints(config)
    data = {}
    for key in tqdm(todo, desc="runs", disable=not config.progress):
        if key[0] not in data:
            data[key[0]] = DATASETS[key[0]]()
        _run_one(config, key, data[key[0]], results)
    return results


def _grid(config) -> list[tuple]:
    return [
        (d, n, s, seed)
        for d in config.datasets
        for n in config.networks
        for seed in config.seeds
        for s in config.strategies
    ]


def _set_path(config, key) -> Path:
    return Path(config.output_dir) / "sets" / f"{_key_name(key)}.npz"


def _checkpoint_path(config, key) -> Path:
    return Path(config.output_dir) / "checkpoints" / f"{_key_name(key)}.pkl"


def run_settings(config, strategy: str) -> dict:
    """The settings that define one run of ``strategy``, as stored in its checkpoint.

    A resumed run must continue with exactly these: a checkpoint written
    with other values is refused (see :func:`check_checkpoints`).
    """
    # A SimCLR run's strategy ranks on an embedding made from the pool; a
    # stand-in gives the candidates it uses, and the embedding is not a setting.
    stand_in = flattened_rows if config.pretrain == "simclr" else None
    params = config.strategy(strategy, stand_in).get_params(deep=False)
    params.pop("embedding", None)
    return {
        "n_initial": config.n_initial,
        "query_size": config.query_size,
        "budget": config.budget,
        "epochs": config.epochs,
        "candidates": config.candidates,
        "adversarial_training": config.adversarial_training,
        "adversarial_eps": float(config.adversarial_eps),
        "semi_supervised": config.semi_supervised,
        "pretrain": config.pretrain,
        "pretrain_optimizer": config.pretrain_optimizer,
        "initial_strategy": config.initial_strategy,
        "stopping": sorted(config.stopping),
        **{f"{strategy}.{name}": repr(value) for name, value in sorted(params.items())},
    }


def check_checkpoints(config) -> None:
    """Refuse to resume a run whose checkpoint was written with other settings.

    Raises
    ------
    ValueError
        Naming the run, each setting that differs (saved -> now) and the
        way out (the original settings, or another ``output_dir``).
    """
    for key in _grid(config):
        path = _checkpoint_path(config, key)
        if not path.is_file():
            continue
        saved = _read_checkpoint(path).settings
        now = run_settings(config, key[2])
        changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
        if changed:
            detail = "; ".join(f"{k}: {saved.get(k)} -> {now.get(k)}" for k in changed)
            raise ValueError(
                f"output_dir: the interrupted run {_key_name(key)} in {config.output_dir} was "
                f"started with other settings ({detail}); resume it with the original "
                "settings, or use another --output-dir"
            )


def _key_name(key) -> str:
    return "_".join(str(k) for k in key).replace("/", "-")


@dataclass
class _Checkpoint:
    """A run's state after its last complete round."""

    learner: ActiveLearner
    remaining: np.ndarray
    round: int
    criteria: dict
    settings: dict


def _read_checkpoint(path: Path) -> _Checkpoint:
    # Written by this runner, so trusted; a raw pickle of an earlier runner,
    # or a file of another format version, is refused by name.
    return load_pickle(path, _Checkpoint, kind="checkpoint")


def _run_one(config, key, data, results: Path) -> None:
    _, network, strategy, seed = key
    X_pool, y_pool, X_test, y_test = data
    checkpoint = _checkpoint_path(config, key)
    settings = run_settings(config, strategy)
    # A run killed after writing a round's rows but before its checkpoint
    # writes that round again: drop what the checkpoint does not cover.
    if checkpoint.is_file():
        state = _read_checkpoint(checkpoint)
        learner, remaining, start_round, criteria = (
            state.learner,
            state.remaining,
            state.round,
            state.criteria,
        )
        _forget_rounds_after(config, key, start_round)
    else:
        _forget_rounds_after(config, key, -1)
        criteria = _criteria(config)
        net = config.network(network, X_pool, y_pool)
        if config.pretrain:
            net = _pretrained(config, key, net, X_pool)
        embedding = Embedding(net).fit(X_pool) if config.pretrain == "simclr" else None
        chooser = make_initial_strategy(
            config.initial_strategy,
            embedding=flattened_rows if embedding is None else embedding,
            candidates=CANDIDATES_ON_EMBEDDING.get(config.initial_strategy),
        )
        init = draw_initial_set(X_pool, config.n_initial, seed, strategy=chooser)
        remaining = np.setdiff1d(np.arange(len(X_pool)), init)
        learner = ActiveLearner(
            estimator_for(strategy, net),
            config.strategy(strategy, embedding),
            classes=np.unique(y_pool),
            semi_supervised=config.semi_supervised,
            random_state=seed,
        )
        start = time.perf_counter()
        unlabeled = X_pool[remaining] if config.semi_supervised else None
        learner.fit(X_pool[init], y_pool[init], unlabeled=unlabeled)
        start_round = 0
        fit_s = time.perf_counter() - start
        _record_robustness(config, key, learner, 0, X_test, y_test)
        _append(results, key, learner, X_test, y_test, 0, 0.0, fit_s)
        _checkpoint(checkpoint, _Checkpoint(learner, remaining, 0, criteria, settings))
    # A fixed unlabelled stop set per seed, the same after a resume.
    stop_set = draw_stop_set(X_pool, seed)
    rounds = tqdm(
        range(start_round + 1, config.n_rounds + 1),
        desc=strategy,
        leave=False,
        disable=not config.progress,
    )
    loop = campaign_rounds(
        learner, X_pool, y_pool, remaining, rounds=rounds, query_size=config.query_size
    )
    for step in loop:
        round_, remaining = step.round, step.remaining
        select_s, fit_s = step.select_seconds, step.fit_seconds
        # The last round's results row marks the run finished, so everything
        # else of the round (and the run's training set) is written first.
        _record_robustness(config, key, learner, round_, X_test, y_test)
        _record_stopping(results.parent / "stopping.csv", key, learner, round_, criteria, stop_set)
        if round_ == config.n_rounds:
            _save_training_set(config, key, learner)
        _append(results, key, learner, X_test, y_test, round_, select_s, fit_s)
        _checkpoint(checkpoint, _Checkpoint(learner, remaining, round_, criteria, settings))
    if not _set_path(config, key).is_file():  # a run resumed after its last round's checkpoint
        _save_training_set(config, key, learner)
    checkpoint.unlink(missing_ok=True)


def _save_training_set(config, key, learner) -> None:
    X, y, groups = learner.training_set()
    arrays = dict(X=X, y=y, groups=groups, n_labeled=len(learner.y_labeled_))
    atomic_write(_set_path(config, key), lambda s: np.savez_compressed(s, **arrays))


def _forget_rounds_after(config, key, round_: int) -> None:
    """Drop every record of run ``key`` after ``round_`` from the runner's CSVs."""
    out = Path(config.output_dir)
    for path in (out / "results.csv", out / "stopping.csv", out / "robustness.csv"):
        if not path.is_file():
            continue
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields, rows = reader.fieldnames, list(reader)
        keep = [r for r in rows if not (_run_of(r) == key and int(r["round"]) > round_)]
        if len(keep) == len(rows):
            continue
        atomic_write(
            path, lambda stream, rows=keep, fields=fields: _write_csv(stream, fields, rows)
        )


def _run_of(row: dict) -> tuple:
    return (row["dataset"], row["network"], row["strategy"], int(row["seed"]))


def _write_csv(stream, fields, rows) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    stream.write(text.getvalue().encode())


def pretrained_net(method: str, net, X_pool, *, random_state, optimizer: str = "net"):
    """``net`` pretrained on ``X_pool`` in the runner's CPU setting of ``method``.

    ``"simclr"``: :func:`~skactive.pretraining.pretrain_contrastive` with
    :data:`SIMCLR`; ``"deepcluster"``:
    :func:`~skactive.pretraining.pretrain_deepcluster` with :data:`PRETRAINING`
    and the optimizer :data:`PRETRAINING_OPTIMIZERS` names.
    """
    if method == "simclr":
        return pretrain_contrastive(net, X_pool, random_state=random_state, **SIMCLR)
    if method == "deepcluster":
        settings = {**PRETRAINING, **PRETRAINING_OPTIMIZERS[optimizer]}
        return pretrain_deepcluster(net, X_pool, random_state=random_state, **settings)
    raise ValueError(f"pretrain: unknown {method!r}; choose from {PRETRAINING_METHODS}")


def _pretrained(config, key, net, X_pool):
    """``net`` starting from weights pretrained on the pool, once per dataset, network and seed.

    The weights (a :class:`~skactive.pretraining.PretrainedWeights`
    callback) are kept, not the net: runs whose nets differ in class or
    settings (label propagation, adversarial training) share one
    pretraining of the same architecture. They live in ``pretrained/`` under
    the output folder, which several output folders may share (a link).
    """
    dataset, network, _, seed = key
    name = f"{config.pretrain}_{_key_name((dataset, network, seed))}_weights.pkl"
    path = Path(config.output_dir) / "pretrained" / name
    if path.is_file():  # written by this runner: trusted
        weights = load_pickle(path, PretrainedWeights, kind="pretrained weights")
    else:
        path.parent.mkdir(exist_ok=True)
        pretrained = pretrained_net(
            config.pretrain, net, X_pool, random_state=seed, optimizer=config.pretrain_optimizer
        )
        weights = dict(pretrained.callbacks)["pretrained_weights"]
        save_pickle(weights, path, kind="pretrained weights")
    callbacks = [*(net.callbacks or []), ("pretrained_weights", weights)]
    return clone(net).set_params(callbacks=callbacks)


def _checkpoint(path: Path, state: _Checkpoint) -> None:
    save_pickle(state, path, kind="checkpoint")


def _criteria(config) -> dict:
    return {name: CRITERIA[name]() for name in config.stopping}


STOPPING_COLUMNS = [*COLUMNS[:6], "criterion", "value", "stop"]


def _record_stopping(path: Path, key, learner, round_, criteria, stop_set) -> None:
    """Each criterion's verdict after this round; the campaign goes on to the budget."""
    if not criteria:
        return
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=STOPPING_COLUMNS)
        if new:
            writer.writeheader()
        for name, criterion in criteria.items():
            stop = criterion.update(learner, stop_set)
            row = dict(zip(COLUMNS[:4], key, strict=True))
            row.update(
                round=round_,
                n_labeled=len(learner.y_labeled_),
                criterion=name,
                value=f"{criterion.history_[-1]['value']:.5f}",
                stop=int(stop),
            )
            writer.writerow(row)


ROBUSTNESS_COLUMNS = [*COLUMNS[:6], "eps", "robust_accuracy"]


def _record_robustness(config, key, learner, round_, X_test, y_test) -> None:
    """PGD robust accuracy on a fixed test subset, one row per ``robust_eps``.

    Recorded every ``robust_every`` rounds and at the last round.
    """
    if not config.robust_eps:
        return
    if round_ % config.robust_every and round_ != config.n_rounds:
        return
    rows = np.random.RandomState(0).permutation(len(X_test))[: config.robust_rows]
    rows = np.sort(rows)
    path = Path(config.output_dir) / "robustness.csv"
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROBUSTNESS_COLUMNS)
        if new:
            writer.writeheader()
        for eps in config.robust_eps:
            value = robust_accuracy(
                learner, X_test[rows], y_test[rows], eps=float(eps), random_state=key[3]
            )
            row = dict(zip(COLUMNS[:4], key, strict=True))
            row.update(
                round=round_,
                n_labeled=len(learner.y_labeled_),
                eps=eps,
                robust_accuracy=f"{value:.5f}",
            )
            writer.writerow(row)


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
    the first round the criterion said stop, averaged over the seeds that
    stopped.
    """
    if not Path(stopping).is_file():
        return ""
    accuracy = {
        (r["dataset"], r["network"], r["strategy"], r["seed"], r["n_labeled"]): r["accuracy"]
        for r in read_results(results)
    }
    final = {}
    for (d, n, s, seed, labels), acc in accuracy.items():
        if labels >= final.get((d, n, s, seed), (0, 0))[0]:
            final[(d, n, s, seed)] = (labels, acc)
    first, runs_of = {}, defaultdict(set)
    with open(stopping, newline="") as handle:
        for r in csv.DictReader(handle):
            run = (r["dataset"], r["network"], r["strategy"], int(r["seed"]))
            runs_of[(r["criterion"], r["strategy"])].add(run)
            if int(r["stop"]):
                first.setdefault((r["criterion"], run), int(r["n_labeled"]))
    out = [
        "Stopping - labels at the first stop and accuracy given up versus the budget "
        "(mean over the seeds that stopped)",
        "",
        "| criterion | strategy | runs stopped | labels at stop | accuracy given up |",
        "|---|---|---|---|---|",
    ]
    for (criterion, strategy), runs in sorted(runs_of.items()):
        runs = sorted(runs)
        stops = [(first[(criterion, run)], run) for run in runs if (criterion, run) in first]
        if not stops:
            out.append(f"| {criterion} | {strategy} | 0 of {len(runs)} | never | - |")
            continue
        labels = np.mean([n for n, _ in stops])
        given_up = np.mean([final[run][1] - accuracy[(*run, n)] for n, run in stops])
        out.append(
            f"| {criterion} | {strategy} | {len(stops)} of {len(runs)} | {labels:.0f} | "
            f"{given_up:+.3f} |"
        )
    return "\n".join(out)


def _append(results: Path, key, learner, X_test, y_test, round_, select_s, fit_s) -> None:
    new = not results.is_file()
    X_train, _, _ = learner.training_set(include_pseudo=True)
    row = dict(zip(COLUMNS[:4], key, strict=True))
    row.update(
        round=round_,
        n_labeled=len(learner.y_labeled_),
        accuracy=f"{learner.score(X_test, y_test):.5f}",
        n_training_rows=len(X_train),
        select_seconds=f"{select_s:.3f}",
        fit_seconds=f"{fit_s:.3f}",
    )
    with results.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())


# -- reports -----------------------------------------------------------------


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


# -- transferred queries (Table 4) ----------------------------------------


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
        _key_name((d, source, s, seed))
        for d, s, seed in jobs
        if not _set_path(config, (d, source, s, seed)).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"output_dir: no training set for the runs {missing[:10]} in "
            f"{Path(config.output_dir) / 'sets'}; run (or finish) them with "
            f"run_experiments before transferring, or leave them out of the grid"
        )
    for dataset, strategy, seed in tqdm(jobs, desc="transfer", disable=not config.progress):
        stored = _set_path(config, (dataset, source, strategy, seed))
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
        new = not path.is_file()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
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
