"""Saving and loading a learner mid-campaign.

Every saved file that holds a campaign (``ActiveLearner.save``, the
runner's checkpoint, the Label Studio backend's file, a :func:`save_weights`
folder) stores it in one layout, a *campaign record*: a ``dict`` with

* ``version``: :data:`RECORD_VERSION`;
* ``arrays``: the labelled rows ``X_labeled_`` and labels ``y_labeled_``,
  ``X_twins_``, ``y_twins_``, ``twin_sources_``, ``pseudo_X_``,
  ``pseudo_y_``, ``classes_``, ``fitted_classes_``, ``feature_names_in_``,
  the pending query's ``pending.*`` and each query's ``history.I.indices``
  and ``history.I.scores``;
* ``meta``: plain values (row keys, seed, ``n_iter``, row shape, history
  entries, the pending query's consumed positions, the fingerprints of
  the parameters);
* ``objects``: the fitted ``estimator``, the ``strategy`` and the
  ``unlabeled`` pool.

:meth:`ActiveLearner.record <skactive.ActiveLearner.record>` gives it and
:meth:`ActiveLearner.restore <skactive.ActiveLearner.restore>` takes it.
A pickled file pickles the record (never a campaign class); a weights
folder writes its arrays as ``.npz``, its metadata as JSON and the
network as ``state_dict`` files. Each file kind has its own version
(:data:`FILE_VERSIONS`) and reads the version before records too.

A saved file is a pickle with a small header, written atomically: the data
goes to a temporary file in the same folder, is flushed to disk, and then
replaces the target in one ``os.replace``, so a crash during ``save`` leaves
the previous file intact.

Pickles can run arbitrary code when loaded: load only files from a source
you trust. For files from elsewhere, :func:`save_weights` and
:func:`load_weights` move the record's arrays as a plain ``.npz`` (read with
``allow_pickle=False``), its metadata as JSON, and the network's state as
``state_dict`` files read only through ``torch.load(weights_only=True)``
(see :func:`save_weights` for exactly what that does and does not protect
against).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.history import History

from skactive import _torch
from skactive._estimators import estimator_input, prepare_for_encoded_labels
from skactive._files import FILE_VERSIONS as _KIND_VERSIONS
from skactive._files import (
    FORMAT,
    FORMAT_VERSION,
    InconsistentVersionWarning,
    atomic_write,
    file_version,
    load_pickle,
    readable_versions,
    save_pickle,
)
from skactive._record import RECORD_VERSION, REQUIRED_ARRAYS
from skactive.learner import ActiveLearner
from skactive.pretraining import keep_trained_weights

__all__ = [
    "FILE_VERSIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "RECORD_VERSION",
    "WEIGHTS_FORMAT",
    "InconsistentVersionWarning",
    "load_learner",
    "load_weights",
    "save_learner",
    "save_weights",
]


def save_learner(learner, path: str | os.PathLike) -> Path:
    """Pickle ``learner`` (fitted or not) to ``path`` atomically.

    The same as :meth:`ActiveLearner.save <skactive.ActiveLearner.save>`.

    Returns
    -------
    path : Path
    """
    return save_pickle(learner, path)


def load_learner(path: str | os.PathLike) -> ActiveLearner:
    """Load a learner written by :func:`save_learner`. Only for trusted files.

    Raises
    ------
    ValueError
        If the file is not a saved learner or was written by an
        incompatible format version.
    """
    return load_pickle(path, ActiveLearner)


#: Version of the save_weights folder layout (independent of pickled learners').
#: The version of each kind of saved file skactive writes (``learner``,
#: ``checkpoint``, ``weights``, ``label-studio-backend``, ``pretrained
#: weights``, ``embedding``): a file carries its kind and that kind's
#: version, and a change to one kind's layout bumps that kind alone.
FILE_VERSIONS = _KIND_VERSIONS

WEIGHTS_VERSION = file_version("weights")
_WEIGHTS_VERSIONS = readable_versions("weights")

#: The format name of a weights folder (``meta.json``); folders written
#: before each kind had its own name say ``skactive-learner``.
WEIGHTS_FORMAT = "skactive-weights"
_WEIGHTS_FORMATS = (WEIGHTS_FORMAT, FORMAT)

#: File of the task module's ``state_dict``; other parts are ``<name>.pt``.
_MODULE_FILE = "params.pt"


def save_weights(learner, folder: str | os.PathLike) -> Path:
    """Write the labelled set and the network's state without pickling objects.

    The folder holds the campaign's record (the layout every saved file
    shares, described in this module's docstring): ``labeled.npz`` its
    arrays (the labelled rows, twins, pseudo-labels, classes, the pending
    query and the history's indices and scores), ``meta.json`` its
    metadata (row keys, seed, round count, history), and for the fitted
    network ``history.json`` (skorch's training history)
    and one ``state_dict`` file per part skorch registered on the net:
    ``params.pt`` for the task module, ``optimizer.pt``, ``criterion.pt``
    and any further module (a :class:`~skactive.nets.LossPredictionNet`'s
    ``loss_module.pt``). Only learners around a skorch net (alone, not in a
    pipeline) are supported; labels must be numbers or strings. Every file
    is written atomically. Not written: the strategy's round state and the
    unlabelled pool of a semi-supervised learner (the template's strategy
    and the next query's pool take their place), and the fingerprints of
    the parameters (the template's are taken as used).

    What is safe to load from an untrusted source: ``labeled.npz`` is read
    with ``allow_pickle=False`` and the JSON files are plain data, so
    neither can run code. The ``.pt`` files are torch zip archives that
    *do* hold pickle opcodes; :func:`load_weights` opens them only with
    ``torch.load(weights_only=True)``, whose restricted unpickler accepts
    tensors, plain containers and numbers and refuses any other global
    (a tampered file is refused with a ``ValueError``). Their safety is
    therefore that of torch's ``weights_only`` loader. The template's
    classes (network, strategy) come from your own code, never from the
    folder. :meth:`~skactive.ActiveLearner.save` files are full pickles:
    never load those from an untrusted source.

    Returns
    -------
    folder : Path
    """
    check_is_fitted(learner)
    net = learner.estimator_
    if not isinstance(net, NeuralNet):
        raise TypeError("learner: save_weights needs an ActiveLearner around a skorch net")
    record = learner.record()
    arrays = {name: _plain_array(values, name) for name, values in record["arrays"].items()}
    campaign = _json_meta(record["meta"])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "labeled.npz", lambda stream: np.savez(stream, **arrays))
    files = {name: _part_file(name) for name in _net_parts(net)}
    for name, file in files.items():
        state = getattr(net, name).state_dict()
        atomic_write(folder / file, lambda stream, state=state: torch.save(state, stream))
    history = json.dumps(net.history.to_list()).encode()
    atomic_write(folder / "history.json", lambda stream: stream.write(history))
    meta = {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "record_version": RECORD_VERSION,
        "campaign": campaign,
        "net": type(net).__qualname__,
        "parts": files,
    }
    # Written last: a folder whose save was interrupted keeps its previous meta.
    atomic_write(folder / "meta.json", lambda stream: stream.write(json.dumps(meta).encode()))
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
        Fitted: the saved labelled set, twins and pseudo-labels, the saved
        network state (every module, the optimizer, the training history),
        the query history and the pending query, whose twins the next
        ``teach`` adds. Its next query, and its next refit (warm or not),
        equal the original's (for strategies without round state).

    Raises
    ------
    ValueError
        Naming the folder: a file is missing, not in the format, refused by
        ``torch.load(weights_only=True)``, or inconsistent (rows without
        labels, labels outside ``classes_``, twins of no labelled row,
        weights of another network, fewer outputs than classes).
    """
    folder = Path(folder)
    meta = _read_meta(folder)
    arrays = _read_arrays(folder)
    _check_arrays(arrays, folder)
    learner = clone(template).set_params(classes=arrays["classes_"])
    net = prepare_for_encoded_labels(clone(learner.estimator), len(arrays["classes_"]))
    _initialize(net, estimator_input(net, arrays["X_labeled_"]))
    _load_parts(net, folder, meta)
    keep_trained_weights(net)
    width = np.asarray(net.predict_proba(estimator_input(net, arrays["X_labeled_"][:1]))).shape[1]
    if width != len(arrays["classes_"]):
        raise ValueError(
            f"folder: {folder} lists {len(arrays['classes_'])} classes but the network "
            f"outputs {width} columns"
        )
    record = {
        "version": meta.get("record_version", RECORD_VERSION),
        "arrays": arrays,
        "meta": _campaign_meta(meta),
        "objects": {"estimator": net},
    }
    try:
        return learner.restore(record)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"folder: {folder} holds an inconsistent campaign ({exc})") from exc


def _campaign_meta(meta: dict) -> dict:
    """The campaign part of ``meta.json``; version-1 folders kept the round count and keys only."""
    if "campaign" in meta:
        return meta["campaign"]
    return {"n_iter": int(meta["n_iter_"]), "keys": meta.get("keys_")}


def _json_meta(meta: dict) -> dict:
    """The record's metadata as JSON holds it (the tracker is the template's: left out)."""
    meta = {key: value for key, value in meta.items() if key != "tracker"}
    if meta["keys"] is not None:
        meta["keys"] = _json_keys(meta["keys"])
    return json.loads(json.dumps(meta, default=_json_value))


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(
        f"learner: the campaign's history holds a {type(value).__name__}; save_weights "
        "writes numbers, strings and None"
    )


def _json_keys(keys) -> list:
    """The rows' keys as JSON can hold them: numbers, strings and None."""
    keys = [key.item() if isinstance(key, np.generic) else key for key in keys]
    odd = sorted({type(k).__name__ for k in keys if not isinstance(k, int | float | str | None)})
    if odd:
        raise TypeError(
            f"learner: keys_ holds keys of types {odd}; save_weights stores keys that are "
            "numbers or strings"
        )
    return keys


def _plain_array(values, name: str) -> np.ndarray:
    """``values`` as an array ``np.load(allow_pickle=False)`` can read back."""
    array = np.asarray(values)
    if array.dtype != object:
        return array
    # Labels from a pandas Series of strings arrive as an object array.
    if all(isinstance(v, str) for v in array.ravel()):
        return array.astype(str)
    kinds = sorted({type(v).__name__ for v in array.ravel()})
    raise TypeError(
        f"learner: {name} holds values of types {kinds}; save_weights stores labels that are "
        "all numbers or all strings"
    )


def _net_parts(net) -> list[str]:
    """Names of the modules and optimizers skorch registered on ``net`` (``module_``, ...)."""
    return sorted(
        name
        for name, value in vars(net).items()
        if name.endswith("_")
        and not name.startswith("_")
        and isinstance(value, torch.nn.Module | torch.optim.Optimizer)
    )


def _part_file(name: str) -> str:
    return _MODULE_FILE if name == "module_" else f"{name[:-1]}.pt"


def _read_meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except FileNotFoundError:
        raise ValueError(
            f"folder: {folder} holds no meta.json; it is not a save_weights folder"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"folder: {folder}/meta.json is not valid JSON ({exc})") from exc
    if (
        not isinstance(meta, dict)
        or meta.get("format") not in _WEIGHTS_FORMATS
        or meta.get("version") not in _WEIGHTS_VERSIONS
    ):
        raise ValueError(
            f"folder: {folder} does not hold skactive weights of version {WEIGHTS_VERSION}"
        )
    # Folders written before the other parts were saved hold the module alone.
    meta.setdefault("parts", {"module_": _MODULE_FILE})
    return meta


def _read_arrays(folder: Path) -> dict:
    try:
        with np.load(folder / "labeled.npz", allow_pickle=False) as data:
            missing = sorted(set(REQUIRED_ARRAYS) - set(data.files))
            if missing:
                raise ValueError(f"folder: {folder}/labeled.npz lacks {missing}")
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise ValueError(f"folder: {folder} holds no labeled.npz") from None
    except (OSError, pickle.UnpicklingError) as exc:
        raise ValueError(f"folder: {folder}/labeled.npz cannot be read ({exc})") from exc


def _check_arrays(arrays: dict, folder: Path) -> None:
    """Refuse saved arrays that do not describe one labelled set."""
    X, y = arrays["X_labeled_"], arrays["y_labeled_"]
    twins, y_twins, sources = arrays["X_twins_"], arrays["y_twins_"], arrays["twin_sources_"]
    classes = arrays["classes_"]
    problems = []
    if X.ndim < 2 or len(X) != len(y) or y.ndim != 1:
        problems.append(f"{len(X)} labelled rows but {len(y)} labels")
    if len(twins) != len(y_twins) or len(twins) != len(sources):
        problems.append(f"{len(twins)} twins, {len(y_twins)} twin labels, {len(sources)} sources")
    elif len(twins) and twins.shape[1:] != X.shape[1:]:
        problems.append(f"twins of shape {twins.shape[1:]}, rows of shape {X.shape[1:]}")
    if sources.dtype.kind not in "iu" or (
        len(sources) and not 0 <= sources.min() <= sources.max() < len(y)
    ):
        problems.append(f"twin sources outside the {len(y)} labelled rows")
    if classes.ndim != 1 or len(classes) < 2 or not np.array_equal(classes, np.unique(classes)):
        problems.append(f"classes_ {classes.tolist()[:10]} are not sorted distinct labels")
    else:
        unknown = np.setdiff1d(np.concatenate([y, y_twins]), classes)
        if unknown.size:
            problems.append(f"labels {unknown.tolist()[:10]} outside classes_ {classes.tolist()}")
    if problems:
        raise ValueError(f"folder: {folder} holds inconsistent arrays: " + "; ".join(problems))


def _initialize(net, X) -> None:
    """Build the net's parts; a net that sizes a part from data gets the labelled rows."""
    initialize_for = getattr(net, "initialize_for", None)
    if initialize_for is not None:
        initialize_for(X)
    else:
        net.initialize()


def _load_parts(net, folder: Path, meta: dict) -> None:
    saved, expected = dict(meta["parts"]), _net_parts(net)
    missing = sorted(set(expected) - set(saved) - {"criterion_", "optimizer_"})
    unknown = sorted(set(saved) - set(expected))
    if missing or unknown or meta.get("net", type(net).__qualname__) != type(net).__qualname__:
        raise ValueError(
            f"folder: {folder} holds the parts {sorted(saved)} of a {meta.get('net')}, but the "
            f"template's {type(net).__qualname__} has {expected}; load with a template "
            "configured like the saved learner"
        )
    device = _torch.module_device(net.module_)
    for name, file in saved.items():
        try:
            state = torch.load(folder / file, map_location=device, weights_only=True)
        except FileNotFoundError:
            raise ValueError(f"folder: {folder} lacks {file}") from None
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
            raise ValueError(
                f"folder: {folder / file} was refused by torch.load(weights_only=True), which "
                f"loads only tensors and plain data: {exc}"
            ) from exc
        try:
            getattr(net, name).load_state_dict(state)
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"folder: {folder / file} does not fit the template's {name} ({exc})"
            ) from exc
    history = folder / "history.json"
    if history.is_file():
        net.history = History.from_file(str(history))
