"""The campaign record: one layout of arrays and plain metadata behind every saved file."""

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator

from skactive import ActiveLearner
from skactive._files import load_pickle, save_pickle
from skactive._record import RECORD_VERSION, campaign_from_record, campaign_record
from skactive.persistence import load_weights, save_weights
from skactive.simulation import SimulationState
from skactive.strategies import CEAL, DFAL

from .conftest import tiny_net


@pytest.fixture(scope="module")
def mid_query(digits_split):
    """A DFAL campaign with keys, one query half taught: twins pending, history, seed."""
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=100), random_state=0)
    learner.fit(X_init, y_init).assign_keys([0, 1], ["init-0", "init-1"])
    idx = learner.query(X_pool, 4)
    learner.teach(X_pool[idx[:2]], y_pool[idx[:2]], keys=["a", "b"])
    return learner, X_pool[idx[2:]], y_pool[idx[2:]]


@pytest.fixture(scope="module")
def pseudo_labelled(digits_split):
    """A CEAL campaign whose next refit trains on pseudo-labels."""
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), CEAL(delta=2.5, max_pseudo=20), random_state=1)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool[:200], 3)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.training_set(include_pseudo=True)[0]) > len(learner.y_labeled_)
    return learner


def assert_same_campaign(a, b, *, same_objects=True):
    """Every field of two campaigns equal; arrays by value, objects by identity if asked."""
    for name in ("X", "y", "twins", "twin_y", "twin_sources", "pseudo_X", "pseudo_y"):
        assert_array_equal(getattr(a.labeled, name), getattr(b.labeled, name), err_msg=name)
        assert getattr(a.labeled, name).dtype == getattr(b.labeled, name).dtype, name
    assert a.labeled.keys == b.labeled.keys
    assert_array_equal(a.classes.classes, b.classes.classes)
    assert_array_equal(a.classes.fitted, b.classes.fitted)
    assert (a.seed, a.n_iter, a.row_shape, a.n_features_in) == (
        b.seed,
        b.n_iter,
        b.row_shape,
        b.n_features_in,
    )
    assert a.tracker == b.tracker
    assert (a.feature_names_in is None) == (b.feature_names_in is None)
    assert len(a.history) == len(b.history)
    for entry_a, entry_b in zip(a.history, b.history, strict=True):
        assert list(entry_a) == list(entry_b)  # same keys, same order
        for key, value in entry_a.items():
            assert_array_equal(value, entry_b[key], err_msg=key)
    assert (a.pending is None) == (b.pending is None)
    if a.pending is not None:
        assert a.pending.positions == b.pending.positions
        assert a.pending.taught == b.pending.taught
        for name in ("twins", "twin_sources", "pseudo_X", "pseudo_y"):
            assert_array_equal(getattr(a.pending.extras, name), getattr(b.pending.extras, name))
        assert_array_equal(a.pending.pseudo_X, b.pending.pseudo_X)
    if same_objects:
        assert a.estimator is b.estimator and a.strategy is b.strategy
        assert a.unlabeled is b.unlabeled


def test_a_record_round_trips_every_field_of_a_campaign(mid_query, pseudo_labelled):
    for learner in (mid_query[0], pseudo_labelled):
        campaign = learner._campaign
        back = campaign_from_record(campaign_record(campaign), learner.get_params(deep=False))
        assert_same_campaign(back, campaign)
    pending = mid_query[0]._campaign.pending
    assert len(pending.taught) == 2 and len(pending.extras.twin_sources) == 4


def test_a_record_holds_only_arrays_plain_values_and_its_three_objects(mid_query):
    record = mid_query[0].record()
    assert set(record) == {"version", "arrays", "meta", "objects"}
    assert all(isinstance(v, np.ndarray) for v in record["arrays"].values())
    assert set(record["objects"]) == {"estimator", "strategy", "unlabeled"}
    plain = pickle.dumps(record["meta"])
    assert b"skactive" not in plain and b"numpy" not in plain


def test_pickling_a_learner_pickles_its_record_not_the_campaign_classes(mid_query):
    learner = mid_query[0]
    data = pickle.dumps(learner)
    assert b"skactive._campaign" not in data and b"skactive._record" not in data
    loaded = pickle.loads(data)
    assert_same_campaign(loaded._campaign, learner._campaign, same_objects=False)
    X = learner.X_labeled_[:20]
    assert_array_equal(loaded.predict_proba(X), learner.predict_proba(X))
    assert "_campaign" in vars(learner)  # pickling left the original whole


def test_a_shallow_copy_shares_the_campaigns_objects(mid_query):
    learner = mid_query[0]
    twin = copy.copy(learner)
    assert_same_campaign(twin._campaign, learner._campaign)


def test_every_file_that_holds_a_campaign_holds_its_record(mid_query, digits_split, tmp_path):
    learner = mid_query[0]
    files = {"learner": learner.save(tmp_path / "campaign.skal")}
    state = SimulationState(learner, np.arange(3), 1, {})
    files["checkpoint"] = save_pickle(state, tmp_path / "run.pkl", kind="checkpoint")
    for kind, path in files.items():
        data = path.read_bytes()
        assert b"skactive._campaign" not in data, kind
    assert_same_campaign(
        ActiveLearner.load(files["learner"])._campaign, learner._campaign, same_objects=False
    )
    resumed = load_pickle(files["checkpoint"], SimulationState, kind="checkpoint")
    assert_same_campaign(resumed.learner._campaign, learner._campaign, same_objects=False)


def test_the_service_file_holds_the_record(mid_query, tmp_path):
    pytest.importorskip("flask", reason="the label-studio extra (Flask) is not installed")
    from skactive.label_studio import LabelStudioBackend, load_backend

    backend = LabelStudioBackend(
        copy.deepcopy(mid_query[0]), path=tmp_path / "service", background_refit=False
    )
    backend.save()
    assert b"skactive._campaign" not in (tmp_path / "service").read_bytes()
    loaded = load_backend(tmp_path / "service", background_refit=False)
    assert_same_campaign(loaded.learner._campaign, backend.learner._campaign, same_objects=False)


def test_a_learner_file_of_the_layout_before_records_still_loads(mid_query, tmp_path, monkeypatch):
    learner = mid_query[0]
    # What version 2 wrote: the learner's __dict__, its campaign object included.
    monkeypatch.setattr(ActiveLearner, "__getstate__", BaseEstimator.__getstate__)
    old = pickle.dumps(({"format": "skactive-learner", "version": 2}, learner))
    monkeypatch.undo()
    assert b"skactive._campaign" in old
    (tmp_path / "old.skal").write_bytes(old)
    with pytest.warns(UserWarning, match="saved by skactive None"):
        loaded = ActiveLearner.load(tmp_path / "old.skal")
    assert_same_campaign(loaded._campaign, learner._campaign, same_objects=False)


def test_a_record_of_another_version_or_without_its_arrays_is_refused(mid_query):
    learner = mid_query[0]
    params = learner.get_params(deep=False)
    record = learner.record()
    with pytest.raises(ValueError, match=f"version {RECORD_VERSION + 1}; this skactive reads"):
        campaign_from_record({**record, "version": RECORD_VERSION + 1}, params)
    arrays = {k: v for k, v in record["arrays"].items() if k != "y_labeled_"}
    with pytest.raises(ValueError, match=r"lacks the arrays \['y_labeled_'\]"):
        campaign_from_record({**record, "arrays": arrays}, params)
    with pytest.raises(ValueError, match="3 row keys for"):
        campaign_from_record({**record, "meta": {**record["meta"], "keys": [1, 2, 3]}}, params)


def test_weights_keep_the_pending_query_pseudo_labels_and_history(
    mid_query, pseudo_labelled, tmp_path
):
    learner, X_rest, y_rest = mid_query
    template = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=100), random_state=0)
    loaded = load_weights(template, save_weights(learner, tmp_path / "dfal"))
    original = copy.deepcopy(learner)
    original.teach(X_rest, y_rest)
    loaded.teach(X_rest, y_rest)  # the rest of the query brings its twins
    assert len(original.X_twins_) == 4
    assert_array_equal(loaded.X_twins_, original.X_twins_)
    assert_array_equal(loaded.twin_sources_, original.twin_sources_)
    assert_array_equal(loaded.history_[0]["indices"], original.history_[0]["indices"])
    assert list(loaded.keys_) == list(original.keys_)
    ceal = ActiveLearner(tiny_net(max_epochs=2), CEAL(delta=2.5, max_pseudo=20), random_state=1)
    loaded = load_weights(ceal, save_weights(pseudo_labelled, tmp_path / "ceal"))
    for include in (False, True):
        for got, want in zip(
            loaded.training_set(include_pseudo=include),
            pseudo_labelled.training_set(include_pseudo=include),
            strict=True,
        ):
            assert_array_equal(got, want)
