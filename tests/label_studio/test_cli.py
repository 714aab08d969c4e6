"""``python -m skactive serve`` and ``label-studio sync``: bad input exits 2 and touches nothing."""

import copy
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from skactive import ActiveLearner
from skactive.__main__ import main
from skactive.embeddings import Embedding
from skactive.label_studio import LabelStudioBackend, load_backend
from skactive.label_studio.cli import build_parser, command_parsers, open_backend

from ..conftest import tiny_net
from .conftest import DIGITS_CONFIG, annotation, task


@pytest.fixture
def learner_file(fitted_learner, tmp_path):
    return fitted_learner.save(tmp_path / "campaign.skactive")


def _refused(argv, capsys, match):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [["serve"], ["label-studio", "sync", "--url", "http://x", "--token", "t", "--project", "1"]],
)
def test_a_missing_or_foreign_learner_file_exits_2(command, tmp_path, capsys):
    _refused([*command, "--learner", str(tmp_path / "nope.skactive")], capsys, "does not exist")
    junk = tmp_path / "junk.skactive"
    junk.write_bytes(b"not a pickle")
    _refused([*command, "--learner", str(junk)], capsys, "--learner:")
    assert junk.read_bytes() == b"not a pickle"
    other = tmp_path / "other.skactive"
    other.write_bytes(pickle.dumps({"a": 1}))
    _refused([*command, "--learner", str(other)], capsys, "--learner:")


def test_an_unfitted_learner_exits_2(tmp_path, capsys):
    path = ActiveLearner(tiny_net()).save(tmp_path / "unfitted.skactive")
    _refused(["serve", "--learner", str(path)], capsys, "never fitted")


def test_bad_flags_exit_2_and_leave_the_file_as_it_was(learner_file, tmp_path, capsys):
    before = learner_file.read_bytes()
    config = tmp_path / "cats.xml"
    config.write_text(DIGITS_CONFIG.replace('value="3"', 'value="cat"'))
    _refused(
        ["serve", "--learner", str(learner_file), "--label-config", str(config)],
        capsys,
        "--label-config: label_config",
    )
    _refused(["serve", "--learner", str(learner_file), "--clusters", "0"], capsys, "--clusters")
    for flag in ("--full-refit-every", "--warm-epochs"):
        _refused(["serve", "--learner", str(learner_file), flag, "0"], capsys, flag)
    _refused(
        ["serve", "--learner", str(learner_file), "--basic-auth", "nocolon"], capsys, "--basic-auth"
    )
    _refused(["serve", "--learner", str(learner_file), "--pool", str(config)], capsys, "--pool")
    _refused(["label-studio", "sync", "--learner", str(learner_file)], capsys, "--url")
    assert learner_file.read_bytes() == before


def test_a_backend_file_is_continued_and_a_learner_file_starts_one(
    fitted_learner, learner_file, tmp_path
):
    parser = build_parser()
    state = tmp_path / "state.skactive"
    args = parser.parse_args(["serve", "--learner", str(learner_file), "--state", str(state)])
    fresh = open_backend(parser, args, background_refit=False)
    assert isinstance(fresh, LabelStudioBackend) and fresh.path == state and fresh.ledger == {}
    fresh.close_file()
    saved = LabelStudioBackend(
        copy.deepcopy(fitted_learner), path=state, label_config=DIGITS_CONFIG, project=3
    )
    saved.teach_annotation(task(7, fitted_learner.X_labeled_[0]), annotation(1, 7, 3))
    saved.close_file()
    continued = open_backend(parser, args, background_refit=False)
    assert continued.ledger == load_backend(state).ledger == saved.ledger
    assert continued.ledger[7].label == "3"
    continued.close_file()
    other = parser.parse_args(
        ["serve", "--learner", str(learner_file), "--state", str(state), "--project", "5"]
    )
    with pytest.raises(SystemExit):
        open_backend(parser, other, background_refit=False)


def test_embedding_flag_gives_the_backend_a_saved_embedding(
    learner_file, fitted_learner, tmp_path, capsys
):
    path = Embedding(fitted_learner.estimator_).fit().save(tmp_path / "trunk.embedding")
    parser = build_parser()
    args = parser.parse_args(["serve", "--learner", str(learner_file), "--embedding", str(path)])
    backend = open_backend(parser, args, background_refit=False)
    rows = fitted_learner.X_labeled_[:5]
    np.testing.assert_allclose(backend.embedding(rows), Embedding.load(path)(rows), atol=1e-6)
    before = learner_file.read_bytes()
    _refused(
        ["serve", "--learner", str(learner_file), "--embedding", str(learner_file)],
        capsys,
        "--embedding: path:",
    )
    _refused(
        ["serve", "--learner", str(learner_file), "--embedding", str(tmp_path / "none")],
        capsys,
        "--embedding:",
    )
    assert learner_file.read_bytes() == before


def test_the_refit_schedule_flags_reach_the_backend(learner_file, tmp_path):
    parser = build_parser()
    argv = ["--learner", str(learner_file), "--full-refit-every", "20", "--warm-epochs", "3"]
    args = parser.parse_args(["serve", *argv])
    backend = open_backend(parser, args, background_refit=False)
    assert (backend.full_refit_every, backend.warm_epochs) == (20, 3)
    backend.close()


def test_every_flag_is_documented_in_the_user_guide():
    page = (Path(__file__).parents[2] / "docs" / "user_guide" / "label_studio.rst").read_text()
    flags = {
        flag
        for parser in command_parsers().values()
        for flag in re.findall(r"(--[a-z][a-z-]*)", parser.format_help())
    }
    assert {"--learner", "--poll", "--push"} <= flags
    missing = sorted(f for f in flags - {"--help"} if f"``{f}``" not in page)
    assert not missing, f"docs/user_guide/label_studio.rst does not document {missing}"
