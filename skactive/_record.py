"""A campaign as arrays plus plain metadata: the one layout of every saved campaign.

Every file that holds a campaign writes it through :func:`campaign_record`
and reads it back through :func:`campaign_from_record`:

* a pickled learner (``ActiveLearner.save``), the runner's checkpoint and
  the Label Studio backend's file pickle an :class:`~skactive.ActiveLearner`,
  whose ``__getstate__`` hands pickle its campaign as a record;
* a ``save_weights`` folder writes the record's arrays as ``.npz``, its
  metadata as JSON and the estimator as ``state_dict`` files.

So a change to :class:`~skactive._campaign.Campaign` changes these two
functions and :data:`RECORD_VERSION`, never a file's writer, and no saved
file names a campaign class. A record is a plain ``dict``:

``version``
    :data:`RECORD_VERSION`.
``arrays``
    name -> ndarray: the labelled rows and labels, twins, pseudo-labels,
    classes, feature names, the pending query's arrays and each history
    entry's arrays.
``meta``
    plain values (numbers, strings, lists, dicts, None): row keys, seed,
    round count, row shape, history entries, what the pending query has
    consumed, and the tracked parameters' fingerprints.
``objects``
    the fitted ``estimator``, the ``strategy`` (with its round state) and
    the ``unlabeled`` pool: each file kind stores these its own way
    (pickled, or as ``state_dict`` files, or left to the loader's template).

Parts a loader does not have (a folder saved before a part was recorded, a
weights folder's strategy) are taken from the learner's parameters, as a
new campaign would take them.
"""

from __future__ import annotations

import numpy as np

from skactive._campaign import (
    Campaign,
    ClassSpace,
    LabeledSet,
    ParameterTracker,
    PendingQuery,
    base_seed,
    strategy_from,
)
from skactive.base import TrainingExtras

#: The version of the record layout. A file kind's version changes with it.
RECORD_VERSION = 1

#: The labelled set's arrays, by record name (the learner attribute that
#: shows each), and the :class:`LabeledSet` field that holds it.
LABELED_ARRAYS = {
    "X_labeled_": "X",
    "y_labeled_": "y",
    "X_twins_": "twins",
    "y_twins_": "twin_y",
    "twin_sources_": "twin_sources",
    "pseudo_X_": "pseudo_X",
    "pseudo_y_": "pseudo_y",
}

#: The arrays every record has; the rest may be absent (older folders).
REQUIRED_ARRAYS = ("X_labeled_", "y_labeled_", "X_twins_", "y_twins_", "twin_sources_", "classes_")

_PENDING_EXTRAS = ("twins", "twin_sources", "pseudo_X", "pseudo_y")


def campaign_record(campaign: Campaign) -> dict:
    """``campaign`` as a record: arrays, plain metadata and its three objects.

    The arrays are the campaign's own (not copies): a record is as cheap as
    the campaign it describes.
    """
    labeled = campaign.labeled
    arrays = {name: getattr(labeled, field) for name, field in LABELED_ARRAYS.items()}
    arrays["classes_"] = campaign.classes.classes
    arrays["fitted_classes_"] = campaign.classes.fitted
    if campaign.feature_names_in is not None:
        arrays["feature_names_in_"] = campaign.feature_names_in
    history, history_arrays = [], []
    for i, entry in enumerate(campaign.history):
        stored = [key for key, value in entry.items() if isinstance(value, np.ndarray)]
        arrays.update({f"history.{i}.{key}": entry[key] for key in stored})
        history.append({key: None if key in stored else value for key, value in entry.items()})
        history_arrays.append(stored)
    meta = {
        "keys": labeled.key_list() if labeled.keys is not None else None,
        "seed": campaign.seed,
        "n_iter": campaign.n_iter,
        "row_shape": list(campaign.row_shape),
        "n_features_in": campaign.n_features_in,
        "history": history,
        "history_arrays": history_arrays,
        "pending": None,
        "tracker": dict(campaign.tracker.seen),
    }
    if campaign.pending is not None:
        arrays.update(_pending_arrays(campaign.pending))
        meta["pending"] = {"taught": sorted(int(p) for p in campaign.pending.taught)}
    objects = {
        "estimator": campaign.estimator,
        "strategy": campaign.strategy,
        "unlabeled": campaign.unlabeled,
    }
    return {"version": RECORD_VERSION, "arrays": arrays, "meta": meta, "objects": objects}


def campaign_from_record(record: dict, params) -> Campaign:
    """The campaign ``record`` describes, for a learner whose parameters are ``params``.

    ``params`` (``learner.get_params(deep=False)``) supplies what the record
    lacks: the strategy, seed and parameter fingerprints a new campaign
    would take.

    Raises
    ------
    ValueError
        If the record is of another version or lacks a required array.
    """
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        found = record.get("version") if isinstance(record, dict) else type(record).__name__
        raise ValueError(
            f"record: a campaign record of version {found}; this skactive reads version "
            f"{RECORD_VERSION}"
        )
    arrays, meta, objects = record["arrays"], record.get("meta", {}), record.get("objects", {})
    missing = [name for name in REQUIRED_ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"record: the campaign record lacks the arrays {missing}")
    labeled = _labeled_set(arrays, meta.get("keys"))
    classes = arrays["classes_"]
    tracker = meta.get("tracker")
    return Campaign(
        labeled=labeled,
        classes=ClassSpace(classes, arrays.get("fitted_classes_", classes)),
        estimator=objects.get("estimator"),
        strategy=_or_else(objects.get("strategy"), lambda: strategy_from(params["query_strategy"])),
        tracker=ParameterTracker.of(params) if tracker is None else ParameterTracker(tracker),
        seed=meta["seed"] if "seed" in meta else base_seed(params["random_state"]),
        row_shape=tuple(meta.get("row_shape", labeled.X.shape[1:])),
        n_features_in=int(meta.get("n_features_in", labeled.X.shape[1])),
        feature_names_in=arrays.get("feature_names_in_"),
        n_iter=int(meta.get("n_iter", 0)),
        history=_history(arrays, meta),
        pending=_pending(arrays, meta.get("pending")),
        unlabeled=objects.get("unlabeled"),
    )


def _or_else(value, default):
    return default() if value is None else value


def _labeled_set(arrays: dict, keys) -> LabeledSet:
    start = LabeledSet.start(arrays["X_labeled_"], arrays["y_labeled_"])
    present = {field: arrays[name] for name, field in LABELED_ARRAYS.items() if name in arrays}
    labeled = LabeledSet(**{**vars(start), **present})
    if keys is None or all(key is None for key in keys):
        return labeled
    if len(keys) != len(labeled.y):
        raise ValueError(f"record: {len(keys)} row keys for {len(labeled.y)} labelled rows")
    named = [row for row, key in enumerate(keys) if key is not None]
    return labeled.with_keys(np.array(named, dtype=np.intp), [keys[row] for row in named])


def _history(arrays: dict, meta: dict) -> tuple:
    stored = meta.get("history_arrays", [])
    return tuple(
        {
            key: arrays[f"history.{i}.{key}"] if key in stored[i] else value
            for key, value in entry.items()
        }
        for i, entry in enumerate(meta.get("history", []))
    )


def _pending_arrays(pending: PendingQuery) -> dict:
    """The pending query's arrays; row digests as hex text (npz keeps no bytes' trailing NULs)."""
    arrays = {
        "pending.row_keys": np.array([key.hex() for key in pending.positions], dtype=str),
        "pending.positions": np.fromiter(pending.positions.values(), dtype=np.intp),
        "pending.pseudo_X": pending.pseudo_X,
        "pending.pseudo_y": pending.pseudo_y,
    }
    for name in _PENDING_EXTRAS:
        arrays[f"pending.extras.{name}"] = getattr(pending.extras, name)
    return arrays


def _pending(arrays: dict, meta: dict | None) -> PendingQuery | None:
    if meta is None:
        return None
    keys = [bytes.fromhex(str(key)) for key in arrays["pending.row_keys"]]
    positions = dict(zip(keys, (int(p) for p in arrays["pending.positions"]), strict=True))
    extras = TrainingExtras(**{name: arrays[f"pending.extras.{name}"] for name in _PENDING_EXTRAS})
    return PendingQuery(
        positions,
        extras,
        arrays["pending.pseudo_X"],
        arrays["pending.pseudo_y"],
        frozenset(meta["taught"]),
    )
