"""One schema for every saved file: a kind, the kind's own version, atomic writes."""

import json
import pickle

import pytest

from skactive._files import FILE_VERSIONS, file_version, load_pickle, save_pickle

PICKLED_KINDS = sorted(kind for kind in FILE_VERSIONS if kind != "weights")


class Payload:
    """Something to save, importable by the loader."""

    def __init__(self, value):
        self.value = value


@pytest.mark.parametrize("kind", PICKLED_KINDS)
def test_every_pickled_kind_round_trips_and_is_refused_as_another(kind, tmp_path):
    path = save_pickle(Payload(3), tmp_path / "file", kind=kind)
    assert load_pickle(path, Payload, kind=kind).value == 3
    with path.open("rb") as stream:
        header, _ = pickle.load(stream)
    assert header["format"] == f"skactive-{kind}" and header["version"] == FILE_VERSIONS[kind]
    other = next(k for k in PICKLED_KINDS if k != kind)
    with pytest.raises(ValueError, match=f"is not a saved skactive {other}"):
        load_pickle(path, Payload, kind=other)


@pytest.mark.parametrize("kind", PICKLED_KINDS)
def test_a_file_of_another_version_of_its_kind_is_refused_naming_both(kind, tmp_path):
    path = tmp_path / "old"
    header = {"format": f"skactive-{kind}", "version": FILE_VERSIONS[kind] + 1}
    path.write_bytes(pickle.dumps((header, Payload(1))))
    with pytest.raises(ValueError, match=f"{kind} format version {FILE_VERSIONS[kind] + 1}"):
        load_pickle(path, Payload, kind=kind)


def test_kinds_are_versioned_apart():
    # A learner change bumps the learner alone: cached pretrained weights stay readable.
    assert FILE_VERSIONS["checkpoint"] != FILE_VERSIONS["learner"]
    with pytest.raises(ValueError, match="kind: 'nets' is not a file kind"):
        file_version("nets")
    with pytest.raises(ValueError, match="kind: 'nets'"):
        save_pickle(Payload(1), "unused", kind="nets")


def test_a_weights_folder_says_its_own_kind_and_an_older_name_still_loads(tmp_path):
    import numpy as np

    from skactive import ActiveLearner
    from skactive.datasets import load_digits_images
    from skactive.models import make_net
    from skactive.persistence import WEIGHTS_FORMAT, load_weights, save_weights

    X, y = load_digits_images()
    net = make_net("lenet5", image_size=8, max_epochs=1)
    learner = ActiveLearner(net, random_state=0).fit(X[:40], y[:40])
    folder = save_weights(learner, tmp_path / "w")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["format"] == WEIGHTS_FORMAT and meta["version"] == FILE_VERSIONS["weights"]
    meta["format"] = "skactive-learner"  # what folders said before kinds had names
    (folder / "meta.json").write_text(json.dumps(meta))
    loaded = load_weights(ActiveLearner(net, random_state=0), folder)
    np.testing.assert_array_equal(loaded.predict(X[40:80]), learner.predict(X[40:80]))
    meta["format"] = "skactive-checkpoint"
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not hold skactive weights"):
        load_weights(ActiveLearner(net, random_state=0), folder)
