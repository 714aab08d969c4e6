"""The one embedding helper and the probability function strategies score with."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skactive import _torch
from skactive._chunking import RowView
from skactive._inference import embed_rows, unit_rows
from tests.conftest import tiny_net


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return tiny_net(max_epochs=2).fit(X[:200], y[:200]), X[:1500]


def test_a_net_is_embedded_at_the_input_of_its_last_linear_layer(fitted):
    net, X = fitted
    points = embed_rows(net, X)
    last = _torch.find_layer(net.module_, None)
    assert points.dtype == np.float64 and points.shape == (len(X), last.in_features)
    expected = _torch.embed(_torch.find_network(net), X, batch_size=len(X))
    np.testing.assert_allclose(points, expected, rtol=1e-5, atol=1e-6)


def test_the_net_is_found_inside_a_pipeline_and_chunks_do_not_change_the_points(fitted):
    net, X = fitted
    pipeline = make_pipeline(FunctionTransformer(), net)
    direct = embed_rows(net, X, batch_size=7)
    np.testing.assert_allclose(embed_rows(pipeline, X), direct, rtol=1e-5, atol=1e-6)


def test_a_row_view_of_a_memmap_reads_the_same_rows(fitted, tmp_path):
    net, X = fitted
    stored = np.lib.format.open_memmap(tmp_path / "pool.npy", "w+", X.dtype, X.shape)
    stored[:] = X
    rows = np.arange(len(X))[::-3]
    np.testing.assert_allclose(
        embed_rows(net, RowView(stored, rows)), embed_rows(net, X[rows]), rtol=1e-5, atol=1e-6
    )


def test_a_callable_embedding_is_called_and_its_shape_checked():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.testing.assert_array_equal(embed_rows(lambda rows: rows * 2, X), X * 2.0)
    with pytest.raises(ValueError, match="embedding returned shape"):
        embed_rows(lambda rows: rows[:, 0], X)


def test_an_estimator_without_a_net_gives_the_flattened_rows():
    X = np.random.RandomState(0).rand(10, 2, 3)
    model = LogisticRegression().fit(X.reshape(10, -1), np.arange(10) % 2)
    np.testing.assert_array_equal(embed_rows(model, X), X.reshape(10, -1))
    with pytest.raises(ValueError, match="layer='conv' names a submodule"):
        embed_rows(model, X, layer="conv")


def test_unit_rows_keeps_zero_rows_at_the_origin():
    points = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(points, [[0.6, 0.8], [0.0, 0.0]])
