import csv
from collections import Counter

import numpy as np
import pytest

from skactive.datasets import DATASETS
from skactive.embeddings import Embedding
from skactive.experiments import (
    QUICK,
    ExperimentConfig,
    read_results,
    records,
    render_reports,
    robustness_table,
    run_experiments,
    run_transfer,
    runner,
    settings,
    transfer_table,
)
from skactive.fixmatch import FixMatchNet
from skactive.learner import ActiveLearner
from skactive.semi_supervised import LabelPropagationNet
from skactive.strategies import TypiClust


def _config(tmp_path, **changes):
    settings = dict(QUICK, output_dir=tmp_path, progress=False)
    settings.update(changes)
    return ExperimentConfig(**settings)


@pytest.mark.slow
def test_quick_setting_end_to_end_with_reports_and_transfer(tmp_path):
    config = _config(tmp_path, seeds=(0,), budget=60, epochs=30)
    results = run_experiments(config)
    rows = read_results(results)
    assert len(rows) == 3 * 3  # 3 strategies x (initial + 2 rounds)
    assert {r["n_labeled"] for r in rows} == {20, 40, 60}
    dfal_last = next(r for r in rows if r["strategy"] == "dfal" and r["round"] == 2)
    assert dfal_last["n_training_rows"] > 60  # twins train too
    report = render_reports(results, tmp_path / "report")
    text = report.read_text()
    assert "Table 1" in text and "Table 2" in text and "Table 3" in text
    png = tmp_path / "report" / "digits_lenet5_curves.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    table = transfer_table(run_transfer(config, source="lenet5", target="vgg8"))
    assert "Table 4" in table and "| dfal |" in table
    assert not list((tmp_path / "checkpoints").iterdir())  # finished runs leave none


def test_interrupted_run_resumes_without_redoing_rounds(tmp_path, monkeypatch):
    config = _config(tmp_path, strategies=("entropy",), seeds=(0,), budget=80, epochs=2)
    real_teach = ActiveLearner.teach
    calls = Counter()

    def flaky_teach(self, X, y):
        calls["teach"] += 1
        if calls["teach"] == 3:
            raise KeyboardInterrupt  # the machine goes down in round 3
        return real_teach(self, X, y)

    monkeypatch.setattr(ActiveLearner, "teach", flaky_teach)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(config)
    assert [r["round"] for r in read_results(tmp_path / "results.csv")] == [0, 1, 2]
    assert len(list((tmp_path / "checkpoints").iterdir())) == 1

    calls.clear()
    monkeypatch.setattr(
        ActiveLearner,
        "teach",
        lambda self, X, y: (calls.update(["teach"]), real_teach(self, X, y))[1],
    )
    run_experiments(config)
    assert calls["teach"] == 1  # only round 3 was left
    with open(tmp_path / "results.csv", newline="") as handle:
        rounds = [int(r["round"]) for r in csv.DictReader(handle)]
    assert rounds == [0, 1, 2, 3]
    run_experiments(config)  # nothing left to do
    assert calls["teach"] == 1


def test_datasets_are_a_registry():
    assert {"digits", "fashion-mnist"} <= set(DATASETS)
    X_train, _y_train, X_test, y_test = DATASETS["digits"]()
    assert X_train.shape[1:] == (1, 8, 8) and len(X_test) == len(y_test)


def test_runner_records_stopping_verdicts_and_resumes_them(tmp_path, monkeypatch):
    from skactive.experiments import stopping_table

    config = _config(
        tmp_path,
        strategies=("random",),
        seeds=(0,),
        budget=80,
        epochs=2,
        stopping=("stabilizing", "max_uncertainty"),
    )
    calls = {"n": 0}
    original = ActiveLearner.teach

    def crash_once(self, X, y):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, X, y)

    monkeypatch.setattr(ActiveLearner, "teach", crash_once)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(config)
    monkeypatch.setattr(ActiveLearner, "teach", original)
    results = run_experiments(config)
    with open(tmp_path / "stopping.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert Counter(r["criterion"] for r in rows) == {"stabilizing": 3, "max_uncertainty": 3}
    assert [int(r["round"]) for r in rows if r["criterion"] == "stabilizing"] == [1, 2, 3]
    table = stopping_table(results, tmp_path / "stopping.csv")
    assert "| max_uncertainty | random |" in table and "| stabilizing | random |" in table
    with pytest.raises(ValueError, match="stopping: unknown"):
        run_experiments(_config(tmp_path, stopping=("nope",)))


def test_runner_records_robust_accuracy_with_adversarial_training(tmp_path, monkeypatch):
    measured = []
    real = records.robust_accuracy

    def recorded(learner, X, y, *, eps, **params):
        value = real(learner, X, y, eps=eps, **params)
        measured.append((eps, value, learner.score(X, y)))
        return value

    monkeypatch.setattr(records, "robust_accuracy", recorded)
    config = _config(
        tmp_path,
        strategies=("dre",),
        seeds=(0,),
        budget=80,
        epochs=2,
        robust_eps=(0.0, 0.05),
        robust_rows=50,
        robust_every=2,
        adversarial_training=True,
    )
    assert type(config.network("lenet5", *DATASETS["digits"]()[:2])).__name__ == (
        "AdversarialTrainingNet"
    )
    results = run_experiments(config)
    with open(tmp_path / "robustness.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted({int(r["round"]) for r in rows}) == [0, 2, 3]  # every 2nd round and the last
    assert len(results.read_text().splitlines()) == 1 + 4
    # The CSV holds what was measured, and eps = 0 is the clean accuracy of
    # exactly the attacked rows; an attack never gains more than a row or two.
    assert [float(r["robust_accuracy"]) for r in rows] == [
        pytest.approx(value, abs=1e-5) for _, value, _ in measured
    ]
    for eps, value, clean in measured:
        if eps == 0.0:
            assert value == clean
        else:
            assert value <= clean + 2 / 50
    table = robustness_table(results, tmp_path / "robustness.csv")
    assert "| dre | 1 |" in table and "eps 0.05" in table


def test_runner_semi_supervised_and_pretrained_nets(tmp_path, monkeypatch):
    monkeypatch.setitem(settings.SEMI_SUPERVISED["label-propagation"], "max_unlabeled", 200)
    monkeypatch.setattr(settings, "PRETRAINING", {"n_epochs": 1, "max_rows": 300})
    config = _config(
        tmp_path,
        strategies=("random",),
        seeds=(0,),
        budget=40,
        epochs=2,
        semi_supervised=True,
        pretrain="deepcluster",
        pretrain_optimizer="sgd",
    )
    results = run_experiments(config)
    assert [r["round"] for r in read_results(results)] == [0, 1]
    assert list((tmp_path / "pretrained").iterdir())  # DeepCluster ran once and was cached
    with pytest.raises(ValueError, match="pretrain_optimizer must be one of"):
        _config(tmp_path, pretrain_optimizer="lbfgs").validate()
    learning_loss = _config(tmp_path / "ll", strategies=("learning_loss",), seeds=(0,), budget=40)
    assert [r["strategy"] for r in read_results(run_experiments(learning_loss))] == [
        "learning_loss",
        "learning_loss",
    ]


@pytest.mark.parametrize("method", ["fixmatch", "flexmatch"])
def test_runner_trains_fixmatch_nets_on_the_pool(tmp_path, monkeypatch, method):
    monkeypatch.setitem(settings.SEMI_SUPERVISED[method], "max_unlabeled", 300)
    monkeypatch.setitem(settings.SEMI_SUPERVISED[method], "steps_per_epoch", 5)
    config = _config(
        tmp_path, strategies=("entropy",), seeds=(0,), budget=40, epochs=2, semi_supervised=method
    )
    assert config.semi_supervised_method == method
    assert isinstance(config.network("lenet5", np.zeros((10, 1, 8, 8)), np.arange(10)), FixMatchNet)
    rows = read_results(run_experiments(config))
    assert [r["round"] for r in rows] == [0, 1]
    with pytest.raises(ValueError, match="semi_supervised"):
        _config(tmp_path, semi_supervised="mixmatch").validate()


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_run_killed_before_its_training_set_is_not_taken_as_finished(tmp_path, monkeypatch):
    config = _config(tmp_path, strategies=("random",), seeds=(0,), budget=60, epochs=1)
    real_save = runner.save_training_set

    def killed(*args):
        raise KeyboardInterrupt  # the machine goes down while the set is written

    monkeypatch.setattr(runner, "save_training_set", killed)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(config)
    # The last round's row marks a run finished: it must not be there yet.
    assert max(r["round"] for r in read_results(tmp_path / "results.csv")) == 1
    with pytest.raises(FileNotFoundError, match=r"no training set for the runs \['digits_lenet5"):
        run_transfer(config, source="lenet5", target="vgg8")
    monkeypatch.setattr(runner, "save_training_set", real_save)
    run_experiments(config)
    assert (tmp_path / "sets" / "digits_lenet5_random_0.npz").is_file()
    assert [r["round"] for r in read_results(tmp_path / "results.csv")] == [0, 1, 2]
    # A folder of the earlier runner (last row written, set missing) is finished now.
    (tmp_path / "sets" / "digits_lenet5_random_0.npz").unlink()
    run_experiments(config)
    assert (tmp_path / "sets" / "digits_lenet5_random_0.npz").is_file()
    assert [int(r["round"]) for r in _rows(tmp_path / "results.csv")] == [0, 1, 2]


def test_a_resume_writes_each_round_once_in_every_csv(tmp_path, monkeypatch):
    config = _config(
        tmp_path,
        strategies=("random",),
        seeds=(0,),
        budget=80,
        epochs=1,
        stopping=("stabilizing",),
        robust_eps=(0.0,),
        robust_rows=20,
    )
    real_checkpoint = runner._save_checkpoint

    def killed_at_round_2(path, checkpoint):
        if checkpoint.state.round == 2:
            raise KeyboardInterrupt  # after round 2's rows, before its checkpoint
        real_checkpoint(path, checkpoint)

    monkeypatch.setattr(runner, "_save_checkpoint", killed_at_round_2)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(config)
    assert [int(r["round"]) for r in _rows(tmp_path / "stopping.csv")] == [1, 2]
    monkeypatch.setattr(runner, "_save_checkpoint", real_checkpoint)
    run_experiments(config)
    for name in ("results.csv", "robustness.csv"):
        assert [int(r["round"]) for r in _rows(tmp_path / name)] == [0, 1, 2, 3], name
    assert [int(r["round"]) for r in _rows(tmp_path / "stopping.csv")] == [1, 2, 3]


def test_a_checkpoint_of_other_settings_is_refused(tmp_path, monkeypatch):
    config = _config(tmp_path, strategies=("qbc",), seeds=(0,), budget=60, epochs=1)
    real_teach = ActiveLearner.teach

    def killed(self, X, y):
        raise KeyboardInterrupt

    monkeypatch.setattr(ActiveLearner, "teach", killed)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(config)
    monkeypatch.setattr(ActiveLearner, "teach", real_teach)
    changed = _config(
        tmp_path,
        strategies=("qbc",),
        seeds=(0,),
        budget=60,
        epochs=1,
        extra_strategy_params={"qbc": {"measure": "kl_max"}},
    )
    with pytest.raises(ValueError, match=r"qbc.measure: 'variation_ratio' -> 'kl_max'"):
        run_experiments(changed)
    with pytest.raises(ValueError, match=r"epochs: 1 -> 2"):
        run_experiments(_config(tmp_path, strategies=("qbc",), seeds=(0,), budget=60, epochs=2))
    assert [r["round"] for r in read_results(tmp_path / "results.csv")] == [0]
    run_experiments(config)  # the original settings resume
    assert [r["round"] for r in read_results(tmp_path / "results.csv")] == [0, 1, 2]


def test_a_bad_strategy_value_fails_before_any_training(tmp_path):
    bad = _config(tmp_path, strategies=("qbc",), extra_strategy_params={"qbc": {"measure": "x"}})
    with pytest.raises(ValueError, match="strategies: qbc: measure must be one of"):
        run_experiments(bad)
    assert not (tmp_path / "results.csv").exists()


def test_a_checkpoint_that_is_not_the_runners_is_refused_by_name(tmp_path):
    import pickle

    config = _config(tmp_path, strategies=("random",), seeds=(0,), budget=60, epochs=1)
    (tmp_path / "checkpoints").mkdir(parents=True)
    raw = tmp_path / "checkpoints" / "digits_lenet5_random_0.pkl"
    raw.write_bytes(pickle.dumps(("learner", [1, 2], 0)))  # an earlier runner's raw pickle
    with pytest.raises(ValueError, match="is not a saved skactive checkpoint"):
        run_experiments(config)


def test_runner_cold_start_on_a_simclr_embedding(tmp_path, monkeypatch):
    monkeypatch.setattr(
        settings, "SIMCLR", dict(n_epochs=2, max_rows=256, temperature=0.2, lr=3e-3)
    )
    picked = []
    real_fit = ActiveLearner.fit

    def recording_fit(self, X, y, **kwargs):
        picked.append((X.copy(), self.query_strategy))
        return real_fit(self, X, y, **kwargs)

    monkeypatch.setattr(ActiveLearner, "fit", recording_fit)
    config = _config(
        tmp_path,
        strategies=("typiclust", "random"),
        seeds=(0,),
        budget=40,
        epochs=2,
        pretrain="simclr",
        initial_strategy="typiclust",
    )
    results = run_experiments(config)
    assert [r["round"] for r in read_results(results)] == [0, 1, 0, 1]
    assert [p.name for p in (tmp_path / "pretrained").iterdir()] == [
        "simclr_digits_lenet5_0_weights.pkl"
    ]  # one pretraining serves both strategies
    (first, typiclust), (second, random) = picked
    # Both runs start from the same rows: TypiClust's picks on the SimCLR embedding.
    np.testing.assert_array_equal(first, second)
    embedding = typiclust.embedding
    X_pool = DATASETS["digits"]()[0]
    expected = TypiClust(embedding=embedding, random_state=0).select(None, X_pool, 20)
    np.testing.assert_array_equal(first, X_pool[expected])
    assert isinstance(embedding, Embedding) and typiclust.candidates is None
    assert "embedding" not in random.get_params()


def test_initial_strategy_and_pretrain_are_validated(tmp_path):
    with pytest.raises(ValueError, match="initial_strategy must be one of"):
        _config(tmp_path, initial_strategy="coreset").validate()
    with pytest.raises(ValueError, match="pretrain must be"):
        _config(tmp_path, pretrain="byol").validate()


def test_a_shared_pretraining_serves_nets_of_another_class(tmp_path, monkeypatch):
    # The weights are shared, not the net: a semi-supervised grid reusing a
    # plain grid's pretraining still trains its LabelPropagationNet.
    monkeypatch.setattr(
        settings, "SIMCLR", dict(n_epochs=1, max_rows=256, temperature=0.2, lr=3e-3)
    )
    monkeypatch.setitem(settings.SEMI_SUPERVISED["label-propagation"], "max_unlabeled", 200)
    common = dict(strategies=("random",), seeds=(0,), budget=40, epochs=2, pretrain="simclr")
    run_experiments(_config(tmp_path / "plain", **common))
    shared = tmp_path / "semi"
    shared.mkdir()
    (shared / "pretrained").symlink_to(tmp_path / "plain" / "pretrained")
    fitted = []
    real_fit = ActiveLearner.fit

    def recording_fit(self, X, y, **kwargs):
        fitted.append(self)
        return real_fit(self, X, y, **kwargs)

    monkeypatch.setattr(ActiveLearner, "fit", recording_fit)
    run_experiments(_config(shared, **common, semi_supervised=True))
    (learner,) = fitted
    assert isinstance(learner.estimator_, LabelPropagationNet)
    weights = dict(learner.estimator_.callbacks)["pretrained_weights"]
    assert len(list((tmp_path / "plain" / "pretrained").iterdir())) == 1  # not pretrained again
    assert weights.history and len(weights.history) == 1


def test_a_killed_runs_half_written_files_are_removed_at_the_next_start(tmp_path, monkeypatch):
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # a writer that is gone
    (tmp_path / "checkpoints").mkdir()
    stale = tmp_path / "checkpoints" / f".run.pkl.{process.pid}.x1.tmp"
    stale.write_bytes(b"x" * 1000)
    monkeypatch.setattr(runner, "_run_one", lambda *args: None)
    run_experiments(_config(tmp_path, strategies=("random",), seeds=(0,)))
    assert not stale.exists()
