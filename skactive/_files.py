"""Files: atomic writes and the pickled-learner format, below every other module.

A saved learner is a pickle with a small header, written atomically: the data
goes to a temporary file in the same folder, is flushed to disk, and then
replaces the target in one ``os.replace``, so a crash during a save leaves
the previous file intact. :class:`~skactive.ActiveLearner` saves and loads
through here; :mod:`skactive.persistence` is the public face.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from pathlib import Path

from skactive._version import __version__

FORMAT = "skactive-learner"
#: Version 2: the learner keeps its fitted state in one campaign object.
FORMAT_VERSION = 2


def atomic_write(path: Path, write) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OSError(f"path: cannot save to {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(f"path: cannot save to {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_pickle(learner, path: str | os.PathLike, *, kind: str = "learner") -> Path:
    """Pickle ``learner`` (fitted or not) to ``path`` atomically, with the header.

    ``kind`` names what the file holds (``"learner"``; the experiment
    runner's ``"checkpoint"`` and ``"pretrained"`` nets): a file of one kind
    is refused as another.

    Returns
    -------
    path : Path
    """
    header = {"format": f"skactive-{kind}", "version": FORMAT_VERSION, "skactive": __version__}
    path = Path(path)
    atomic_write(path, lambda stream: pickle.dump((header, learner), stream, protocol=5))
    return path


def load_pickle(path: str | os.PathLike, expected: type, *, kind: str = "learner"):
    """Load a ``kind`` of file written by :func:`save_pickle`. Only for trusted files.

    Raises
    ------
    ValueError
        If the file is not a saved learner of class ``expected``, or was
        written by an incompatible format version.
    """
    with Path(path).open("rb") as stream:
        try:
            payload = pickle.load(stream)
        except (AttributeError, ImportError) as exc:
            raise ValueError(
                f"path: {path} refers to code that cannot be imported here ({exc}); import or "
                "install the module that defines the saved network, strategy or estimator "
                "before loading"
            ) from exc
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise ValueError(f"path: {path} is not a saved skactive {kind} ({exc})") from exc
    if not (
        isinstance(payload, tuple)
        and len(payload) == 2
        and isinstance(payload[0], dict)
        and payload[0].get("format") == f"skactive-{kind}"
    ):
        raise ValueError(f"path: {path} is not a saved skactive {kind}")
    header, learner = payload
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"path: {path} was saved in {kind} format version {header.get('version')} "
            f"(skactive {header.get('skactive')}); this skactive reads version {FORMAT_VERSION}"
        )
    if not isinstance(learner, expected):
        raise ValueError(
            f"path: {path} holds a {type(learner).__name__}, not an {expected.__name__}"
        )
    _warn_other_version(header.get("skactive"), path)
    return learner


class InconsistentVersionWarning(UserWarning):
    """A learner is loaded by another skactive version than the one that saved it.

    Like scikit-learn's warning of the same name: the file loads, but its
    behaviour is only guaranteed for the version that wrote it.

    Attributes
    ----------
    original_version, current_version : str
    """

    def __init__(self, *, original_version, current_version, path):
        self.original_version = original_version
        self.current_version = current_version
        super().__init__(
            f"{path} was saved by skactive {original_version} and is loaded by skactive "
            f"{current_version}; results may differ: re-save it with this version"
        )


def _warn_other_version(saved_version, path) -> None:
    if saved_version != __version__:
        warnings.warn(
            InconsistentVersionWarning(
                original_version=saved_version, current_version=__version__, path=path
            ),
            stacklevel=3,
        )
