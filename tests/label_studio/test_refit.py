"""A refit runs off the backend's lock: answers are acknowledged and saved while it trains."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from .conftest import EXTRA_MISSING, annotation, task

pytest.importorskip("flask", reason=EXTRA_MISSING)
pytest.importorskip("PIL", reason=EXTRA_MISSING)

from skactive import ActiveLearner
from skactive.label_studio import load_backend

#: Seconds a test waits for a thread that should be done at once.
PROMPT = 10.0


@pytest.fixture
def pool(digits_split):
    _, _, X_pool, y_pool, *_ = digits_split
    return X_pool[:10], y_pool[:10]


@pytest.fixture
def held_refit(monkeypatch):
    """Every refit waits in its fit until ``release`` is set; ``started`` says it is there."""
    started, release = threading.Event(), threading.Event()
    real = ActiveLearner.refit

    def refit(self):
        started.set()
        assert release.wait(PROMPT), "the test never released the refit"
        return real(self)

    monkeypatch.setattr(ActiveLearner, "refit", refit)
    return started, release


def _in_thread(call):
    """Start ``call`` in a thread; return the thread and a list that receives its result."""
    out = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def test_an_answer_is_acknowledged_and_saved_while_a_refit_trains(backend, pool, held_refit):
    X, y = pool
    started, release = held_refit
    backend.teach_annotation(task(100, X[0]), annotation(1, 100, y[0]))
    version = backend.model_version
    refit, refitted = _in_thread(backend.refit)
    assert started.wait(PROMPT)
    # The refit is inside its fit: an answer and a prediction go through now.
    answer, outcome = _in_thread(
        lambda: backend.teach_annotation(task(101, X[1]), annotation(2, 101, y[1]))
    )
    answer.join(PROMPT)
    assert not answer.is_alive(), "the answer waited for the refit"
    assert outcome == ["taught"]
    predict, predictions = _in_thread(lambda: backend.predict([task(102, X[2])]))
    predict.join(PROMPT)
    assert not predict.is_alive() and predictions[0][0]["model_version"] == version
    saved = load_backend(backend.path, background_refit=False)
    assert set(saved.ledger) == {100, 101}  # acknowledged means saved
    saved.close()
    release.set()
    refit.join(PROMPT)
    assert refitted and backend.model_version != version
    # The new model serves the campaign as it stands: both answers, one still due.
    assert backend.learner.keys_.tolist()[-2:] == [100, 101]
    assert backend.n_trained == len(backend.learner.y_labeled_) - 1
    assert backend.refit_due
    backend.refit()
    assert not backend.refit_due and backend.n_trained == len(backend.learner.y_labeled_)


def test_the_adopted_model_is_the_refitted_one_and_the_labels_are_the_current_ones(
    backend, pool, held_refit
):
    X, y = pool
    started, release = held_refit
    backend.teach_annotation(task(100, X[0]), annotation(1, 100, y[0]))
    refit, _ = _in_thread(backend.refit)
    assert started.wait(PROMPT)
    snapshot_rows = len(backend.learner.y_labeled_)
    backend.teach_annotation(task(101, X[1]), annotation(2, 101, y[1]))
    backend.forget_task(100)  # a withdrawal during the refit stays withdrawn
    current = backend.learner
    release.set()
    refit.join(PROMPT)
    served = backend.learner
    assert served.keys_.tolist()[-1] == 101 and 100 not in served.keys_.tolist()
    assert_array_equal(served.X_labeled_, current.X_labeled_)
    assert served.estimator_ is not current.estimator_
    # The model was trained on the snapshot: the labelled rows it had, not the later ones.
    assert len(served.estimator_.history) > 0
    assert backend.n_trained == snapshot_rows
    expected = served.estimator_.predict_proba(X[:5])
    assert_array_equal(served.predict_proba(X[:5]), expected)


def test_refits_run_one_at_a_time_and_each_commits(backend, pool, held_refit):
    X, y = pool
    started, release = held_refit
    backend.teach_annotation(task(100, X[0]), annotation(1, 100, y[0]))
    version = backend.version
    first, _ = _in_thread(backend.refit)
    assert started.wait(PROMPT)
    started.clear()
    second, _ = _in_thread(backend.refit_if_due)
    assert not started.wait(0.5), "a second refit started beside the first"
    release.set()
    first.join(PROMPT)
    second.join(PROMPT)
    assert not first.is_alive() and not second.is_alive()
    # The second found nothing due once the first had committed: one new version.
    assert backend.version == version + 1 and not backend.refit_due


def test_a_failed_refit_keeps_the_previous_model_and_the_answers(backend, pool, monkeypatch):
    X, y = pool
    backend.teach_annotation(task(100, X[0]), annotation(1, 100, y[0]))
    before = backend.learner

    def broken(self):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(ActiveLearner, "refit", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        backend.refit()
    assert backend.learner is before and backend.refit_due
    assert np.isin(100, backend.learner.keys_)


def test_warm_refits_continue_for_warm_epochs_and_every_k_changes_one_is_fresh(backend, pool):
    X, y = pool
    backend.configure(full_refit_every=3, warm_epochs=1)
    epochs = len(backend.learner.estimator_.history)  # the initial, fresh fit
    backend.teach_annotation(task(100, X[0]), annotation(1, 100, y[0]))
    backend.refit()
    assert len(backend.learner.estimator_.history) == epochs + 1  # warm: one more epoch
    for i in (1, 2):
        backend.teach_annotation(task(100 + i, X[i]), annotation(1 + i, 100 + i, y[i]))
    backend.refit()  # 3 changes since the last fresh model: a fresh one
    assert len(backend.learner.estimator_.history) == epochs
    assert backend.state.fresh_changes == 3
    backend.teach_annotation(task(103, X[3]), annotation(4, 103, y[3]))
    backend.refit()
    assert len(backend.learner.estimator_.history) == epochs + 1
    # The learner keeps its own settings; the schedule is the backend's, and it is saved.
    assert (backend.learner.warm_start, backend.learner.warm_epochs) == (False, None)
    saved = load_backend(backend.path, background_refit=False)
    assert (saved.full_refit_every, saved.warm_epochs, saved.state.fresh_changes) == (3, 1, 3)
    saved.close()
    with pytest.raises(ValueError, match="full_refit_every"):
        backend.configure(full_refit_every=0)


def test_without_a_schedule_every_refit_is_as_the_learner_is_set(backend, pool):
    X, y = pool
    epochs = len(backend.learner.estimator_.history)
    for i in range(2):
        backend.teach_annotation(task(100 + i, X[i]), annotation(1 + i, 100 + i, y[i]))
        backend.refit()
        assert len(backend.learner.estimator_.history) == epochs  # fresh each time
