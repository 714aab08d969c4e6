import csv

import numpy as np
import pytest

from skactive import ActiveLearner, simulation
from skactive.__main__ import main
from skactive.datasets import DATASETS
from skactive.simulation import compare_strategies, format_table, plot_learning_curves, simulate
from skactive.strategies import EntropySampling, RandomSampling, TypiClust

from .conftest import tiny_net


def test_simulate_end_to_end_with_cnn(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    learner = ActiveLearner(
        tiny_net(max_epochs=15, batch_size=16), EntropySampling(), random_state=0
    )
    records = simulate(
        learner,
        X_init,
        y_init,
        X_pool,
        y_pool,
        X_test,
        y_test,
        n_rounds=3,
        query_size=20,
        progress=False,
    )
    assert [r["n_labeled"] for r in records] == [40, 60, 80, 100]
    # The last record describes the learner as it ends, not an earlier model.
    assert records[-1]["accuracy"] == learner.score(X_test, y_test)
    assert records[-1]["accuracy"] > 0.3  # far above chance (0.1) after 100 labels
    assert all(r["select_seconds"] >= 0 for r in records)
    assert len(np.unique(learner.X_labeled_.reshape(100, -1), axis=0)) == 100


def test_compare_table_and_plot(digits_split, tmp_path):
    _X_init, _y_init, X_pool, y_pool, X_test, y_test = digits_split
    records = compare_strategies(
        tiny_net(max_epochs=2),
        {"random": RandomSampling(), "entropy": EntropySampling()},
        X_pool[:300],
        y_pool[:300],
        X_test,
        y_test,
        n_initial=20,
        n_rounds=2,
        query_size=10,
        seeds=(0, 1),
        progress=False,
    )
    assert len(records) == 2 * 2 * 3
    table = format_table(records)
    assert "random" in table and "entropy" in table and "±" in table
    assert len(table.splitlines()) == 2 + 3
    png = plot_learning_curves(records, tmp_path / "curves.png", title="digits / lenet5")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line(tmp_path, capsys):
    code = main(
        [
            "--strategies",
            "random,margin",
            "--initial",
            "20",
            "--query-size",
            "10",
            "--budget",
            "40",
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--no-progress",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "labels" in out and "margin" in out
    assert (tmp_path / "digits_lenet5_learning_curves.png").is_file()
    with (tmp_path / "digits_lenet5_rounds.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["strategy"] for r in rows} == {"random", "margin"}
    assert len(rows) == 2 * 3


@pytest.mark.slow
def test_simulate_records_robust_accuracy_and_feeds_a_semi_supervised_learner(digits_split):
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import SelfTrainingClassifier

    from skactive.metrics import robust_accuracy_scorer

    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=3), RandomSampling(), random_state=0)
    scoring = {
        "robust_0": robust_accuracy_scorer(eps=0.0),
        "robust": robust_accuracy_scorer(eps=0.1),
    }
    records = simulate(
        learner, X_init, y_init, X_pool, y_pool, X_test, y_test,
        n_rounds=1, query_size=10, progress=False, scoring=scoring,
    )  # fmt: skip
    for r in records:
        assert r["robust_0"] == r["accuracy"]  # eps 0: the clean rows
        assert r["robust"] <= r["accuracy"]
    flat = [a.reshape(len(a), -1) for a in (X_init, X_pool, X_test)]
    semi = ActiveLearner(
        SelfTrainingClassifier(LogisticRegression(max_iter=300)), semi_supervised=True
    )
    simulate(
        semi, flat[0], y_init, flat[1], y_pool, flat[2], y_test,
        n_rounds=1, query_size=10, progress=False,
    )  # fmt: skip
    assert len(semi.estimator_.transduction_) == len(X_init) + len(X_pool)


def test_command_line_cold_start_on_simclr(tmp_path, capsys, monkeypatch):
    from skactive import experiments

    monkeypatch.setattr(
        experiments, "SIMCLR", dict(n_epochs=1, max_rows=256, temperature=0.2, lr=3e-3)
    )
    starts = []
    real = simulation.simulate

    def recording(learner, X_init, *args, **kwargs):
        starts.append((np.asarray(X_init).copy(), learner.query_strategy))
        return real(learner, X_init, *args, **kwargs)

    monkeypatch.setattr(simulation, "simulate", recording)
    argv = "--strategies typiclust,random --initial 20 --query-size 10 --budget 30 --epochs 1"
    argv += " --seeds 1 --no-progress --pretrain simclr --initial-strategy typiclust"
    assert main([*argv.split(), "--output-dir", str(tmp_path)]) == 0
    (first, typiclust), (second, _) = starts
    np.testing.assert_array_equal(first, second)  # one initial set for every strategy
    embedding = typiclust.embedding
    X_pool = DATASETS["digits"]()[0]
    chosen = TypiClust(embedding=embedding, random_state=0).select(None, X_pool, 20)
    np.testing.assert_array_equal(first, X_pool[chosen])
