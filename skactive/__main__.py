"""Command line: ``python -m skactive`` runs a simulated labelling campaign.

It compares strategies on a data set with a CNN, prints a learning-curve
table, and writes a PNG plot and a CSV of every round to ``--output-dir``.
"""

from __future__ import annotations

import csv
import sys

from skactive import _cli
from skactive.datasets import DATASETS
from skactive.embeddings import Embedding, flattened_rows
from skactive.experiments import pretrained_net
from skactive.models import make_net_for
from skactive.registry import make_initial_strategy, make_strategy, with_embedding
from skactive.simulation import (
    compare_strategies,
    format_table,
    plot_learning_curves,
    stopping_summary,
)
from skactive.stopping import CRITERIA

#: Commands of the Label Studio bridge; anything else is the demo's flags.
LABEL_STUDIO_COMMANDS = ("serve", "label-studio")


def main(argv=None) -> int:
    """Run the comparison described by the command-line arguments.

    ``python -m skactive serve ...`` and ``python -m skactive label-studio
    sync ...`` run the Label Studio bridge instead
    (:mod:`skactive.label_studio.cli`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in LABEL_STUDIO_COMMANDS:
        from skactive.label_studio.cli import main as label_studio_main

        return label_studio_main(argv)
    args = _cli.parse_demo(argv)
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
        net,
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
        by_name=True,
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
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=list(dict.fromkeys(k for r in records for k in r))
        )
        writer.writeheader()
        writer.writerows(records)
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


if __name__ == "__main__":
    sys.exit(main())
