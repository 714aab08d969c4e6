"""Saving and loading a learner mid-campaign.

A saved file is a pickle with a small header, written atomically: the data
goes to a temporary file in the same folder, is flushed to disk, and then
replaces the target in one ``os.replace``, so a crash during ``save`` leaves
the previous file intact.

Pickles can run arbitrary code when loaded: load only files from a source
you trust. For files from elsewhere, :func:`save_weights` and
:func:`load_weights` move the labelled set as a plain ``.npz`` (read with
``allow_pickle=False``) and the network through skorch's parameter files
(``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "skactive-learner"
FORMAT_VERSION = 1


def _atomic_write(path: Path, write) -> None:
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


def save_learner(learner, path: str | os.PathLike) -> Path:
    """Pickle ``learner`` (fitted or not) to ``path`` atomically.

    Returns
    -------
    path : Path
    """
    from skactive import __version__

    header = {"format": FORMAT, "version": FORMAT_VERSION, "skactive": __version__}
    path = Path(path)
    _atomic_write(path, lambda stream: pickle.dump((header, learner), stream, protocol=5))
    return path


def load_learner(path: str | os.PathLike):
    """Load a learner written by :func:`save_learner`. Only for trusted files.

    Raises
    ------
    ValueError
        If the file is not a saved learner or was written by an
        incompatible format version.
    """
    from skactive.learner import ActiveLearner

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
            raise ValueError(f"path: {path} is not a saved skactive learner ({exc})") from exc
    if not (
        isinstance(payload, tuple)
        and len(payload) == 2
        and isinstance(payload[0], dict)
        and payload[0].get("format") == FORMAT
    ):
        raise ValueError(f"path: {path} is not a saved skactive learner")
    header, learner = payload
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"path: {path} was saved in learner format version {header.get('version')} "
            f"(skactive {header.get('skactive')}); this skactive reads version {FORMAT_VERSION}"
        )
    if not isinstance(learner, ActiveLearner):
        raise ValueError(f"path: {path} holds a {type(learner).__name__}, not an ActiveLearner")
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
    import warnings

    from skactive import __version__

    if saved_version != __version__:
        warnings.warn(
            InconsistentVersionWarning(
                original_version=saved_version, current_version=__version__, path=path
            ),
            stacklevel=3,
        )


_ARRAYS = ("X_labeled_", "y_labeled_", "X_twins_", "y_twins_", "twin_sources_", "classes_")


def save_weights(learner, folder: str | os.PathLike) -> Path:
    """Write the labelled set (``.npz``) and network weights without pickles.

    The folder receives ``labeled.npz``, ``meta.json`` and skorch's
    ``params.pt`` (a ``state_dict``). Only learners around a skorch net
    (alone, not in a pipeline) are supported.
    """
    from sklearn.utils.validation import check_is_fitted
    from skorch import NeuralNet

    check_is_fitted(learner)
    if not isinstance(learner.estimator_, NeuralNet):
        raise TypeError("learner: save_weights needs an ActiveLearner around a skorch net")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.asarray(getattr(learner, name)) for name in _ARRAYS}
    if any(a.dtype == object for a in arrays.values()):
        raise TypeError("learner: labels must be numbers or strings to be saved without pickle")
    _atomic_write(folder / "labeled.npz", lambda stream: np.savez(stream, **arrays))
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "n_iter_": learner.n_iter_}
    _atomic_write(folder / "meta.json", lambda stream: stream.write(json.dumps(meta).encode()))
    learner.estimator_.save_params(f_params=str(folder / "params.pt"))
    return folder


def load_weights(template, folder: str | os.PathLike):
    """Rebuild a learner from :func:`save_weights` files without unpickling code.

    Parameters
    ----------
    template : ActiveLearner
        An unfitted learner configured like the saved one (same estimator,
        strategy and ``random_state``).
    folder : path-like

    Returns
    -------
    learner : ActiveLearner
        Fitted: the saved labelled set and twins, the saved weights.
    """
    from sklearn.base import clone

    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"folder: {folder} does not hold skactive weights of version {FORMAT_VERSION}"
        )
    with np.load(folder / "labeled.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in _ARRAYS}
    learner = clone(template).set_params(classes=arrays["classes_"])
    learner._start(arrays["X_labeled_"], arrays["y_labeled_"], arrays["classes_"])
    learner.X_twins_, learner.y_twins_ = arrays["X_twins_"], arrays["y_twins_"]
    learner.twin_sources_ = arrays["twin_sources_"]
    learner.n_iter_ = int(meta["n_iter_"])
    net = learner._prepared(clone(learner.estimator))
    net.initialize()
    net.load_params(f_params=str(folder / "params.pt"))
    learner.estimator_ = net
    learner._estimator_classes = learner.classes_
    return learner
