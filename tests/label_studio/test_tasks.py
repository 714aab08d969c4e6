import numpy as np
import pytest

from .conftest import EXTRA_MISSING, data_url, png_bytes

pytest.importorskip("PIL", reason=EXTRA_MISSING)

from skactive.label_studio import ImageTransform, TaskError, TaskReader


def test_image_transform_gives_back_the_row_up_to_8_bit_rounding(digits):
    X, _ = digits
    row = ImageTransform((1, 8, 8))(png_bytes(X[5]))
    assert row.shape == (1, 8, 8)
    np.testing.assert_allclose(row, X[5], atol=0.5 / 255 + 1e-6)


def test_image_transform_shrinks_an_enlarged_image_back_to_the_row(digits):
    X, _ = digits
    row = ImageTransform((1, 8, 8))(png_bytes(X[5], size=64))
    np.testing.assert_allclose(row, X[5], atol=0.5 / 255 + 1e-6)


def test_image_transform_resizes_and_shapes_flat_and_colour_rows(digits):
    X, _ = digits
    assert ImageTransform((64,))(png_bytes(X[0])).shape == (64,)
    assert ImageTransform((3, 16, 16))(png_bytes(X[0])).shape == (3, 16, 16)
    with pytest.raises(ValueError, match="row_shape: \\(5, 8, 8\\) is not an image shape"):
        ImageTransform((5, 8, 8))


def test_reader_takes_data_urls_pool_rows_and_files_under_the_root(digits, tmp_path):
    X, _ = digits
    (tmp_path / "a.png").write_bytes(png_bytes(X[3]))
    reader = TaskReader((1, 8, 8), pool=X, image_root=tmp_path)
    np.testing.assert_allclose(
        reader.read({"id": 1, "data": {"image": data_url(X[2])}}), X[2], atol=0.002
    )
    np.testing.assert_array_equal(reader.read({"id": 2, "data": {"row": 7}}), X[7])
    np.testing.assert_allclose(reader.read({"id": 3, "data": {"image": "a.png"}}), X[3], atol=0.002)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (None, "task 9: no data object"),
        ({}, "task 9: missing data.image or data.row"),
        ({"image": "data:image/png;base64,@@@"}, "base64 payload is malformed"),
        ({"image": "data:image/png,abc"}, "must be base64 encoded"),
        ({"image": "data:image/png;base64,aGVsbG8="}, "cannot decode the image"),
        ({"image": "../secret.png"}, "outside the image root"),
        ({"image": "missing.png"}, "cannot read"),
        ({"image": "/data/upload/1/x.png"}, "knows no hostname"),
        ({"image": 5}, "expected an image address"),
        ({"row": 10_000}, "data.row 10000 is outside the pool's rows 0..1796"),
        ({"row": "3"}, "data.row must be an integer"),
    ],
)
def test_bad_tasks_raise_task_errors_naming_task_and_field(digits, tmp_path, data, match):
    X, _ = digits
    reader = TaskReader((1, 8, 8), pool=X, image_root=tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "secret.png").write_bytes(png_bytes(X[0]))
    with pytest.raises(TaskError, match=match):
        reader.read({"id": 9, "data": data} if data is not None else {"id": 9})


def test_paths_are_refused_without_an_image_root(digits, tmp_path):
    X, _ = digits
    (tmp_path / "a.png").write_bytes(png_bytes(X[0]))
    with pytest.raises(TaskError, match="reads no local files"):
        TaskReader((1, 8, 8)).read({"id": 1, "data": {"image": str(tmp_path / "a.png")}})


def test_a_transform_of_the_wrong_shape_is_a_task_error(digits):
    X, _ = digits
    reader = TaskReader((1, 8, 8), transform=lambda data: np.zeros((2, 2)))
    with pytest.raises(
        TaskError, match=r"row of shape \(2, 2\), the learner's rows are \(1, 8, 8\)"
    ):
        reader.read({"id": 4, "data": {"image": data_url(X[0])}})


class CountingReader(TaskReader):
    """A reader that counts the tasks it really reads."""

    reads = 0

    def read(self, task):
        type(self).reads += 1
        return super().read(task)


def test_the_row_cache_reads_a_task_once_until_its_data_changes(digits_split):
    from skactive.label_studio import RowCache

    X_pool = digits_split[2]
    tasks = [{"id": i, "data": {"image": data_url(X_pool[i])}} for i in range(5)]
    cache, CountingReader.reads = RowCache(max_rows=4), 0
    first = [cache.read(CountingReader((1, 8, 8)), t) for t in tasks]
    # A new reader with the same settings (the backend builds one per call) hits.
    again = [cache.read(CountingReader((1, 8, 8)), t) for t in tasks[1:]]
    assert CountingReader.reads == 5 and cache.hits == 4 and len(cache) == 4
    assert all(np.array_equal(a, b) for a, b in zip(first[1:], again, strict=True))
    assert not again[0].flags.writeable  # a cached row cannot be changed by a caller
    # The least recently used row went beyond max_rows; new data or settings miss.
    cache.read(CountingReader((1, 8, 8)), tasks[0])
    changed = {"id": 1, "data": {"image": data_url(X_pool[9])}}
    assert not np.array_equal(cache.read(CountingReader((1, 8, 8)), changed), first[1])
    assert CountingReader.reads == 7
    cache.read(CountingReader((1, 8, 8), hostname="http://127.0.0.1:8080"), tasks[0])
    assert CountingReader.reads == 8  # other settings: read again
    with pytest.raises(TaskError):
        cache.read(CountingReader((1, 8, 8)), {"id": 9, "data": {}})
    assert len(cache) == 4  # a failed read is not cached
