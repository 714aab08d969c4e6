"""Shared fixtures: small data, tiny nets, fixed seeds."""

from __future__ import annotations

import contextlib
import os
import pickle

# Before skactive is imported: its default thread count, in every thread and
# subprocess of the suite, is one, not "auto" (which follows the machine's
# load, and results' last bits depend on the thread count). Module-scoped
# fixtures are built before the per-test setting below applies.
os.environ.setdefault("SKACTIVE_N_THREADS", "1")

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from skactive import Committee, get_config, set_config
from skactive.datasets import load_digits_images
from skactive.models import make_net


@pytest.fixture(autouse=True)
def _fixed_seeds():
    np.random.seed(0)
    torch.manual_seed(0)
    # One thread in and out of the library's calls: results' last bits depend
    # on the thread count, which "auto" would take from the machine's load,
    # and one thread is the fast choice on a busy machine (bench_threads.py).
    torch.set_num_threads(1)
    with set_config_restored():
        yield


@contextlib.contextmanager
def set_config_restored():
    """``n_threads=1`` for the test; the test may change settings, they go back after."""
    before = get_config()
    set_config(n_threads=1)
    try:
        yield
    finally:
        set_config(show_progress=before["show_progress"], n_threads=before["n_threads"] or "auto")


@pytest.fixture(scope="session")
def digits():
    """Digits images (1, 8, 8) float32 and labels."""
    return load_digits_images()


@pytest.fixture(scope="session")
def digits_split(digits):
    """(X_init, y_init, X_pool, y_pool, X_test, y_test) with every class in X_init."""
    X, y = digits
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    init = np.concatenate([order[y[order] == k][:4] for k in range(10)])
    rest = np.setdiff1d(order, init)
    pool, test = rest[:900], rest[900:]
    return X[init], y[init], X[pool], y[pool], X[test], y[test]


def tiny_net(**kwargs):
    """LeNet5 for 8x8 digits, trained briefly."""
    params = dict(image_size=8, max_epochs=8, lr=3e-3, batch_size=32)
    params.update(kwargs)
    return make_net("lenet5", **params)


@pytest.fixture
def net_factory():
    return tiny_net


class FixedProba(ClassifierMixin, BaseEstimator):
    """Returns hand-written probabilities: row ``i`` of X is ``[i, ...]``.

    Lets strategy tests check known answers without training anything.
    """

    def __init__(self, proba=None):
        self.proba = proba

    def fit(self, X, y):
        self.classes_ = np.arange(np.asarray(self.proba).shape[1])
        return self

    def predict_proba(self, X):
        return np.asarray(self.proba, dtype=float)[np.asarray(X)[:, 0].astype(int)]

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


def fixed_proba(proba):
    """A fitted :class:`FixedProba` and its matching pool (row ids)."""
    proba = np.asarray(proba, dtype=float)
    est = FixedProba(proba).fit(None, None)
    pool = np.arange(len(proba), dtype=float).reshape(-1, 1)
    return est, pool


def snapshot(obj) -> bytes:
    """Bytes of the whole object, to assert nothing changed."""
    return pickle.dumps(obj)


class NoInverse(TransformerMixin, BaseEstimator):
    """A stateless transformer (doubles its input) without inverse_transform."""

    def __sklearn_is_fitted__(self):
        return True

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X * 2.0


@pytest.fixture(scope="module")
def net(digits_split):
    """A LeNet5 trained briefly on the digits' initial set (modules may shadow it)."""
    X_init, y_init, *_ = digits_split
    return tiny_net(max_epochs=3).fit(X_init, y_init)


@pytest.fixture(scope="module")
def flat_digits(digits):
    """The digits as flat feature rows, for scikit-learn classifiers."""
    X, y = digits
    return X.reshape(len(X), -1), y


@pytest.fixture(scope="module")
def trained(digits_split):
    """A LeNet5 trained on the initial set and pool, with 150 test rows to attack."""
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    net = tiny_net(max_epochs=15).fit(
        np.concatenate([X_init, X_pool]), np.concatenate([y_init, y_pool])
    )
    return net, X_test[:150], y_test[:150]


@pytest.fixture(scope="module")
def committee(digits_split):
    """A fitted Committee of tiny nets on the digits' initial set."""
    X_init, y_init, *_ = digits_split
    return Committee(tiny_net(max_epochs=3), n_members=3, random_state=0).fit(X_init, y_init)
