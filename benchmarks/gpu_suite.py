"""The GPU checks in one command, for the day a GPU machine is lent.

Runs ``pytest -m gpu`` (the tests that skip without CUDA) and the batched
DeepFool, DFAL screen, MC-dropout and committee benchmarks on ``--device``,
and prints one table of their figures. The defaults fit in about 8 minutes
on a GPU; ``--quick`` shrinks every size for a rehearsal on the CPU, which is
how the suite tests this script (``tests/test_benchmarks.py``): no GPU has
been lent to the project so far.

Usage: ``python benchmarks/gpu_suite.py [--device cuda] [--quick]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_committee
import bench_deepfool
import bench_dfal_screen
import bench_mc_dropout

ROOT = Path(__file__).resolve().parents[1]


def _gpu_tests() -> str:
    """The last line of ``pytest -m gpu``: its counts."""
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:randomly"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return f"{lines[-1] if lines else 'no output'} (exit {done.returncode})"


def _mc_dropout_rows(device: str, quick: bool) -> list[tuple[str, str]]:
    """BALD at 20 samples with and without the cached deterministic prefix."""
    pool = "200" if quick else "10000"
    figures = bench_mc_dropout.main(["--device", device, "--pool", pool, "--repeats", "1"])
    seconds = figures["seconds"]
    return [
        (f"BALD, {figures['rows']} rows, 20 samples: cached s", f"{seconds['skactive']:.2f}"),
        ("BALD: speed-up over full passes", f"{seconds['full passes'] / seconds['skactive']:.1f}x"),
        ("BALD: cached scores identical", str(figures["identical"])),
    ]


def _committee_rows(device: str, quick: bool) -> list[tuple[str, str]]:
    """Five members' training and streamed variation-ratio scoring."""
    size = 2000 if quick else 50_000
    epochs = "1" if quick else "5"
    figures = bench_committee.main(["--device", device, "--sizes", str(size), "--epochs", epochs])
    scoring = figures["scoring"][size]
    return [
        ("committee of 5: training s (n_jobs=1)", f"{figures['training_seconds'][1]:.2f}"),
        (f"committee: scoring {scoring['rows']} rows s", f"{scoring['seconds']:.2f}"),
        ("committee: over five single predictions", f"{scoring['over_single']:.2f}x"),
    ]


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
        (f"DFAL, {exact['rows']} rows, n=100: exact s", f"{exact['seconds']:.2f}"),
        ("DFAL: screen alone s", f"{screen['seconds']:.2f}"),
        ("DFAL: screened query s (shortlist 10n)", f"{screened['seconds']:.2f}"),
        ("DFAL: exact top-100 kept", f"{screened['top_n_recall']:.0%}"),
    ]
    table += _mc_dropout_rows(args.device, quick=args.quick)
    table += _committee_rows(args.device, quick=args.quick)
    table.append(("suite wall time s", f"{time.perf_counter() - start:.0f}"))
    width = max(len(name) for name, _ in table)
    print(f"\nGPU suite on {args.device}")
    for name, value in table:
        print(f"  {name:{width}s}  {value}")
    return table


if __name__ == "__main__":
    main()
