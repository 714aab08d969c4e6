"""Reproduce the DFAL paper's comparison (Figure 2, Tables 1-4) on local data.

    python benchmarks/run_experiments.py --quick            # minutes, digits
    python benchmarks/run_experiments.py                    # Fashion-MNIST / LeNet5, hours
    python benchmarks/run_experiments.py --transfer vgg8    # then Table 4

Interrupted runs resume from results/experiments/ (per-round checkpoints).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skactive import _cli
from skactive.experiments import (
    render_reports,
    robustness_table,
    run_experiments,
    run_transfer,
    stopping_table,
    transfer_table,
)


def parse(argv=None):
    """The runner's arguments as its config (see ``skactive._cli.parse_runner``)."""
    return _cli.parse_runner(argv, description=__doc__.splitlines()[0])


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
