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
    from skactive.experiments import settings

    monkeypatch.setattr(
        settings, "SIMCLR", dict(n_epochs=1, max_rows=256, temperature=0.2, lr=3e-3)
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


def _blob_campaign(n=240, seed=0):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.normal(c, 1.0, size=(n // 3, 4)) for c in (-3, 0, 3)])
    y = np.repeat(np.arange(3), n // 3)
    order = rng.permutation(n)
    X, y = X[order], y[order]
    return X[:12], y[:12], X[12:180], y[12:180], X[180:], y[180:]


def _linear_learner():
    from sklearn.linear_model import LogisticRegression

    return ActiveLearner(
        LogisticRegression(max_iter=500), EntropySampling(), classes=[0, 1, 2], random_state=0
    )


def test_callbacks_see_every_round_in_order_with_its_record():
    from skactive.stopping import StabilizingPredictions

    X_init, y_init, X_pool, y_pool, X_test, y_test = _blob_campaign()
    seen = []
    records = simulate(
        _linear_learner(),
        X_init,
        y_init,
        X_pool,
        y_pool,
        X_test,
        y_test,
        n_rounds=4,
        query_size=10,
        progress=False,
        stopping={"a": StabilizingPredictions(window=1), "b": StabilizingPredictions()},
        stop_early=False,
        callbacks=[lambda state, record: seen.append((state, dict(record)))],
    )
    assert [state.round for state, _ in seen] == [0, 1, 2, 3, 4]
    assert [record for _, record in seen] == records
    assert [len(state.remaining) for state, _ in seen] == [168, 158, 148, 138, 128]
    final = seen[-1][0]
    assert set(final.criteria) == {"a", "b"} and len(final.criteria["a"].history_) == 4
    # "stop" is whether any criterion said stop.
    for i, record in enumerate(records[1:]):
        verdicts = [c.history_[i]["stop"] for c in final.criteria.values()]
        assert record["stop"] == any(verdicts)


def test_a_campaign_resumed_from_a_saved_state_ends_as_the_uninterrupted_one():
    import pickle

    from skactive.stopping import StabilizingPredictions

    X_init, y_init, X_pool, y_pool, X_test, y_test = _blob_campaign()
    common = dict(n_rounds=5, query_size=10, progress=False, stop_early=False)
    saved = {}

    def checkpoint(state, record):
        saved[state.round] = pickle.dumps(state)

    stopping = StabilizingPredictions(window=1)
    whole = simulate(
        _linear_learner(), X_init, y_init, X_pool, y_pool, X_test, y_test,
        stopping=stopping, callbacks=[checkpoint], **common,
    )  # fmt: skip
    state = pickle.loads(saved[2])
    rest = simulate(state, None, None, X_pool, y_pool, X_test, y_test, **common)
    assert [r["round"] for r in rest] == [3, 4, 5]
    for key in ("n_labeled", "accuracy", "n_training_rows", "stop"):
        assert [r[key] for r in rest] == [r[key] for r in whole[3:]], key
    np.testing.assert_array_equal(
        state.learner.X_labeled_, pickle.loads(saved[5]).learner.X_labeled_
    )
    assert not hasattr(stopping, "history_")  # the criterion passed stays as it was
    with pytest.raises(ValueError, match="X_init, y_init: a campaign resumed"):
        simulate(pickle.loads(saved[2]), X_init, y_init, X_pool, y_pool, X_test, y_test, **common)


def test_compare_strategies_takes_one_estimator_per_strategy():
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    _, _, X_pool, y_pool, X_test, y_test = _blob_campaign()
    strategies = {"random": RandomSampling(), "entropy": EntropySampling()}
    common = dict(n_initial=10, n_rounds=1, query_size=5, progress=False)
    estimators = {"random": GaussianNB(), "entropy": LogisticRegression()}
    records = compare_strategies(estimators, strategies, X_pool, y_pool, X_test, y_test, **common)
    assert len(records) == 4
    with pytest.raises(ValueError, match=r"estimator: a mapping needs .*\['random'\]"):
        compare_strategies(
            {"entropy": GaussianNB()}, strategies, X_pool, y_pool, X_test, y_test, **common
        )


def test_a_campaign_learner_declares_every_pool_class_and_its_seed():
    from sklearn.linear_model import LogisticRegression

    from skactive.simulation import campaign_learner
    from skactive.strategies import MarginSampling

    y_pool = np.array([2, 0, 2, 7])
    learner = campaign_learner(
        LogisticRegression(), MarginSampling(), y_pool, 5, semi_supervised=True
    )
    assert learner.classes.tolist() == [0, 2, 7]
    assert (learner.random_state, learner.semi_supervised) == (5, True)
    learner.fit(np.eye(4)[:2], np.array([0, 2]))  # an initial set without class 7
    assert learner.classes_.tolist() == [0, 2, 7]
