"""Settings read when a query runs, set globally or for a ``with`` block.

Modelled on scikit-learn's ``set_config`` / ``config_context``: the values
are per thread, so a server answering requests in threads can show
progress in one without touching the others. Finiteness checks follow
scikit-learn's own ``assume_finite`` (``sklearn.config_context``), not a
setting here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from skactive.param_validation import BOOLEAN, validate_params

_DEFAULTS = {"show_progress": False}
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
        ``{"show_progress": bool}``.
    """
    return dict(_settings())


def set_config(*, show_progress: bool | None = None) -> None:
    """Change settings for the calling thread (None keeps a setting as it is).

    Parameters
    ----------
    show_progress : bool, optional
        Show a ``tqdm`` progress bar, in rows, while a strategy scores the
        pool chunk by chunk (useful for pools of millions of rows).
    """
    validate_params({"show_progress": show_progress}, {"show_progress": [BOOLEAN, None]})
    if show_progress is not None:
        _settings()["show_progress"] = bool(show_progress)


@contextmanager
def config_context(*, show_progress: bool | None = None) -> Iterator[None]:
    """Apply settings inside a ``with`` block and restore them afterwards.

    Parameters
    ----------
    show_progress : bool, optional
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
    set_config(show_progress=show_progress)
    try:
        yield
    finally:
        _settings().update(before)
