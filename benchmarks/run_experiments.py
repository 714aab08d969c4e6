"""Reproduce the DFAL paper's comparison (Figure 2, Tables 1-4) on local data.

    python benchmarks/run_experiments.py --quick            # minutes, digits
    python benchmarks/run_experiments.py                    # Fashion-MNIST / LeNet5, hours
    python benchmarks/run_experiments.py --transfer vgg8    # then Table 4

Interrupted runs resume from results/experiments/ (per-round checkpoints).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skactive import _cli
from skactive.datasets import DATASETS
from skactive.experiments import (
    PRETRAINING_OPTIMIZERS,
    QUICK,
    ExperimentConfig,
    check_checkpoints,
    render_reports,
    robustness_table,
    run_experiments,
    run_transfer,
    stopping_table,
    transfer_table,
)
from skactive.models import ARCHITECTURES
from skactive.registry import SHORT_NAMES
from skactive.stopping import CRITERIA


def parse(argv=None) -> tuple[ExperimentConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid on digits")
    parser.add_argument("--datasets", type=_cli.name_list(DATASETS, "datasets"))
    parser.add_argument("--networks", type=_cli.name_list(ARCHITECTURES, "networks"))
    parser.add_argument(
        "--strategies",
        type=_cli.name_list(SHORT_NAMES, "strategies"),
        help=f"comma-separated from {sorted(SHORT_NAMES)}",
    )
    parser.add_argument("--seeds", type=_cli.positive_int, help="number of seeds (0, 1, ...)")
    for flag in ("--initial", "--batch-size", "--budget", "--epochs", "--candidates"):
        parser.add_argument(flag, type=_cli.positive_int)
    parser.add_argument("--device", type=_cli.torch_device)
    parser.add_argument("--output-dir", type=Path)
    parser.add_argument(
        "--transfer",
        metavar="NETWORK",
        choices=sorted(ARCHITECTURES),
        help="after the runs, train NETWORK on each strategy's queries",
    )
    parser.add_argument(
        "--stop",
        type=_cli.name_list(CRITERIA, "stopping criteria"),
        help=f"record where these criteria would stop each run: {sorted(CRITERIA)}",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=_cli.strategy_param(SHORT_NAMES),
        metavar="STRATEGY.PARAM=VALUE",
        help="a parameter of one strategy (repeatable), e.g. coreset.normalize=True; "
        "use a separate --output-dir per variant, since runs are keyed by strategy name",
    )
    parser.add_argument(
        "--robust-eps",
        type=_cli.number_list("--robust-eps"),
        help="record PGD-50 robust accuracy at these eps (comma-separated) each round",
    )
    parser.add_argument(
        "--robust-rows", type=_cli.positive_int, help="test rows attacked (default 1000)"
    )
    parser.add_argument(
        "--robust-every", type=_cli.positive_int, help="record robustness every N rounds"
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
        action="store_true",
        help="train with label propagation over the unlabelled pool (LabelPropagationNet)",
    )
    parser.add_argument(
        "--pretrain",
        action="store_true",
        help="start every net from DeepCluster weights pretrained on the pool",
    )
    parser.add_argument(
        "--pretrain-optimizer",
        choices=sorted(PRETRAINING_OPTIMIZERS),
        help="DeepCluster's optimizer: the net's own (default) or SGD 0.05 as in the original",
    )
    parser.add_argument("--threads", type=_cli.positive_int, help="torch threads")
    parser.add_argument("--no-progress", action="store_true")
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
        ("batch_size", "batch_size"),
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
    ]:
        if getattr(args, name) is not None:
            settings[attr] = getattr(args, name)
    settings["progress"] = not args.no_progress
    settings["adversarial_training"] = args.adversarial_training
    settings["semi_supervised"] = args.semi_supervised
    settings["pretrain"] = args.pretrain
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
    _cli.check_output_dir(parser, Path(config.output_dir), "--output-dir")
    return config, args


def main(argv=None) -> int:
    config, args = parse(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results = run_experiments(config)
    report = render_reports(results, config.output_dir)
    for table in (
        stopping_table(results, results.parent / "stopping.csv"),
        robustness_table(results, results.parent / "robustness.csv"),
    ):
        if table:
            with report.open("a") as handle:
                handle.write("\n" + table + "\n")
    if args.transfer:
        table = transfer_table(
            run_transfer(config, source=config.networks[0], target=args.transfer)
        )
        with report.open("a") as handle:
            handle.write("\n" + table + "\n")
    print(report.read_text())
    print(f"results: {results}\nreport: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
