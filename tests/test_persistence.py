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
    assert {p.name for p in folder.iterdir()} == {
        "labeled.npz",
        "meta.json",
        "history.json",
        "params.pt",
        "optimizer.pt",
        "criterion.pt",
    }
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


def _every_shipped_net():
    from skactive.nets import AdversarialTrainingNet, LossPredictionNet
    from skactive.semi_supervised import LabelPropagationNet

    return {
        "NeuralNetClassifier": {},
        "AdversarialTrainingNet": {"net_class": AdversarialTrainingNet, "n_steps": 2},
        "LossPredictionNet": {"net_class": LossPredictionNet},
        "LabelPropagationNet": {"net_class": LabelPropagationNet},
    }


def _pretrained_callback():
    """PretrainedWeights holding the layers of a freshly drawn LeNet5 (no head)."""
    import torch

    from skactive.pretraining import PretrainedWeights

    torch.manual_seed(123)
    module = tiny_net().initialize().module_
    state = {k: v.clone() for k, v in module.state_dict().items() if not k.startswith("fc3")}
    return PretrainedWeights(state)


def _params(learner):
    net = learner.estimator_
    return {
        name: value.detach().clone()
        for part in ("module_", "loss_module_")
        if hasattr(net, part)
        for name, value in getattr(net, part).state_dict().items()
    }


@pytest.mark.parametrize("kind", sorted(_every_shipped_net()))
@pytest.mark.parametrize("warm_start", [False, True])
def test_every_shipped_net_round_trips_and_refits_as_the_original(
    kind, warm_start, digits_split, tmp_path
):
    import torch

    X_init, y_init, X_pool, y_pool, *_ = digits_split
    settings = dict(_every_shipped_net()[kind], max_epochs=2, callbacks=[_pretrained_callback()])

    def template():
        return ActiveLearner(
            tiny_net(**settings), EntropySampling(), warm_start=warm_start, random_state=0
        )

    learner = template().fit(X_init, y_init)
    idx = learner.query(X_pool, 5)
    learner.teach(X_pool[idx], y_pool[idx])
    restored = load_weights(template(), save_weights(learner, tmp_path / kind))
    for name, value in _params(learner).items():
        assert torch.equal(_params(restored)[name], value), name
    assert_array_equal(restored.query(X_pool[50:], 5), learner.query(X_pool[50:], 5))
    # The next refit, warm or fresh, is the original's: no pretrained layers
    # overwrite the restored ones, and the optimizer goes on where it stopped.
    for each in (learner, restored):
        each.teach(X_pool[50:55], y_pool[50:55])
    after, again = _params(learner), _params(restored)
    assert after.keys() == again.keys()
    for name, value in after.items():
        assert torch.allclose(again[name], value, atol=1e-6), name


def test_a_tampered_params_file_is_refused(campaign, tmp_path):
    import os

    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'owned'}",))

    learner, _ = campaign
    folder = save_weights(learner, tmp_path / "weights")
    torch.save({"conv1.weight": Payload()}, folder / "params.pt")
    template = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=200), random_state=0)
    with pytest.raises(ValueError, match=r"refused by torch.load\(weights_only=True\)"):
        load_weights(template, folder)
    assert not (tmp_path / "owned").exists()


def _rewrite(folder, **changes):
    with np.load(folder / "labeled.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    np.savez(folder / "labeled.npz", **arrays)


@pytest.mark.parametrize(
    "changes, message",
    [
        (lambda a: {"y_labeled_": a["y_labeled_"][:-5]}, r"\d+ labelled rows but \d+ labels"),
        (lambda a: {"y_labeled_": a["y_labeled_"] + 20}, r"labels \[\d+.*outside classes_"),
        (lambda a: {"twin_sources_": a["twin_sources_"] + 1000}, "twin sources outside"),
        (lambda a: {"X_twins_": a["X_twins_"][:-1]}, r"\d+ twins, \d+ twin labels"),
        (lambda a: {"classes_": a["classes_"][:9]}, "outside classes_|outputs 10 columns"),
        (lambda a: {"classes_": a["classes_"][::-1]}, "not sorted distinct labels"),
    ],
)
def test_inconsistent_saved_arrays_are_refused_at_load(campaign, tmp_path, changes, message):
    learner, _ = campaign
    folder = save_weights(learner, tmp_path / "weights")
    with np.load(folder / "labeled.npz") as data:
        _rewrite(folder, **changes({name: data[name] for name in data.files}))
    template = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=200), random_state=0)
    with pytest.raises(ValueError, match=f"folder: {folder}") as info:
        load_weights(template, folder)
    assert info.match(message)


def test_fewer_classes_than_the_network_outputs_is_refused(campaign, tmp_path):
    learner, _ = campaign
    folder = save_weights(learner, tmp_path / "weights")
    keep = np.isin(learner.y_labeled_, np.arange(9))
    _rewrite(
        folder,
        X_labeled_=learner.X_labeled_[keep],
        y_labeled_=learner.y_labeled_[keep],
        X_twins_=learner.X_twins_[:0],
        y_twins_=learner.y_twins_[:0],
        twin_sources_=learner.twin_sources_[:0],
        classes_=np.arange(9),
    )
    template = ActiveLearner(tiny_net(max_epochs=2), DFAL(candidates=200), random_state=0)
    with pytest.raises(ValueError, match="lists 9 classes but the network outputs 10 columns"):
        load_weights(template, folder)


def test_string_labels_from_a_pandas_series_are_saved(digits_split, tmp_path):
    import pandas as pd

    X_init, y_init, X_pool, *_ = digits_split
    names = pd.Series([f"digit {k}" for k in y_init])
    learner = ActiveLearner(tiny_net(max_epochs=1), random_state=0).fit(X_init, names)
    restored = load_weights(
        ActiveLearner(tiny_net(max_epochs=1), random_state=0),
        save_weights(learner, tmp_path / "weights"),
    )
    assert restored.y_labeled_.tolist() == names.tolist()
    assert restored.predict(X_pool[:10]).tolist() == learner.predict(X_pool[:10]).tolist()


@pytest.mark.parametrize("what", ["no folder", "meta not JSON", "not a weights folder"])
def test_a_folder_that_is_not_saved_weights_is_refused(tmp_path, what):
    folder = tmp_path / "w"
    if what != "no folder":
        folder.mkdir()
        (folder / "meta.json").write_text("{" if what == "meta not JSON" else '{"a": 1}')
    template = ActiveLearner(tiny_net(max_epochs=1))
    with pytest.raises(ValueError, match=f"folder: {folder}"):
        load_weights(template, folder)


def test_a_learner_saved_in_a_format_no_longer_read_is_refused_clearly(tmp_path):
    from skactive._files import readable_versions

    stale = min(readable_versions("learner")) - 1
    old = tmp_path / "old.skal"
    old.write_bytes(pickle.dumps(({"format": FORMAT, "version": stale}, None)))
    with pytest.raises(ValueError, match=f"format version {stale} .*reads versions 3, 2"):
        ActiveLearner.load(old)


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporaries_of_dead_writers_are_stale_and_a_live_writers_are_not(tmp_path):
    import os
    import subprocess
    import sys

    from skactive._files import remove_stale_temporaries, stale_temporaries

    target = tmp_path / "campaign.skactive"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f".campaign.skactive.{_dead_pid()}.abc.tmp"
        legacy = tmp_path / ".campaign.skactive.k1ll3d.tmp"  # written before names had a pid
        running = tmp_path / f".campaign.skactive.{live.pid}.def.tmp"
        mine = tmp_path / f".campaign.skactive.{os.getpid()}.ghi.tmp"
        other = tmp_path / f".other.skactive.{_dead_pid()}.jkl.tmp"
        for file in (dead, legacy, running, mine, other):
            file.write_bytes(b"half a pickle")
        assert stale_temporaries(target) == sorted([dead, legacy])
        assert remove_stale_temporaries(target) == sorted([dead, legacy])
        assert not dead.exists() and not legacy.exists()
        assert running.exists() and mine.exists() and other.exists()
        assert remove_stale_temporaries(tmp_path) == [other]  # a folder: every file below it
    finally:
        live.kill()
        live.wait()


def test_a_save_names_its_writer_in_the_temporary_file(campaign, tmp_path, monkeypatch):
    import os

    learner, _ = campaign
    seen = []
    real_replace = os.replace

    def spy(source, target):
        seen.append(os.path.basename(source))
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    learner.save(tmp_path / "campaign.skal")
    assert seen and seen[0].startswith(f".campaign.skal.{os.getpid()}.")
