"""Reproduce the DFAL paper's comparison (Figure 2, Tables 1-4) on local data.

The same as ``python -m skactive run``, kept for the commands in the docs:

    python benchmarks/run_experiments.py --quick            # minutes, digits
    python benchmarks/run_experiments.py                    # Fashion-MNIST / LeNet5, hours
    python benchmarks/run_experiments.py --transfer vgg8    # then Table 4

Interrupted runs resume from results/experiments/ (per-round checkpoints).
"""

from __future__ import annotations

import sys

from skactive.experiments.cli import parse_runner, run_main


def parse(argv=None):
    """The runner's arguments as its config (see :func:`skactive.experiments.cli.parse_runner`)."""
    return parse_runner(argv)


def main(argv=None) -> int:
    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
