"""Stopping criteria: known answers on stub learners whose outputs are scripted."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from skactive import ActiveLearner
from skactive.simulation import simulate
from skactive.stopping import (
    AllOf,
    AnyOf,
    ConfidenceOnStopSet,
    MaxUncertainty,
    OverallUncertainty,
    StabilizingPredictions,
)


class ScriptedLearner(BaseEstimator):
    """Looks fitted; round ``r`` predicts ``probas[r]`` and holds ``10 * (r + 1)`` labels."""

    row_shape_ = (1,)

    def __init__(self, probas=None):
        self.probas = probas
        self.round = 0

    def __sklearn_is_fitted__(self):
        return True

    def fit(self, X, y):  # pragma: no cover - never called
        return self

    @property
    def y_labeled_(self):
        return np.zeros(10 * (self.round + 1))

    def predict_proba(self, X):
        return np.asarray(self.probas[self.round], dtype=float)[: len(X)]

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


def _run(criterion, learner, n_rounds, X):
    stops = []
    for r in range(n_rounds):
        learner.round = r
        stops.append(criterion.update(learner, X))
    return stops


def _sharpening(n_rounds, n_rows=6, n_classes=3):
    """Probabilities that grow more confident every round (temperature 2 / (r + 1))."""
    logits = np.random.RandomState(0).randn(n_rows, n_classes)
    out = []
    for r in range(n_rounds):
        z = logits * (r + 1) / 2.0
        p = np.exp(z - z.max(axis=1, keepdims=True))
        out.append(p / p.sum(axis=1, keepdims=True))
    return out


def _entropy(p):
    return -(p * np.log(p)).sum(axis=1)


def test_identical_successive_models_stop_after_the_window():
    proba = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    learner = ScriptedLearner([proba] * 6)
    criterion = StabilizingPredictions(window=3, threshold=0.99)
    stops = _run(criterion, learner, 6, np.zeros((6, 1)))
    # update 1 has nothing to compare with; updates 2-4 give three kappas of 1
    assert stops == [False, False, False, True, True, True]
    assert criterion.stop_n_labeled_ == 40 and np.isnan(criterion.history_[0]["value"])


def test_changing_predictions_do_not_stop():
    probas = [np.eye(3)[np.roll([0, 1, 2, 0, 1, 2], r)] for r in range(5)]
    criterion = StabilizingPredictions(window=2, threshold=0.9)
    assert not any(_run(criterion, ScriptedLearner(probas), 5, np.zeros((6, 1))))
    assert all(h["value"] < 0.9 for h in criterion.history_[1:])


@pytest.mark.parametrize(
    "criterion_cls, reduce", [(MaxUncertainty, np.max), (OverallUncertainty, np.mean)]
)
def test_a_net_growing_confident_stops_at_the_right_round(criterion_cls, reduce):
    probas = _sharpening(8)
    values = [reduce(_entropy(p)) for p in probas]
    threshold = (values[4] + values[5]) / 2  # crossed between rounds 4 and 5
    criterion = criterion_cls(threshold=threshold)
    stops = _run(criterion, ScriptedLearner(probas), 8, np.zeros((6, 1)))
    assert stops.index(True) == 5 and all(stops[5:])
    np.testing.assert_allclose([h["value"] for h in criterion.history_], values)


def test_confidence_on_stop_set_stops_after_consecutive_drops():
    confidences = [0.6, 0.7, 0.65, 0.72, 0.7, 0.66]
    probas = [np.tile([c, 1 - c], (4, 1)) for c in confidences]
    criterion = ConfidenceOnStopSet(patience=2)
    stops = _run(criterion, ScriptedLearner(probas), 6, np.zeros((4, 1)))
    assert stops == [False, False, False, False, False, True]


def test_combinations():
    probas = _sharpening(6)
    loose, strict = MaxUncertainty(threshold=10.0), MaxUncertainty(threshold=0.0)
    assert all(_run(AnyOf([loose, strict]), ScriptedLearner(probas), 3, np.zeros((6, 1))))
    combined = AllOf([loose, strict])
    assert not any(_run(combined, ScriptedLearner(probas), 3, np.zeros((6, 1))))
    assert not hasattr(loose, "history_")  # the templates stay unfitted; clones keep histories
    assert [len(c.history_) for c in combined.criteria_] == [3, 3]


def test_with_a_real_learner(digits):
    X, y = digits
    flat = X.reshape(len(X), -1)
    learner = ActiveLearner(LogisticRegression(max_iter=500), random_state=0).fit(flat[:60], y[:60])
    criterion = StabilizingPredictions(window=1, threshold=0.5)
    for _ in range(3):
        idx = learner.query(flat[60:600], 20)
        learner.teach(flat[60:600][idx], y[60:600][idx])
        criterion.update(learner, flat[1000:1300])
    assert len(criterion.history_) == 3 and criterion.history_[-1]["value"] > 0.5


@pytest.mark.parametrize(
    "criterion, message",
    [
        (StabilizingPredictions(window=0), "window must be a positive integer"),
        (
            StabilizingPredictions(threshold=1.5),
            r"threshold must be a number in \[-1, 1\], got 1.5",
        ),
        (MaxUncertainty(threshold=-0.1), "threshold must be a non-negative number, got -0.1"),
        (MaxUncertainty(threshold=np.inf), "threshold must be a non-negative number, got inf"),
        (OverallUncertainty(measure="nope"), "measure must be one of"),
        (ConfidenceOnStopSet(patience=0), "patience must be a positive integer"),
        (AnyOf([]), "criteria must be a non-empty list"),
    ],
)
def test_bad_parameters(criterion, message):
    with pytest.raises(ValueError, match=message):
        criterion.update(ScriptedLearner([np.eye(2)]), np.zeros((2, 1)))


def test_bad_stop_sets_and_unfitted_learners(digits):
    criterion = StabilizingPredictions()
    with pytest.raises(ValueError, match=r"X has rows of shape \(2,\)"):
        criterion.update(ScriptedLearner([np.eye(2)]), np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        criterion.update(ActiveLearner(LogisticRegression()), np.zeros((2, 1)))
    learner = ScriptedLearner([np.eye(2)[[0, 1, 0]]] * 2)
    criterion.update(learner, np.zeros((3, 1)))
    with pytest.raises(ValueError, match="needs the same stop set every round"):
        criterion.update(learner, np.zeros((2, 1)))


def test_simulate_stops_and_the_command_line_reports(digits, tmp_path, capsys):
    from skactive.__main__ import main
    from skactive.simulation import simulate, stopping_summary

    X, y = digits
    flat = X.reshape(len(X), -1)
    learner = ActiveLearner(LogisticRegression(max_iter=300), random_state=0)
    splits = (flat[:50], y[:50], flat[50:900], y[50:900], flat[900:], y[900:])

    def campaign(n_rounds, **stopping):
        # Entropy is never above 10 nats: the criterion says stop at once.
        always = MaxUncertainty(threshold=10.0)
        return simulate(
            learner,
            *splits,
            n_rounds=n_rounds,
            query_size=10,
            progress=False,
            stopping=always,
            **stopping,
        )

    records = campaign(5)
    assert len(records) == 2 and records[-1]["stop"]
    records = campaign(3, stop_early=False)
    summary = stopping_summary([{"strategy": "s", "seed": 0, **r} for r in records])
    assert summary[0]["stop_n_labeled"] == 60 and summary[0]["final_n_labeled"] == 80
    code = main(
        [
            "--strategies",
            "random",
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
            "--stop",
            "stabilizing",
            "--no-progress",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert "stopping (stabilizing): labels at the stop" in capsys.readouterr().out


def test_simulate_starts_every_campaign_with_a_fresh_criterion(digits):
    # One criterion object for two campaigns: the second must not inherit the
    # first's kappas (it would stop after one round) nor its stop_n_labeled_.
    X, y = digits
    flat = X.reshape(len(X), -1)
    splits = (flat[:50], y[:50], flat[50:900], y[50:900], flat[900:], y[900:])
    criterion = StabilizingPredictions(window=2, threshold=-1.0)

    def campaign():
        learner = ActiveLearner(LogisticRegression(max_iter=300), random_state=0)
        return simulate(
            learner, *splits, n_rounds=5, query_size=10, progress=False, stopping=criterion
        )

    first, second = campaign(), campaign()
    # Round 1 has no previous model, rounds 2 and 3 fill the window: stop at round 3.
    assert [r["stop"] for r in first[1:]] == [False, False, True]
    assert [r["stop"] for r in second[1:]] == [r["stop"] for r in first[1:]]
    assert not hasattr(criterion, "history_") and not hasattr(criterion, "stop_n_labeled_")


class _FailsOnSecondUpdate(MaxUncertainty):
    def _evaluate(self, learner, X):
        if len(getattr(self, "history_", [])) == 1:
            raise RuntimeError("the model server went away")
        return super()._evaluate(learner, X)


@pytest.mark.parametrize("combination", [AnyOf, AllOf])
def test_a_failed_update_leaves_every_member_in_step(combination):
    learner = ScriptedLearner([np.eye(2)] * 4)
    criterion = combination([StabilizingPredictions(window=1), _FailsOnSecondUpdate()])
    criterion.update(learner, np.zeros((2, 1)))
    with pytest.raises(RuntimeError, match="went away"):
        criterion.update(learner, np.zeros((2, 1)))
    assert [len(member.history_) for member in criterion.criteria_] == [1, 1]
    assert len(criterion.history_) == 1
