"""The experiment grid's settings: the CPU settings of each method and ``ExperimentConfig``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from skactive.datasets import DATASETS
from skactive.experiments.registry import (
    GENERATIVE_AUGMENTATION,
    INITIAL_STRATEGIES,
    LOSS_PREDICTION,
    SHORT_NAMES,
    STRATEGIES,
    make_strategy,
    with_embedding,
)
from skactive.fixmatch import FixMatchNet
from skactive.models import ARCHITECTURES, make_net_for
from skactive.nets import AdversarialTrainingNet
from skactive.param_validation import BOOLEAN, integer, options, real, satisfies, validate_params
from skactive.pretraining import pretrain_contrastive, pretrain_deepcluster
from skactive.semi_supervised import LabelPropagationNet
from skactive.simulation import check_budget
from skactive.stopping import CRITERIA

__all__ = [
    "ADVERSARIAL_TRAINING",
    "CANDIDATES_ON_EMBEDDING",
    "PRETRAINING",
    "PRETRAINING_METHODS",
    "PRETRAINING_OPTIMIZERS",
    "QUICK",
    "SEMI_SUPERVISED",
    "SIMCLR",
    "STRATEGY_PARAMS",
    "ExperimentConfig",
    "pretrained_net",
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


#: Adversarial training in the runner: the reference's eps on [0, 1] pixels
#: (``adversarial_eps`` changes it), 10 PGD steps of Madry's 2.5 * eps / n_steps
#: instead of its 40 steps of 0.01.
ADVERSARIAL_TRAINING = dict(net_class=AdversarialTrainingNet, eps=0.3, n_steps=10, step_size=0.075)


#: The runner's semi-supervised nets (CPU settings), by ``--semi-supervised``
#: method. Label propagation: a propagation every 5 epochs over the labelled
#: rows and 5,000 unlabelled ones, half of those drawn to train on.
#: FixMatch and FlexMatch: 50 steps an epoch, 7 unlabelled rows per labelled
#: one from 20,000 unlabelled rows, the paper's tau = 0.95 and lambda_u = 1.
SEMI_SUPERVISED = {
    "label-propagation": dict(net_class=LabelPropagationNet, lp_every=5, max_unlabeled=5_000),
    "fixmatch": dict(net_class=FixMatchNet, steps_per_epoch=50, max_unlabeled=20_000),
    "flexmatch": dict(
        net_class=FixMatchNet, thresholds="flexmatch", steps_per_epoch=50, max_unlabeled=20_000
    ),
}


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
    "semi_supervised": [BOOLEAN, options(*SEMI_SUPERVISED)],
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
    semi_supervised: bool | str = False
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
    def semi_supervised_method(self) -> str | None:
        """The semi-supervised method's name (``True``: label propagation, as before)."""
        if self.semi_supervised is True:
            return "label-propagation"
        return self.semi_supervised or None

    @property
    def n_rounds(self) -> int:
        """Query rounds from the initial set to the budget."""
        return (self.budget - self.n_initial) // self.query_size

    def network(self, name: str, X_train, y_train):
        """An unfitted ``make_net(name)`` sized for ``X_train`` and its classes.

        With ``adversarial_training`` it is an
        :class:`~skactive.nets.AdversarialTrainingNet` in the CPU setting
        :data:`ADVERSARIAL_TRAINING`; with ``semi_supervised`` the net of
        that method (:class:`~skactive.semi_supervised.LabelPropagationNet`,
        :class:`~skactive.fixmatch.FixMatchNet`) in its setting in
        :data:`SEMI_SUPERVISED`.
        """
        extra = {}
        if self.adversarial_training:
            eps = float(self.adversarial_eps)
            extra = dict(ADVERSARIAL_TRAINING, eps=eps, step_size=2.5 * eps / 10)
        if self.semi_supervised:
            extra = dict(SEMI_SUPERVISED[self.semi_supervised_method])
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
