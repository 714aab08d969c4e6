"""Settings read when a query runs: progress bars, and scikit-learn's assume_finite."""

import threading

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_array_equal

from skactive import config_context, get_config, set_config
from skactive.param_validation import InvalidParameterError
from skactive.strategies import DFAL, EntropySampling

from .conftest import tiny_net


@pytest.fixture(scope="module")
def net_and_pool(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    return tiny_net(max_epochs=1).fit(X_init, y_init), X_pool[:300]


def test_context_applies_and_restores_even_after_an_error():
    assert get_config()["show_progress"] is False
    with pytest.raises(RuntimeError), config_context(show_progress=True):
        assert get_config()["show_progress"] is True
        raise RuntimeError
    assert get_config()["show_progress"] is False


def test_none_keeps_a_setting_and_set_config_persists():
    try:
        set_config(show_progress=True)
        with config_context(show_progress=None):
            assert get_config()["show_progress"] is True
        assert get_config()["show_progress"] is True
    finally:
        set_config(show_progress=False)


def test_settings_are_per_thread():
    seen = {}
    with config_context(show_progress=True):
        worker = threading.Thread(target=lambda: seen.update(get_config()))
        worker.start()
        worker.join()
        assert get_config()["show_progress"] is True
    assert seen["show_progress"] is False


def test_a_bad_value_is_refused_by_name_and_changes_nothing():
    with pytest.raises(InvalidParameterError, match="show_progress must be True or False"):
        set_config(show_progress="yes")
    assert get_config()["show_progress"] is False


def test_get_config_returns_a_copy():
    get_config()["show_progress"] = True
    assert get_config()["show_progress"] is False


@pytest.mark.parametrize(
    ("strategy", "label"),
    [
        (EntropySampling(batch_size=64), "EntropySampling scoring"),
        (DFAL(batch_size=64, shortlist=2), "DFAL screen"),
    ],
)
def test_progress_bar_counts_every_row_only_when_asked(net_and_pool, capsys, strategy, label):
    net, pool = net_and_pool
    quiet = strategy.select(net, pool, 5)
    assert capsys.readouterr().err == ""
    with config_context(show_progress=True):
        shown = strategy.select(net, pool, 5)
    err = capsys.readouterr().err
    assert label in err and "300/300" in err
    assert_array_equal(shown, quiet)


def test_sklearn_assume_finite_skips_the_nan_check(net_and_pool):
    net, pool = net_and_pool
    bad = pool.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"X_pool contains NaN or infinity \(first at row 3\)"):
        EntropySampling().select(net, bad, 2)
    with sklearn.config_context(assume_finite=True):
        picked = EntropySampling().select(net, bad, 2)
    assert len(picked) == 2
