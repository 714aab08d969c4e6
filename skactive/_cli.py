"""Argument checks shared by ``python -m skactive`` and the benchmark runner.

Each bad value ends in ``parser.error`` (exit code 2, a one-line message
naming the flag) before any data is loaded or any network trained.
"""

from __future__ import annotations

import argparse
import ast
import tempfile
from pathlib import Path

import numpy as np

from skactive.simulation import check_budget


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    import torch

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
    "batch_size": "--batch-size",
    "budget": "--budget",
    "candidates": "--candidates",
}


def check_campaign(parser, *, initial: int, batch_size: int, budget: int, candidates) -> int:
    """The number of rounds the label budget gives, or ``parser.error`` if none."""
    try:
        return check_budget(
            n_initial=initial,
            batch_size=batch_size,
            budget=budget,
            candidates=candidates,
            names=FLAGS,
        )
    except ValueError as exc:
        parser.error(str(exc))
