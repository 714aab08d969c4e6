"""Scoring through joblib and on a real Dask cluster gives identical selections."""

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skactive.strategies import BALD, DFAL, EGL, EntropySampling

from .conftest import tiny_net

STRATEGIES = {
    "entropy": lambda **kw: EntropySampling(batch_size=64, **kw),
    "dfal": lambda **kw: DFAL(batch_size=64, **kw),
    "bald": lambda **kw: BALD(n_samples=3, batch_size=64, **kw),
    "egl": lambda **kw: EGL(parameters="last_layer", batch_size=64, **kw),
}


@pytest.fixture(scope="module")
def net_and_pool(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    return tiny_net(max_epochs=2).fit(X_init, y_init), X_pool[:300]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_n_jobs_equals_sequential(net_and_pool, name):
    net, pool = net_and_pool
    sequential = STRATEGIES[name](random_state=0)
    parallel = STRATEGIES[name](random_state=0, n_jobs=2)
    assert_array_equal(parallel.select(net, pool, 10), sequential.select(net, pool, 10))
    assert_allclose(parallel.scores_, sequential.scores_, rtol=1e-5)


def test_threading_backend_is_safe(net_and_pool):
    net, pool = net_and_pool
    net.module_.train()  # skorch leaves nets in train mode: workers must not flip it
    expected = BALD(n_samples=3, batch_size=64, random_state=1)
    expected.select(net, pool, 5)
    with joblib.parallel_backend("threading", n_jobs=2):
        threaded = BALD(n_samples=3, batch_size=64, random_state=1)
        threaded.select(net, pool, 5)
    assert_allclose(threaded.scores_, expected.scores_, rtol=1e-6)
    assert net.module_.training


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_selections(net_and_pool):
    distributed = pytest.importorskip("distributed")
    net, pool = net_and_pool
    expected = {
        name: make(random_state=0).select(net, pool, 10) for name, make in STRATEGIES.items()
    }
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        for name, make in STRATEGIES.items():
            assert_array_equal(make(random_state=0).select(net, pool, 10), expected[name])
    assert np.all(net.predict(pool[:5]) >= 0)  # the local net is still usable
