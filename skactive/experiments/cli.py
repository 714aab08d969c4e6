"""``python -m skactive demo`` and ``python -m skactive run``: the harness's two commands.

The demo compares strategies in memory (:func:`~skactive.simulation.compare_strategies`)
and writes a plot and a CSV; ``run`` runs the resumable grid of
:mod:`skactive.experiments.runner` and writes its report. Both parsers
live here and share their argument types and checks.

Each bad value ends in ``parser.error`` (exit code 2, a one-line message
naming the flag) before any data is loaded or any network trained.
"""

from __future__ import annotations

import argparse
import ast
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from skactive.datasets import DATASETS
from skactive.embeddings import Embedding, flattened_rows
from skactive.experiments.records import write_rows
from skactive.experiments.registry import (
    INITIAL_STRATEGIES,
    SHORT_NAMES,
    estimator_for,
    make_initial_strategy,
    make_strategy,
    with_embedding,
)
from skactive.experiments.reports import render_reports, robustness_table, stopping_table
from skactive.experiments.runner import check_checkpoints, run_experiments
from skactive.experiments.settings import (
    PRETRAINING_METHODS,
    PRETRAINING_OPTIMIZERS,
    QUICK,
    SEMI_SUPERVISED,
    ExperimentConfig,
    pretrained_net,
)
from skactive.experiments.transfer import run_transfer, transfer_table
from skactive.models import ARCHITECTURES, make_net_for
from skactive.simulation import (
    check_budget,
    compare_strategies,
    format_table,
    plot_learning_curves,
    stopping_summary,
)
from skactive.stopping import CRITERIA

__all__ = [
    "demo_main",
    "demo_parser",
    "parse_demo",
    "parse_runner",
    "run_main",
    "runner_parser",
]

#: How the top-level command line names the two commands.
DEMO_PROG = "python -m skactive demo"
RUN_PROG = "python -m skactive run"


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def candidate_count(text: str) -> int | str:
    """argparse type: a positive integer, or ``"all"`` (every pool row; see :func:`whole_pool`)."""
    return "all" if text == "all" else positive_int(text)


def whole_pool(candidates):
    """The ``candidates`` setting of a parsed ``--candidates``: ``"all"`` is None."""
    return None if candidates == "all" else candidates


def open_fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


def number_list(flag: str):
    """An argparse type: comma-separated non-negative finite numbers."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(part) for part in text.split(",") if part.strip())
        except ValueError:
            values = ()
        if not values or not all(np.isfinite(v) and v >= 0 for v in values):
            raise argparse.ArgumentTypeError(
                f"{flag} takes comma-separated non-negative numbers, got {text!r}"
            )
        return values

    return parse


def torch_device(text: str) -> str:
    """argparse type: a torch device string that exists on this machine."""
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device (examples: cpu, cuda, cuda:1)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has no CUDA device")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(
            f"{text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: only cpu and cuda devices are supported")
    return text


def names(text: str, known, what: str) -> tuple[str, ...]:
    """Split a comma-separated list and check every name is known."""
    chosen = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(chosen) - set(known))
    if not chosen:
        raise argparse.ArgumentTypeError(f"no {what} given")
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {sorted(known)}")
    return chosen


def name_list(known, what: str):
    """argparse type factory for :func:`names`."""

    def parse(text: str) -> tuple[str, ...]:
        return names(text, known, what)

    return parse


def strategy_param(known):
    """argparse type factory: ``STRATEGY.PARAM=VALUE`` for the runner's ``--param``.

    ``VALUE`` is read as a Python literal (``3``, ``0.5``, ``True``, ``None``,
    ``'name'``) and kept as text when it is not one, so ``coreset.layer=features``
    works without quotes.
    """

    def parse(text: str) -> tuple[str, str, object]:
        target, sep, raw = text.partition("=")
        strategy, dot, param = target.partition(".")
        if not sep or not dot or not strategy or not param.isidentifier():
            raise argparse.ArgumentTypeError(
                f"expected STRATEGY.PARAM=VALUE (e.g. coreset.normalize=True), got {text!r}"
            )
        if strategy not in known:
            raise argparse.ArgumentTypeError(
                f"unknown strategy {strategy!r}; choose from {sorted(known)}"
            )
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        return strategy, param, value

    return parse


def check_output_dir(parser: argparse.ArgumentParser, folder: Path, flag: str) -> None:
    """Create ``folder`` and prove it is writable, or stop with ``parser.error``.

    Done before any work, so a campaign never finishes only to fail while
    writing its results.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        parser.error(f"{flag}: cannot write to {folder}: {exc.strerror or exc}")


#: The command line's name of each campaign parameter.
FLAGS = {
    "n_initial": "--initial",
    "query_size": "--query-size",
    "budget": "--budget",
    "candidates": "--candidates",
}


def check_campaign(parser, *, initial: int, query_size: int, budget: int, candidates) -> int:
    """The number of rounds the label budget gives, or ``parser.error`` if none."""
    try:
        return check_budget(
            n_initial=initial,
            query_size=query_size,
            budget=budget,
            candidates=candidates,
            names=FLAGS,
        )
    except ValueError as exc:
        parser.error(str(exc))


def _add_campaign_flags(parser: argparse.ArgumentParser, **defaults) -> None:
    """The flags both command lines share, each defaulting to ``defaults[name]`` (or None)."""
    parser.add_argument(
        "--strategies",
        type=name_list(SHORT_NAMES, "strategies"),
        default=defaults.get("strategies"),
        help=f"comma-separated, from: {', '.join(SHORT_NAMES)}",
    )
    for flag, help_text in (
        ("--initial", "initial labelled rows"),
        ("--query-size", "rows labelled per round"),
        ("--budget", "stop when this many labels are used"),
        (
            "--candidates",
            "score a random subset of this many pool rows per round ('all': every "
            "row; DFAL then screens the whole pool)",
        ),
        ("--epochs", "training epochs per refit"),
        ("--seeds", "number of seeds (0, 1, ...)"),
    ):
        name = flag.removeprefix("--").replace("-", "_")
        kind = candidate_count if flag == "--candidates" else positive_int
        parser.add_argument(flag, type=kind, default=defaults.get(name), help=help_text)
    parser.add_argument(
        "--device",
        type=torch_device,
        default=defaults.get("device"),
        help="torch device the networks train and score on: cpu, cuda, cuda:1, ... (cpu)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=defaults.get("output_dir"),
        help="folder of the results CSV, figures and resumable checkpoints",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--initial-strategy",
        choices=INITIAL_STRATEGIES,
        default="random",
        help="how the initial labelled rows are chosen: a random draw (default), or "
        "TypiClust / ProbCover on the SimCLR embedding with --pretrain simclr (on the "
        "pixels without it)",
    )
    parser.add_argument(
        "--pretrain",
        nargs="?",
        const="deepcluster",
        choices=PRETRAINING_METHODS,
        help="start every net from weights pretrained on the pool without labels: "
        "'simclr' (contrastive; TypiClust, ProbCover, CoreSet and Diversified then rank "
        "on its embedding) or 'deepcluster' (the default when no method is given)",
    )


def demo_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m skactive`` (the docs print its help)."""
    parser = argparse.ArgumentParser(
        prog=DEMO_PROG,
        description="Compare active-learning strategies on an image data set.",
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    parser.add_argument("--network", choices=sorted(ARCHITECTURES), default="lenet5")
    _add_campaign_flags(
        parser,
        strategies=("random", "entropy", "dfal"),
        initial=50,
        query_size=25,
        budget=250,
        epochs=60,
        seeds=2,
        device="cpu",
        output_dir=Path("results"),
    )
    parser.add_argument("--test-size", type=open_fraction, default=0.3)
    parser.add_argument(
        "--stop",
        choices=sorted(CRITERIA),
        help="report where this stopping criterion (default settings) would stop each run",
    )
    return parser


def parse_demo(argv) -> argparse.Namespace:
    """The arguments of ``python -m skactive``."""
    parser = demo_parser()
    args = parser.parse_args(argv)
    args.candidates = whole_pool(args.candidates)
    args.n_rounds = check_campaign(
        parser,
        initial=args.initial,
        query_size=args.query_size,
        budget=args.budget,
        candidates=args.candidates,
    )
    check_output_dir(parser, args.output_dir, "--output-dir")
    args.strategy_names = list(args.strategies)
    args.parser = parser
    return args


def runner_parser(prog: str = RUN_PROG) -> argparse.ArgumentParser:
    """The parser of the experiment runner (the docs print its help)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Reproduce the DFAL paper's comparison (Figure 2, Tables 1-4) on local "
        "data; interrupted runs resume from the output folder's checkpoints.",
    )
    parser.add_argument("--quick", action="store_true", help="small grid on digits")
    parser.add_argument(
        "--datasets",
        type=name_list(DATASETS, "datasets"),
        help=f"comma-separated data sets of the grid: {', '.join(DATASETS)}",
    )
    parser.add_argument(
        "--networks",
        type=name_list(ARCHITECTURES, "networks"),
        help=f"comma-separated networks of the grid: {', '.join(ARCHITECTURES)}",
    )
    # Defaults None: the grid's (ExperimentConfig, or --quick's) apply.
    _add_campaign_flags(parser)
    parser.add_argument(
        "--transfer",
        metavar="NETWORK",
        choices=sorted(ARCHITECTURES),
        help="after the runs, train NETWORK on each strategy's queries",
    )
    parser.add_argument(
        "--stop",
        type=name_list(CRITERIA, "stopping criteria"),
        help=f"record where these criteria would stop each run: {sorted(CRITERIA)}",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=strategy_param(SHORT_NAMES),
        metavar="STRATEGY.PARAM=VALUE",
        help="a parameter of one strategy (repeatable), e.g. coreset.normalize=True; "
        "use a separate --output-dir per variant, since runs are keyed by strategy name",
    )
    parser.add_argument(
        "--robust-eps",
        type=number_list("--robust-eps"),
        help="record PGD-50 robust accuracy at these eps (comma-separated) each round",
    )
    parser.add_argument(
        "--robust-rows", type=positive_int, help="test rows attacked (default 1000)"
    )
    parser.add_argument(
        "--robust-every", type=positive_int, help="record robustness every N rounds"
    )
    parser.add_argument(
        "--adversarial-training",
        action="store_true",
        help="train the task nets with PGD adversarial training (CPU setting)",
    )
    parser.add_argument(
        "--adversarial-eps",
        type=float,
        help="eps of the adversarial training (default 0.3, the reference's)",
    )
    parser.add_argument(
        "--semi-supervised",
        nargs="?",
        const="label-propagation",
        choices=sorted(SEMI_SUPERVISED),
        help="train on the unlabelled pool too: label-propagation (LabelPropagationNet, the "
        "default when no method is named), fixmatch or flexmatch (FixMatchNet)",
    )
    parser.add_argument(
        "--pretrain-optimizer",
        choices=sorted(PRETRAINING_OPTIMIZERS),
        help="DeepCluster's optimizer: the net's own (default) or SGD 0.05 as in the original",
    )
    parser.add_argument("--threads", type=positive_int, help="torch threads")
    return parser


def parse_runner(argv=None, *, prog: str = RUN_PROG) -> tuple[ExperimentConfig, argparse.Namespace]:
    """The experiment runner's arguments as its config."""
    parser = runner_parser(prog)
    args = parser.parse_args(argv)
    settings = dict(QUICK) if args.quick else {}
    if args.quick:
        settings["output_dir"] = Path("results/experiments-quick")
    if args.seeds is not None:
        settings["seeds"] = tuple(range(args.seeds))
    for name, attr in [
        ("datasets", "datasets"),
        ("networks", "networks"),
        ("strategies", "strategies"),
        ("initial", "n_initial"),
        ("query_size", "query_size"),
        ("budget", "budget"),
        ("epochs", "epochs"),
        ("candidates", "candidates"),
        ("device", "device"),
        ("output_dir", "output_dir"),
        ("stop", "stopping"),
        ("robust_eps", "robust_eps"),
        ("robust_rows", "robust_rows"),
        ("robust_every", "robust_every"),
        ("adversarial_eps", "adversarial_eps"),
        ("pretrain_optimizer", "pretrain_optimizer"),
        ("pretrain", "pretrain"),
        ("initial_strategy", "initial_strategy"),
    ]:
        if getattr(args, name) is not None:
            settings[attr] = getattr(args, name)
    if args.candidates == "all":
        settings["candidates"] = None
    settings["progress"] = not args.no_progress
    settings["adversarial_training"] = args.adversarial_training
    settings["semi_supervised"] = args.semi_supervised or False
    extra: dict = {}
    for strategy, param, value in args.param:
        extra.setdefault(strategy, {})[param] = value
    settings["extra_strategy_params"] = extra
    known = {f.name for f in fields(ExperimentConfig)}
    config = ExperimentConfig(**{k: v for k, v in settings.items() if k in known})
    try:
        config.validate()
        check_checkpoints(config)
    except ValueError as exc:
        parser.error(str(exc))
    check_output_dir(parser, Path(config.output_dir), "--output-dir")
    return config, args


def demo_main(argv=None) -> int:
    """``python -m skactive demo``: compare strategies, print a table, write a plot and a CSV."""
    args = parse_demo(argv)
    try:
        X_pool, y_pool, X_test, y_test = DATASETS[args.dataset](test_size=args.test_size)
    except (OSError, ValueError) as exc:
        args.parser.error(f"--dataset {args.dataset}: {exc}")
    if args.budget > len(X_pool):
        args.parser.error(
            f"--budget ({args.budget}) exceeds the {len(X_pool)} rows of the {args.dataset} pool"
        )
    net = make_net_for(args.network, X_pool, y_pool, max_epochs=args.epochs, device=args.device)
    embedding = None
    if args.pretrain:
        # One pretraining (seed 0) serves every seed and strategy of the demo.
        net = pretrained_net(args.pretrain, net, X_pool, random_state=0)
        if args.pretrain == "simclr":
            embedding = Embedding(net).fit(X_pool)
    estimators = {name: estimator_for(name, net) for name in args.strategy_names}
    strategies = {
        name: with_embedding(
            make_strategy(name, query_size=args.query_size, candidates=args.candidates),
            embedding,
        )
        for name in args.strategy_names
    }
    pixels_or_embedding = flattened_rows if embedding is None else embedding
    initial = make_initial_strategy(args.initial_strategy, embedding=pixels_or_embedding)
    records = compare_strategies(
        estimators,
        strategies,
        X_pool,
        y_pool,
        X_test,
        y_test,
        n_initial=args.initial,
        n_rounds=args.n_rounds,
        query_size=args.query_size,
        seeds=range(args.seeds),
        progress=not args.no_progress,
        stopping=None if args.stop is None else CRITERIA[args.stop](),
        initial_strategy=initial,
    )
    title = f"{args.dataset} / {args.network}: test accuracy vs labels ({args.seeds} seeds)"
    print(title)
    print(format_table(records))
    stem = f"{args.dataset}_{args.network}"
    plot = plot_learning_curves(
        records, args.output_dir / f"{stem}_learning_curves.png", title=title
    )
    table = args.output_dir / f"{stem}_rounds.csv"
    write_rows(table, list(dict.fromkeys(k for r in records for k in r)), records)
    if args.stop is not None:
        print(f"stopping ({args.stop}): labels at the stop and accuracy given up")
        for row in stopping_summary(records):
            where = (
                "never stopped"
                if row["stop_n_labeled"] is None
                else f"{row['stop_n_labeled']} of {row['final_n_labeled']} labels, "
                f"{row['accuracy_given_up']:+.3f} accuracy given up"
            )
            print(f"  {row['strategy']} seed {row['seed']}: {where}")
    print(f"plot: {plot}\nrounds: {table}")
    return 0


def run_main(argv=None) -> int:
    """``python -m skactive run``: run (or resume) the grid and print its report."""
    config, args = parse_runner(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run_experiments(config)
    report = render_reports(results, config.output_dir)
    tables = [
        stopping_table(results, results.parent / "stopping.csv"),
        robustness_table(results, results.parent / "robustness.csv"),
    ]
    if args.transfer:
        tables.append(
            transfer_table(run_transfer(config, source=config.networks[0], target=args.transfer))
        )
    with report.open("a") as handle:
        handle.writelines("\n" + table + "\n" for table in tables if table)
    print(report.read_text())
    print(f"results: {results}\nreport: {report}")
    return 0
