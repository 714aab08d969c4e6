"""The DFAL paper's protocol: a resumable grid of :func:`~skactive.simulation.simulate` calls.

For every dataset x network x strategy x seed: draw the initial labelled
set, query in batches up to a label budget, retrain after every round and
evaluate on the held-out test set. Callbacks append every round to the CSVs
of :mod:`skactive.experiments.records` as soon as it finishes and
checkpoint the campaign, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from tqdm.auto import tqdm

from skactive._files import atomic_write, load_pickle, remove_stale_temporaries, save_pickle
from skactive.datasets import DATASETS
from skactive.embeddings import Embedding, flattened_rows
from skactive.experiments.records import (
    ResultsLog,
    RobustnessLog,
    StoppingLog,
    forget_rounds_after,
    read_results,
)
from skactive.experiments.registry import estimator_for, make_initial_strategy
from skactive.experiments.settings import (
    CANDIDATES_ON_EMBEDDING,
    ExperimentConfig,
    pretrained_net,
)
from skactive.learner import ActiveLearner
from skactive.pretraining import PretrainedWeights
from skactive.simulation import SimulationState, campaign_learner, draw_initial_set, simulate
from skactive.stopping import CRITERIA

__all__ = [
    "check_checkpoints",
    "grid",
    "key_name",
    "run_experiments",
    "run_settings",
    "save_training_set",
    "set_path",
]


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
        key for key in grid(config) if key not in last_rounds or not set_path(config, key).is_file()
    ]
    check_checkpoints(config)
    data = {}
    for key in tqdm(todo, desc="runs", disable=not config.progress):
        if key[0] not in data:
            data[key[0]] = DATASETS[key[0]]()
        _run_one(config, key, data[key[0]])
    return results


def grid(config) -> list[tuple]:
    """The run keys ``(dataset, network, strategy, seed)`` of the grid, in the order run."""
    return [
        (d, n, s, seed)
        for d in config.datasets
        for n in config.networks
        for seed in config.seeds
        for s in config.strategies
    ]


def key_name(key) -> str:
    """The file name stem of run ``key``."""
    return "_".join(str(k) for k in key).replace("/", "-")


def set_path(config, key) -> Path:
    """Where run ``key``'s final training set is saved (``X``, ``y``, ``groups``, ``n_labeled``)."""
    return Path(config.output_dir) / "sets" / f"{key_name(key)}.npz"


def _checkpoint_path(config, key) -> Path:
    return Path(config.output_dir) / "checkpoints" / f"{key_name(key)}.pkl"


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
    for key in grid(config):
        path = _checkpoint_path(config, key)
        if not path.is_file():
            continue
        saved = _read_checkpoint(path).settings
        now = run_settings(config, key[2])
        changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
        if changed:
            detail = "; ".join(f"{k}: {saved.get(k)} -> {now.get(k)}" for k in changed)
            raise ValueError(
                f"output_dir: the interrupted run {key_name(key)} in {config.output_dir} was "
                f"started with other settings ({detail}); resume it with the original "
                "settings, or use another --output-dir"
            )


@dataclass(frozen=True)
class _Checkpoint:
    """A run after its last complete round: the campaign, its initial rows, its settings."""

    state: SimulationState
    initial: np.ndarray
    settings: dict


def _read_checkpoint(path: Path) -> _Checkpoint:
    # Written by this runner, so trusted; a raw pickle of an earlier runner,
    # or a file of another format version, is refused by name.
    return load_pickle(path, _Checkpoint, kind="checkpoint")


@dataclass(frozen=True)
class _SaveCheckpoint:
    """Callback, the last of a round: after it, the round is done."""

    path: Path
    initial: np.ndarray
    settings: dict

    def __call__(self, state, record) -> None:
        _save_checkpoint(self.path, _Checkpoint(state, self.initial, self.settings))


def _save_checkpoint(path: Path, checkpoint: _Checkpoint) -> None:
    save_pickle(checkpoint, path, kind="checkpoint")


@dataclass(frozen=True)
class _SaveTrainingSet:
    """Callback: the run's training set, at its last round (read by :func:`run_transfer`)."""

    path: Path
    last: int

    def __call__(self, state, record) -> None:
        if state.round == self.last:
            save_training_set(state.learner, self.path)


def save_training_set(learner, path: Path) -> None:
    """Save ``learner``'s training set (queried rows first, then twins) as an ``.npz``."""
    X, y, groups = learner.training_set()
    arrays = dict(X=X, y=y, groups=groups, n_labeled=len(learner.y_labeled_))
    atomic_write(path, lambda s: np.savez_compressed(s, **arrays))


def _run_one(config, key, data) -> None:
    """Run (or resume) one campaign of the grid."""
    strategy = key[2]
    X_pool, y_pool, X_test, y_test = data
    folder = Path(config.output_dir)
    checkpoint = _checkpoint_path(config, key)
    if checkpoint.is_file():
        saved = _read_checkpoint(checkpoint)
        start, initial = saved.state, saved.initial
        forget_rounds_after(folder, key, start.round)
    else:
        forget_rounds_after(folder, key, -1)
        start, initial = _new_campaign(config, key, X_pool, y_pool)
    rest = np.setdiff1d(np.arange(len(X_pool)), initial)
    fresh = not isinstance(start, SimulationState)
    learner = start if fresh else start.learner
    simulate(
        start,
        X_pool[initial] if fresh else None,
        y_pool[initial] if fresh else None,
        X_pool[rest],
        y_pool[rest],
        X_test,
        y_test,
        n_rounds=config.n_rounds,
        query_size=config.query_size,
        progress=config.progress,
        description=strategy,
        stopping={name: CRITERIA[name]() for name in config.stopping},
        stop_early=False,
        callbacks=_callbacks(config, key, initial, X_test, y_test),
    )
    if not set_path(config, key).is_file():  # a run resumed after its last round's checkpoint
        save_training_set(learner, set_path(config, key))
    checkpoint.unlink(missing_ok=True)


def _callbacks(config, key, initial, X_test, y_test) -> list:
    """The runner's files, in the order written: the results row, then the checkpoint, last."""
    folder = Path(config.output_dir)
    callbacks = []
    if config.robust_eps:
        callbacks.append(
            RobustnessLog(
                folder / "robustness.csv",
                key,
                X_test,
                y_test,
                eps=tuple(config.robust_eps),
                rows=config.robust_rows,
                every=config.robust_every,
                last=config.n_rounds,
            )
        )
    # The last round's results row marks the run finished, so everything
    # else of the round (and the run's training set) is written first.
    return [
        *callbacks,
        StoppingLog(folder / "stopping.csv", key),
        _SaveTrainingSet(set_path(config, key), config.n_rounds),
        ResultsLog(folder / "results.csv", key),
        _SaveCheckpoint(_checkpoint_path(config, key), initial, run_settings(config, key[2])),
    ]


def _new_campaign(config, key, X_pool, y_pool) -> tuple[ActiveLearner, np.ndarray]:
    """An unfitted learner for run ``key`` and the positions of its initial rows."""
    _, network, strategy, seed = key
    net = config.network(network, X_pool, y_pool)
    if config.pretrain:
        net = _pretrained(config, key, net, X_pool)
    embedding = Embedding(net).fit(X_pool) if config.pretrain == "simclr" else None
    chooser = make_initial_strategy(
        config.initial_strategy,
        embedding=flattened_rows if embedding is None else embedding,
        candidates=CANDIDATES_ON_EMBEDDING.get(config.initial_strategy),
    )
    initial = draw_initial_set(X_pool, config.n_initial, seed, strategy=chooser)
    learner = campaign_learner(
        estimator_for(strategy, net),
        config.strategy(strategy, embedding),
        y_pool,
        seed,
        semi_supervised=config.semi_supervised_method is not None,
    )
    return learner, initial


def _pretrained(config, key, net, X_pool):
    """``net`` starting from weights pretrained on the pool, once per dataset, network and seed.

    The weights (a :class:`~skactive.pretraining.PretrainedWeights`
    callback) are kept, not the net: runs whose nets differ in class or
    settings (label propagation, adversarial training) share one
    pretraining of the same architecture. They live in ``pretrained/`` under
    the output folder, which several output folders may share (a link).
    """
    dataset, network, _, seed = key
    name = f"{config.pretrain}_{key_name((dataset, network, seed))}_weights.pkl"
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
