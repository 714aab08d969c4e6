"""The experiment harness: the DFAL paper's protocol, resumable, its reports, and the demo.

Not part of the library a campaign needs: the labelling service and the
estimators never import it. It is a grid of
:func:`~skactive.simulation.simulate` calls (:mod:`.runner`) whose files
are written by callbacks (:mod:`.records`), the settings of that grid
(:mod:`.settings`), the short names of strategies and their control arms
(:mod:`.registry`), the reports (:mod:`.reports`, :mod:`.transfer`) and
the ``demo`` and ``run`` commands of ``python -m skactive`` (:mod:`.cli`).
"""

from skactive.experiments.records import read_results
from skactive.experiments.reports import render_reports, robustness_table, stopping_table
from skactive.experiments.runner import check_checkpoints, run_experiments, run_settings
from skactive.experiments.settings import QUICK, ExperimentConfig, pretrained_net  # noqa: F401
from skactive.experiments.transfer import run_transfer, transfer_table

__all__ = [
    "ExperimentConfig",
    "check_checkpoints",
    "pretrained_net",
    "read_results",
    "render_reports",
    "robustness_table",
    "run_experiments",
    "run_settings",
    "run_transfer",
    "stopping_table",
    "transfer_table",
]
