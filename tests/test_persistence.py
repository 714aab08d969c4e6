import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skactive import ActiveLearner
from skactive.persistence import FORMAT, load_weights, save_weights
from skactive.strategies import DFAL, EntropySampling

from .conftest import tiny_net


@pytest.fixture
def campaign(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=200), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, 5)
    learner.teach(X_pool[idx], y_pool[idx])
    return learner, np.delete(X_pool, idx, axis=0)


def test_loaded_learner_continues_identically(campaign, tmp_path):
    learner, pool = campaign
    path = learner.save(tmp_path / "campaign.skal")
    restored = ActiveLearner.load(path)
    assert_array_equal(restored.X_labeled_, learner.X_labeled_)
    assert_array_equal(restored.X_twins_, learner.X_twins_)
    assert restored.history_[0]["indices"].tolist() == learner.history_[0]["indices"].tolist()
    assert restored.n_iter_ == learner.n_iter_ == 1
    assert_array_equal(restored.query(pool, 5), learner.query(pool, 5))


def test_save_is_atomic(campaign, tmp_path, monkeypatch):
    learner, _ = campaign
    path = learner.save(tmp_path / "campaign.skal")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pickle, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        learner.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["campaign.skal"]  # no temp file left


def test_loading_something_else_fails_clearly(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="is not a saved skactive learner"):
        ActiveLearner.load(junk)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(ValueError, match="is not a saved skactive learner"):
        ActiveLearner.load(other)
    future = tmp_path / "future.skal"
    future.write_bytes(pickle.dumps(({"format": FORMAT, "version": 99}, None)))
    with pytest.raises(ValueError, match="format version 99"):
        ActiveLearner.load(future)


def test_weights_round_trip_without_pickle(campaign, tmp_path):
    learner, pool = campaign
    folder = save_weights(learner, tmp_path / "weights")
    assert {p.name for p in folder.iterdir()} == {"labeled.npz", "meta.json", "params.pt"}
    template = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=200), random_state=0)
    restored = load_weights(template, folder)
    assert_array_equal(restored.y_labeled_, learner.y_labeled_)
    assert_array_equal(restored.twin_sources_, learner.twin_sources_)
    assert_allclose(restored.predict_proba(pool[:20]), learner.predict_proba(pool[:20]), atol=1e-6)
    assert_array_equal(restored.query(pool, 3), learner.query(pool, 3))


def test_unfitted_learner_saves_too(tmp_path):
    learner = ActiveLearner(tiny_net(), EntropySampling(candidates=10))
    restored = ActiveLearner.load(learner.save(tmp_path / "new.skal"))
    assert restored.get_params()["query_strategy__candidates"] == 10
