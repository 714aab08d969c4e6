"""The GPU checks in one command, for the day a GPU machine is lent.

Runs ``pytest -m gpu`` (the tests that skip without CUDA), the batched
DeepFool benchmark and the DFAL screen benchmark on ``--device``, and prints
one table of their figures. The defaults fit in about 8 minutes on a GPU;
``--quick`` shrinks every size for a rehearsal on the CPU (which is how this
script is tested: no GPU has been lent to the project so far). The
MC-dropout and committee benchmarks have no device option yet and are not
part of the suite.

Usage: ``python benchmarks/gpu_suite.py [--device cuda] [--quick]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_deepfool
import bench_dfal_screen

ROOT = Path(__file__).resolve().parents[1]


def _gpu_tests() -> str:
    """The last line of ``pytest -m gpu``: its counts."""
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:randomly"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return f"{lines[-1] if lines else 'no output'} (exit {done.returncode})"


def main(argv=None) -> list[tuple[str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a CPU rehearsal")
    args = parser.parse_args(argv)
    deepfool_pool, screen_pool = ("200", "3000") if args.quick else ("2000", "59000")
    start = time.perf_counter()
    table = [("pytest -m gpu", _gpu_tests())]
    figures = bench_deepfool.main(["--device", args.device, "--pool", deepfool_pool])
    table += [
        (f"DeepFool, {deepfool_pool} rows: batched s", f"{figures['batched_seconds']:.2f}"),
        ("DeepFool: speed-up over the per-row loop", f"{figures['speedup_over_loop']:.1f}x"),
        ("DeepFool: time over bare gradient passes", f"{figures['ratio_to_bare_cost']:.2f}x"),
    ]
    with tempfile.TemporaryDirectory() as folder:
        cache = str(Path(folder) / "norms.npz")
        screen_args = ["--device", args.device, "--pool", screen_pool, "--shortlists", "10"]
        rows = bench_dfal_screen.main([*screen_args, "--cache", cache])
    exact, screen, screened = rows[0], rows[1], rows[2]
    table += [
        (f"DFAL, {screen_pool} rows, n=100: exact s", f"{exact['seconds']:.2f}"),
        ("DFAL: screen alone s", f"{screen['seconds']:.2f}"),
        ("DFAL: screened query s (shortlist 10n)", f"{screened['seconds']:.2f}"),
        ("DFAL: exact top-100 kept", f"{screened['top_n_recall']:.0%}"),
    ]
    table.append(("suite wall time s", f"{time.perf_counter() - start:.0f}"))
    width = max(len(name) for name, _ in table)
    print(f"\nGPU suite on {args.device}")
    for name, value in table:
        print(f"  {name:{width}s}  {value}")
    return table


if __name__ == "__main__":
    main()
