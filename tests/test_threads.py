"""Threads while the library works: chosen per call, overridable, always restored."""

import io
import os
import subprocess
import sys
import threading
from typing import ClassVar

import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skorch.callbacks import Callback
from threadpoolctl import threadpool_info

from skactive import ActiveLearner, _threads, config_context, get_config, set_config
from skactive.param_validation import InvalidParameterError
from skactive.strategies import DFAL, EntropySampling

from .conftest import tiny_net


def _blas_threads() -> set:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


class ThreadsSeen(EntropySampling):
    """Entropy sampling that records the thread counts it scored with."""

    def score_rows(self, model, X_chunk):
        type(self).seen.append((torch.get_num_threads(), _blas_threads()))
        return super().score_rows(model, X_chunk)


class ThreadsAtEpoch(Callback):
    seen: ClassVar[list] = []

    def on_epoch_begin(self, net, **kwargs):
        type(self).seen.append(torch.get_num_threads())


@pytest.fixture(scope="module")
def net_and_pool(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    return tiny_net(max_epochs=1).fit(X_init, y_init), X_pool[:200]


@pytest.fixture
def user_threads():
    """The user's own torch setting (2 where the machine has 2 cores), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_n_threads_applies_to_queries_and_is_restored(net_and_pool, user_threads):
    net, X_pool = net_and_pool
    ThreadsSeen.seen = []
    blas_before = _blas_threads()
    with config_context(n_threads=1):
        ThreadsSeen().select(net, X_pool, 3)
    expected = (1, {1} if blas_before else set())
    assert ThreadsSeen.seen and all(seen == expected for seen in ThreadsSeen.seen)
    assert torch.get_num_threads() == user_threads
    assert _blas_threads() == blas_before


def test_n_threads_applies_to_fits_and_is_restored(digits_split, user_threads):
    X_init, y_init, *_ = digits_split
    ThreadsAtEpoch.seen = []
    net = tiny_net(max_epochs=2, callbacks=[("threads", ThreadsAtEpoch())])
    with config_context(n_threads=1):
        ActiveLearner(net, query_strategy=EntropySampling(), random_state=0).fit(X_init, y_init)
    assert ThreadsAtEpoch.seen == [1, 1]
    assert torch.get_num_threads() == user_threads


def test_an_error_inside_restores_the_users_threads(digits_split, user_threads):
    X_init, *_ = digits_split
    with config_context(n_threads=1), pytest.raises(ValueError):
        EntropySampling().select(tiny_net(max_epochs=1).fit(X_init, digits_split[1]), X_init, 0)
    assert torch.get_num_threads() == user_threads


def test_picks_do_not_depend_on_the_thread_count(net_and_pool):
    net, X_pool = net_and_pool
    picks = {}
    for n_threads in (1, 2):
        with config_context(n_threads=n_threads):
            for strategy in (EntropySampling(), DFAL(random_state=0)):
                strategy.select(net, X_pool, 5)
                picks[n_threads, type(strategy).__name__] = (strategy.indices_, strategy.scores_)
    # The same picks; scores agree to float32 rounding (oneDNN splits the
    # work differently, e.g. 2.3e-7 relative on DFAL's perturbation norms).
    for name in ("EntropySampling", "DFAL"):
        assert_array_equal(picks[1, name][0], picks[2, name][0])
        assert_allclose(picks[1, name][1], picks[2, name][1], rtol=1e-5)


def test_concurrent_queries_share_one_setting_and_restore_it(net_and_pool, user_threads):
    net, X_pool = net_and_pool
    ThreadsSeen.seen = []
    errors = []

    def query():
        try:
            with config_context(n_threads=1):
                ThreadsSeen().select(net, X_pool, 3)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=query) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    assert {threads for threads, _ in ThreadsSeen.seen} == {1}
    assert torch.get_num_threads() == user_threads


def _machine(monkeypatch, *readings, last=(99.0, 1000.0, 5.0)):
    """2 cores; the clock at 100 s; the last sample at ``last``; then ``readings``."""
    values = iter(readings)
    monkeypatch.setattr(_threads, "read_cpu_seconds", lambda: next(values))
    monkeypatch.setattr(_threads.time, "monotonic", lambda: 100.0)
    monkeypatch.setattr(_threads.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(_threads.torch, "get_num_threads", lambda: 2)  # the user's setting
    monkeypatch.setitem(_threads._state, "sample", last)
    monkeypatch.setitem(_threads._state, "busy", 0.0)
    set_config(n_threads="auto")  # the suite runs on one thread (conftest), restored after


def test_auto_gives_the_cores_that_others_leave_free(monkeypatch):
    # Over the last second the machine was 1.9 cores busy, none of it ours.
    _machine(monkeypatch, (1001.9, 5.0))
    assert _threads.choose_threads() == 1


def test_auto_does_not_count_the_librarys_own_work(monkeypatch):
    # 1.0 core busy, 0.9 of it this process: 0.1 elsewhere, two threads.
    _machine(monkeypatch, (1001.0, 5.9))
    assert _threads.choose_threads() == 2
    # Within the shortest window the last measurement stands; workers share the cores.
    assert _threads.choose_threads(n_workers=2) == 1
    with config_context(n_threads=1):
        assert _threads.choose_threads() == 1


def test_auto_measures_afresh_when_the_last_sample_is_stale(monkeypatch):
    _machine(monkeypatch, (2000.0, 5.0), (2000.1, 5.0), last=None)
    monkeypatch.setattr(_threads, "_MIN_WINDOW_S", 0.0)
    monotonic = iter([100.0, 100.05])
    monkeypatch.setattr(_threads.time, "monotonic", lambda: next(monotonic))
    assert _threads.busy_elsewhere() == pytest.approx(2.0)  # 0.1 s busy in 0.05 s


def test_auto_without_proc_stat_uses_every_core(monkeypatch):
    monkeypatch.setattr(_threads, "read_cpu_seconds", lambda: None)
    monkeypatch.setitem(_threads._state, "sample", None)
    set_config(n_threads="auto")
    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(_threads.torch, "get_num_threads", lambda: 2)
    assert _threads.busy_elsewhere() == 0.0
    assert _threads.choose_threads() == 2


def test_a_bad_thread_count_is_refused_by_name():
    before = get_config()
    refused = pytest.raises(InvalidParameterError, match="n_threads must be a positive integer")
    with refused, config_context(n_threads=0):
        pass
    assert get_config() == before


@pytest.mark.slow  # a fresh interpreter per value
@pytest.mark.parametrize(
    "value, expected, warns",
    [("1", "1", False), ("auto", "None", False), ("0", "None", True), ("many", "None", True)],
)
def test_the_environment_sets_the_starting_thread_count(value, expected, warns):
    code = "import skactive; print(skactive.get_config()['n_threads'])"
    env = dict(os.environ, SKACTIVE_N_THREADS=value, PYTHONWARNINGS="always")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    assert ("SKACTIVE_N_THREADS must be a positive integer" in done.stderr) == warns


def test_auto_never_exceeds_what_the_user_set_torch_to(monkeypatch):
    _machine(monkeypatch, (1000.0, 5.0))  # an idle machine: 2 cores free
    monkeypatch.setattr(_threads.torch, "get_num_threads", lambda: 1)
    assert _threads.choose_threads() == 1


def test_only_the_cores_this_process_may_use_count_as_busy(monkeypatch):
    # A container pinned to cores 0 and 1 of a host whose core 2 is saturated.
    stat = (
        "cpu  1300 0 0 500 0 0 0 0 0 0\n"
        "cpu0 100 0 0 200 0 0 0 0 0 0\n"
        "cpu1 50 0 0 250 7 0 0 0 0 0\n"
        "cpu2 1150 0 0 50 0 0 0 0 0 0\n"
        "intr 12345\n"
    )
    monkeypatch.setattr(_threads, "open", lambda path: io.StringIO(stat), raising=False)
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: {0, 1})
    ticks = _threads.os.sysconf("SC_CLK_TCK")
    busy, _ = _threads.read_cpu_seconds()
    assert busy == pytest.approx(150 / ticks)


def test_a_meta_strategys_own_work_runs_on_the_librarys_threads(
    net_and_pool, digits_split, user_threads
):
    from skactive.base import MetaStrategy

    class Recording(MetaStrategy):
        """Records the threads its own select runs on, then lets entropy choose."""

        seen: ClassVar[list] = []

        def select(self, estimator, X_pool, n, *, X_labeled=None, y_labeled=None):
            type(self).seen.append(torch.get_num_threads())
            inner = EntropySampling()
            picked = inner.select(estimator, X_pool, n)
            self.take_over(inner, indices=picked, extras=inner.extras_)
            return picked.copy()

    _, X_pool = net_and_pool
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=1), query_strategy=Recording(), random_state=0)
    with config_context(n_threads=1):
        learner.fit(X_init, y_init)
        learner.query(X_pool, n=2)
    assert Recording.seen == [1] and torch.get_num_threads() == user_threads
