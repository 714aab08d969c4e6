"""Settings read when a query runs, set globally or for a ``with`` block.

Modelled on scikit-learn's ``set_config`` / ``config_context``: the values
are per thread, so a server answering requests in threads can show
progress in one without touching the others. Finiteness checks follow
scikit-learn's own ``assume_finite`` (``sklearn.config_context``), not a
setting here.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from skactive.param_validation import BOOLEAN, integer, options, validate_params


def _threads_from_environment() -> int | None:
    """``SKACTIVE_N_THREADS``: a positive integer, or ``auto`` (unset: auto)."""
    value = os.environ.get("SKACTIVE_N_THREADS", "auto").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value != "auto":
        warnings.warn(
            f"SKACTIVE_N_THREADS must be a positive integer or 'auto', got {value!r}; using 'auto'",
            stacklevel=2,
        )
    return None


_DEFAULTS = {"show_progress": False, "n_threads": _threads_from_environment()}
_local = threading.local()


def _settings() -> dict:
    if not hasattr(_local, "settings"):
        _local.settings = dict(_DEFAULTS)
    return _local.settings


def get_config() -> dict:
    """The current settings, as a new dict.

    Returns
    -------
    config : dict
        ``{"show_progress": bool, "n_threads": int or None}``.
    """
    return dict(_settings())


def set_config(*, show_progress: bool | None = None, n_threads: int | str | None = None) -> None:
    """Change settings for the calling thread (None keeps a setting as it is).

    Parameters
    ----------
    show_progress : bool, optional
        Show a ``tqdm`` progress bar, in rows, while a strategy scores the
        pool chunk by chunk (useful for pools of millions of rows).
    n_threads : int or "auto", optional
        Threads for torch and BLAS while skactive fits or queries (each
        call restores the settings it found, so the rest of your program
        keeps its own). ``"auto"`` (the default) decides per call: the cores
        this process may use, less those other programs kept busy, at most
        torch's current setting. The environment variable
        ``SKACTIVE_N_THREADS`` sets the starting value (for a command line or
        a CI job). The campaign fingerprint picks the same rows with one
        thread and with two, but weights differ in their last float32 bits:
        fix the count for bit-identical reruns.
    """
    validate_params(
        {"show_progress": show_progress, "n_threads": n_threads},
        {"show_progress": [BOOLEAN, None], "n_threads": [integer(1), options("auto"), None]},
    )
    if show_progress is not None:
        _settings()["show_progress"] = bool(show_progress)
    if n_threads is not None:
        _settings()["n_threads"] = None if n_threads == "auto" else int(n_threads)


@contextmanager
def config_context(
    *, show_progress: bool | None = None, n_threads: int | str | None = None
) -> Iterator[None]:
    """Apply settings inside a ``with`` block and restore them afterwards.

    Parameters
    ----------
    show_progress : bool, optional
        As in :func:`set_config`.
    n_threads : int or "auto", optional
        As in :func:`set_config`.

    Examples
    --------
    >>> from skactive import config_context, get_config
    >>> with config_context(show_progress=True):
    ...     get_config()["show_progress"]
    True
    >>> get_config()["show_progress"]
    False
    """
    before = get_config()
    set_config(show_progress=show_progress, n_threads=n_threads)
    try:
        yield
    finally:
        _settings().update(before)
