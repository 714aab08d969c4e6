"""From a Label Studio task to a row the learner can score.

A task is JSON: ``{"id": 7, "data": {"image": "..."}}``. Its image is a
data URL, a file Label Studio serves (``/data/upload/...``, fetched with
the project owner's token), an ``http(s)`` URL, or a local path under a
folder the operator allowed. Or the task names a row of a pool array the
server was started with (``{"data": {"row": 12}}``), for data that is not
an image file. Each failure is a :class:`TaskError` naming the task and
the field, so one bad task never fails the others.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import numpy as np

__all__ = ["ImageTransform", "TaskError", "TaskReader"]

#: Largest image file read, in bytes; a larger one is a bad task, not a memory spike.
MAX_IMAGE_BYTES = 20 * 2**20


class TaskError(ValueError):
    """A task the backend cannot turn into a row; the message names the task and field."""


class ImageTransform:
    """Decode an image file and shape it like the learner's rows.

    The image is converted to grey (1 channel) or RGB (3 channels), resized
    to the rows' height and width (area averaging when it shrinks, bilinear
    when it grows), and scaled from
    ``0..255`` to ``0..scale``. Rows shaped ``(C, H, W)`` or ``(H, W)`` take
    their size from the shape; flat rows ``(n_features,)`` are square grey
    images of side ``sqrt(n_features)``. Replace it with any callable
    ``transform(image_bytes) -> ndarray of shape row_shape``.

    Parameters
    ----------
    row_shape : tuple of int
        Shape of one row (``learner.row_shape_``).
    scale : float, default=1.0
        Value of a white pixel (``load_digits_images`` and
        ``load_fashion_mnist`` rows lie in ``[0, 1]``).
    """

    def __init__(self, row_shape, *, scale: float = 1.0):
        self.row_shape = tuple(int(s) for s in row_shape)
        self.scale = float(scale)
        self.channels, self.height, self.width = _image_geometry(self.row_shape)

    def __call__(self, data: bytes) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                image = image.convert("L" if self.channels == 1 else "RGB")
                shrinking = image.width >= self.width and image.height >= self.height
                # Area averaging when shrinking (no aliasing; an image enlarged
                # by an integer factor comes back exactly), bilinear when enlarging.
                resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
                image = image.resize((self.width, self.height), resample)
                pixels = np.asarray(image, dtype=np.float32)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise ValueError(f"cannot decode the image ({exc})") from None
        pixels = pixels * (self.scale / 255.0)
        if self.channels == 3:
            pixels = pixels.transpose(2, 0, 1)
        return pixels.reshape(self.row_shape)


def _image_geometry(row_shape: tuple) -> tuple[int, int, int]:
    if len(row_shape) == 3 and row_shape[0] in (1, 3):
        return row_shape
    if len(row_shape) == 2:
        return 1, row_shape[0], row_shape[1]
    if len(row_shape) == 1 and math.isqrt(row_shape[0]) ** 2 == row_shape[0]:
        side = math.isqrt(row_shape[0])
        return 1, side, side
    raise ValueError(
        f"row_shape: {row_shape} is not an image shape (C, H, W) with 1 or 3 channels, (H, W) or "
        "a square number of features; pass your own transform"
    )


class TaskReader:
    """Turn Label Studio tasks into rows.

    Parameters
    ----------
    row_shape : tuple of int
        Shape of one row (``learner.row_shape_``).
    data_key : str, default="image"
        Task field holding the image (the label configuration's
        ``value="$image"``).
    transform : callable, default=None
        ``transform(image_bytes) -> row``; by default
        :class:`ImageTransform` of ``row_shape``.
    pool : array-like, default=None
        Rows that tasks name by position (``data.row``), e.g. a memory-mapped
        ``.npy``; tasks then need no image.
    hostname : str, default=None
        Label Studio's address, to fetch files it serves (``/data/...``).
    access_token : str, default=None
        Token sent with those requests (``Authorization: Token ...``).
    image_root : path-like, default=None
        Folder whose files tasks may name by path; ``None`` refuses paths,
        so a task cannot make the server read an arbitrary file.
    timeout : float, default=10.0
        Seconds to wait for an image over HTTP.
    """

    def __init__(
        self,
        row_shape,
        *,
        data_key: str = "image",
        transform=None,
        pool=None,
        hostname: str | None = None,
        access_token: str | None = None,
        image_root=None,
        timeout: float = 10.0,
    ):
        self.row_shape = tuple(int(s) for s in row_shape)
        self.data_key = data_key
        self.transform = ImageTransform(self.row_shape) if transform is None else transform
        self.pool = pool
        self.hostname = hostname
        self.access_token = access_token
        self.image_root = None if image_root is None else Path(image_root).resolve()
        self.timeout = timeout
        if pool is not None and tuple(np.shape(pool)[1:]) != self.row_shape:
            raise ValueError(
                f"pool: rows of shape {tuple(np.shape(pool)[1:])}, the learner's are "
                f"{self.row_shape}"
            )

    def read(self, task) -> np.ndarray:
        """The row of one task, shaped ``row_shape``, float32.

        Raises
        ------
        TaskError
            Naming the task and the field that is missing or unusable.
        """
        task_id = task.get("id") if isinstance(task, dict) else None
        where = f"task {task_id}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            raise TaskError(f"{where}: no data object")
        if self.pool is not None and "row" in data:
            return self._pool_row(data["row"], where)
        if self.data_key not in data:
            wanted = f"data.{self.data_key}" + (" or data.row" if self.pool is not None else "")
            raise TaskError(f"{where}: missing {wanted}")
        source = data[self.data_key]
        try:
            row = np.asarray(self.transform(self._image_bytes(source)), dtype=np.float32)
        except (ValueError, OSError) as exc:
            raise TaskError(f"{where}: data.{self.data_key}: {exc}") from None
        if row.shape != self.row_shape:
            raise TaskError(
                f"{where}: data.{self.data_key} gave a row of shape {row.shape}, the learner's "
                f"rows are {self.row_shape}"
            )
        if not np.isfinite(row).all():
            raise TaskError(f"{where}: data.{self.data_key} gave NaN or infinite values")
        return row

    def _pool_row(self, value, where: str) -> np.ndarray:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TaskError(f"{where}: data.row must be an integer, got {value!r}")
        if not 0 <= value < len(self.pool):
            raise TaskError(
                f"{where}: data.row {value} is outside the pool's rows 0..{len(self.pool) - 1}"
            )
        return np.asarray(self.pool[value], dtype=np.float32)

    def _image_bytes(self, source) -> bytes:
        if not isinstance(source, str) or not source:
            raise ValueError(f"expected an image address, got {source!r}")
        if source.startswith("data:"):
            return _data_url_bytes(source)
        parsed = urlparse(source)
        if parsed.scheme in ("http", "https") or source.startswith("/data/"):
            return self._fetch(source)
        return self._local_file(source)

    def _fetch(self, source: str) -> bytes:
        url, headers = source, {}
        if source.startswith("/"):
            if not self.hostname:
                raise ValueError(
                    f"{source} is a Label Studio file, but the backend knows no hostname to fetch "
                    "it from (Label Studio sends it at /setup; or pass hostname=)"
                )
            url = urljoin(self.hostname, source)
        same_host = self.hostname and urlparse(url).netloc == urlparse(self.hostname).netloc
        if same_host and self.access_token:
            # The token goes to Label Studio only, never to a third-party host.
            headers["Authorization"] = f"Token {self.access_token}"
        try:
            import requests
        except ImportError:
            raise ValueError(
                f"fetching {url} needs requests: pip install 'skactive[label-studio]'"
            ) from None
        try:
            response = requests.get(url, headers=headers, timeout=self.timeout, stream=True)
            response.raise_for_status()
            data = response.raw.read(MAX_IMAGE_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise ValueError(f"cannot fetch {url} ({exc})") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"{url} is larger than {MAX_IMAGE_BYTES} bytes")
        return data

    def _local_file(self, source: str) -> bytes:
        if self.image_root is None:
            raise ValueError(
                f"{source!r} is a local path, and this server reads no local files (start it with "
                "an image root to allow a folder)"
            )
        path = Path(unquote(urlparse(source).path if source.startswith("file:") else source))
        path = (self.image_root / path).resolve()
        if not path.is_relative_to(self.image_root):
            raise ValueError(f"{source!r} lies outside the image root {self.image_root}")
        try:
            if os.path.getsize(path) > MAX_IMAGE_BYTES:
                raise ValueError(f"{path} is larger than {MAX_IMAGE_BYTES} bytes")
            return path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path} ({exc.strerror or exc})") from None


def _data_url_bytes(source: str) -> bytes:
    header, _, payload = source.partition(",")
    if not header.endswith(";base64"):
        raise ValueError("a data URL must be base64 encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the data URL's base64 payload is malformed") from None
