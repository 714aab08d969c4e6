"""The GPU suite's rehearsal on the CPU: the one command that will run when a GPU is lent.

No GPU has been lent to the project, so the suite's only proof that
``benchmarks/gpu_suite.py`` works is this run of its ``--quick`` sizes on the
CPU: every benchmark it calls must finish and report the figures its table
prints.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ROWS = [
    "pytest -m gpu",
    "DeepFool: speed-up over the per-row loop",
    "DFAL: exact top-100 kept",
    "BALD: cached scores identical",
    "committee of 5: training s (n_jobs=1)",
    "committee: over five single predictions",
]


@pytest.mark.slow
def test_gpu_suite_rehearses_on_the_cpu():
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_suite.py", "--device", "cpu", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.split("GPU suite on cpu", 1)[1]
    values = {}
    for line in table.splitlines():
        for row in ROWS:
            if line.strip().startswith(row):
                values[row] = line.strip()[len(row) :].strip()
    assert sorted(values) == sorted(ROWS), table
    # The GPU tests skip on this CPU machine; pytest still exits 0 for them.
    assert re.search(r"skipped", values["pytest -m gpu"]), values["pytest -m gpu"]
    assert values["pytest -m gpu"].endswith("(exit 0)")
    assert values["BALD: cached scores identical"] == "True"
    assert float(values["DeepFool: speed-up over the per-row loop"].rstrip("x")) > 0
    assert 0 <= float(values["DFAL: exact top-100 kept"].rstrip("%")) <= 100
