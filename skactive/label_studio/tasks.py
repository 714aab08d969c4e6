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
import hashlib
import io
import ipaddress
import json
import math
import os
import socket
import threading
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse, urlsplit

import numpy as np

from skactive.label_studio.credentials import origin_of

__all__ = ["MAX_IMAGE_PIXELS", "ImageTransform", "RowCache", "TaskError", "TaskReader"]

#: Largest image file read, in bytes; a larger one is a bad task, not a memory spike.
MAX_IMAGE_BYTES = 20 * 2**20

#: Largest image decoded, in pixels (4096 x 4096): a small file can hold a huge image.
MAX_IMAGE_PIXELS = 2**24

#: Redirects followed for one image, each checked like the first address.
MAX_REDIRECTS = 5


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
    max_pixels : int, default=MAX_IMAGE_PIXELS
        Largest image decoded (width times height), checked from the file's
        header before any pixel is decoded: a 160 KB PNG can hold 13,000 x
        13,000 pixels (324 MiB decoded). A JPEG is decoded at reduced size
        when the rows are much smaller.
    """

    def __init__(self, row_shape, *, scale: float = 1.0, max_pixels: int = MAX_IMAGE_PIXELS):
        self.row_shape = tuple(int(s) for s in row_shape)
        self.scale = float(scale)
        self.max_pixels = int(max_pixels)
        self.channels, self.height, self.width = _image_geometry(self.row_shape)

    def __call__(self, data: bytes) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with warnings.catch_warnings():
                # max_pixels is the bound; Pillow's own (an error at twice its
                # warning) stays as a backstop when max_pixels is raised past it.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                pixels = self._decode(Image.open(io.BytesIO(data)))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ValueError(f"cannot decode the image ({exc})") from None
        pixels = pixels * (self.scale / 255.0)
        if self.channels == 3:
            pixels = pixels.transpose(2, 0, 1)
        return pixels.reshape(self.row_shape)

    def _decode(self, image) -> np.ndarray:
        from PIL import Image

        with image:
            if image.width * image.height > self.max_pixels:
                raise ValueError(
                    f"{image.width}x{image.height} pixels is more than max_pixels={self.max_pixels}"
                )
            mode = "L" if self.channels == 1 else "RGB"
            image.draft(mode, (self.width, self.height))  # JPEG: decode at a reduced scale
            image = image.convert(mode)
            shrinking = image.width >= self.width and image.height >= self.height
            # Area averaging when shrinking (no aliasing; an image enlarged
            # by an integer factor comes back exactly), bilinear when enlarging.
            resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
            image = image.resize((self.width, self.height), resample)
            return np.asarray(image, dtype=np.float32)


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

    Secure by default: a task's image address may not make the server fetch
    a loopback, private, link-local or otherwise non-global address (checked
    for every redirect, before any connection), except Label Studio's own;
    the token goes only to the address it came with; an image gets a total
    deadline and a pixel bound; a local path must lie under ``image_root``.

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
    credential : Credential, default=None
        Label Studio's token, sent only to the origin it belongs to.
    image_root : path-like, default=None
        Folder whose files tasks may name by path; ``None`` refuses paths,
        so a task cannot make the server read an arbitrary file.
    timeout : float, default=10.0
        Seconds one image may take over HTTP in all (connection, redirects
        and every byte): a server sending a byte a second fails its task.
    allow_private : bool, default=False
        Fetch images from loopback, private and link-local addresses too
        (an image server on the labelling team's own network). Label
        Studio's own address (``hostname``, the credential's) is always
        allowed.
    resolver : callable, default=socket.getaddrinfo
        How host names become addresses for that check (tests replace it).
    """

    def __init__(
        self,
        row_shape,
        *,
        data_key: str = "image",
        transform=None,
        pool=None,
        hostname: str | None = None,
        credential=None,
        image_root=None,
        timeout: float = 10.0,
        allow_private: bool = False,
        resolver=socket.getaddrinfo,
    ):
        self.row_shape = tuple(int(s) for s in row_shape)
        self.data_key = data_key
        self.transform = ImageTransform(self.row_shape) if transform is None else transform
        self.pool = pool
        self.hostname = hostname
        self.credential = credential
        self.image_root = None if image_root is None else Path(image_root).resolve()
        self.timeout = timeout
        self.allow_private = allow_private
        self.resolver = resolver
        if pool is not None and tuple(np.shape(pool)[1:]) != self.row_shape:
            raise ValueError(
                f"pool: rows of shape {tuple(np.shape(pool)[1:])}, the learner's are "
                f"{self.row_shape}"
            )

    def read(self, task) -> np.ndarray:
        """The row of one task, shaped ``row_shape``, float32 and finite.

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
            row, field = self._pool_row(data["row"], where), "data.row"
        elif self.data_key not in data:
            wanted = f"data.{self.data_key}" + (" or data.row" if self.pool is not None else "")
            raise TaskError(f"{where}: missing {wanted}")
        else:
            row, field = self._image_row(data[self.data_key], where), f"data.{self.data_key}"
        if row.shape != self.row_shape:
            raise TaskError(
                f"{where}: {field} gave a row of shape {row.shape}, the learner's rows are "
                f"{self.row_shape}"
            )
        if not np.isfinite(row).all():
            raise TaskError(f"{where}: {field} gave NaN or infinite values")
        return row

    def _image_row(self, source, where: str) -> np.ndarray:
        try:
            return np.asarray(self.transform(self._image_bytes(source)), dtype=np.float32)
        except Exception as exc:  # a user's transform may raise anything
            # Whatever one image does, it stays that task's problem.
            raise TaskError(f"{where}: data.{self.data_key}: {exc}") from None

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
        url = source
        if source.startswith("/"):
            if not self.hostname:
                raise ValueError(
                    f"{source} is a Label Studio file, but the backend knows no hostname to fetch "
                    "it from (Label Studio sends it at /setup; or pass hostname=)"
                )
            url = urljoin(self.hostname, source)
        try:
            import requests
        except ImportError:
            raise ValueError(
                f"fetching {url} needs requests: pip install 'skactive[label-studio]'"
            ) from None
        deadline = time.monotonic() + self.timeout
        retried = False
        for _ in range(MAX_REDIRECTS + 1):
            self._check_target(url)
            headers = self.credential.header_for(url) if self.credential is not None else {}
            response = self._get(requests, url, headers, deadline)
            if response.is_redirect:
                response.close()
                url = urljoin(url, response.headers.get("location", ""))
                continue
            if response.status_code == 401 and headers and not retried:
                # An expired access token: exchange the personal token again, once.
                response.close()
                self.credential.refresh()
                retried = True
                continue
            with response:
                if response.status_code >= 400:
                    raise ValueError(f"cannot fetch {url} (HTTP {response.status_code})")
                return self._body(response, url, deadline)
        raise ValueError(f"cannot fetch {source}: more than {MAX_REDIRECTS} redirects")

    def _get(self, requests, url: str, headers: dict, deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ValueError(f"cannot fetch {url} within {self.timeout} s")
        try:
            return requests.get(
                url, headers=headers, timeout=remaining, stream=True, allow_redirects=False
            )
        except requests.RequestException:
            # One message for every failure: the error must not tell open ports from closed.
            raise ValueError(f"cannot fetch {url} (no answer)") from None

    def _body(self, response, url: str, deadline: float) -> bytes:
        import requests
        from urllib3.exceptions import HTTPError

        chunks, size = [], 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise ValueError(f"cannot fetch {url} within {self.timeout} s")
                # read1 returns what has arrived, so the deadline is checked as bytes trickle in.
                chunk = response.raw.read1(64 * 2**10, decode_content=True)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    raise ValueError(f"{url} is larger than {MAX_IMAGE_BYTES} bytes")
                chunks.append(chunk)
        except (requests.RequestException, OSError, HTTPError):
            raise ValueError(f"cannot fetch {url} (the answer broke off)") from None

    def _check_target(self, url: str) -> None:
        """Refuse, before connecting, an address the server must not reach."""
        try:
            origin = origin_of(url)
        except ValueError as exc:
            raise ValueError(f"cannot fetch {url!r}: {exc}") from None
        trusted = {origin_of(self.hostname)} if self.hostname else set()
        if self.credential is not None:
            trusted.add(self.credential.origin)
        if self.allow_private or origin in trusted:
            return
        parts = urlsplit(url)
        literal = _ip(parts.hostname)
        if literal is not None:  # an address as written: nothing to resolve
            addresses = [literal]
        else:
            try:
                infos = self.resolver(parts.hostname, None, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                raise ValueError(f"cannot fetch {url} (its host does not resolve)") from None
            addresses = [_ip(info[4][0]) for info in infos]
        for address in addresses:
            if address is None or not address.is_global or address.is_multicast:
                raise ValueError(
                    f"refused {url}: {parts.hostname} is a loopback, private, link-local or "
                    "reserved address; the server fetches those only from Label Studio's own "
                    "address unless told to (allow_private=True, --allow-private-images)"
                )

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


def _ip(text: str):
    """The address of ``text`` (an IPv4-mapped IPv6 address as IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _data_url_bytes(source: str) -> bytes:
    header, _, payload = source.partition(",")
    if not header.endswith(";base64"):
        raise ValueError("a data URL must be base64 encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the data URL's base64 payload is malformed") from None


class RowCache:
    """Rows of tasks already read, by the task's id and data, for every later sync.

    An uploaded file or a URL in a task does not change while the task
    keeps its data, so its row is read (downloaded, decoded) once: a sync
    then costs what is new, not the whole project (about 40 ms per uploaded
    image otherwise). A task whose data changed, or a reader with other
    settings (another transform, data key, pool or address), misses. The
    least recently used rows go beyond ``max_rows``. Thread-safe.

    Parameters
    ----------
    max_rows : int, default=100_000
    """

    def __init__(self, max_rows: int = 100_000):
        self.max_rows = int(max_rows)
        self._rows: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def read(self, reader: TaskReader, task) -> np.ndarray:
        """``reader.read(task)``, or the row it gave for this task and data before."""
        key = _cache_key(reader, task)
        with self._lock:
            row = self._rows.get(key)
            if row is not None:
                self._rows.move_to_end(key)
                self.hits += 1
                return row
        row = reader.read(task)  # outside the lock: a slow image holds up no other task
        row.setflags(write=False)
        with self._lock:
            self.misses += 1
            self._rows[key] = row
            while len(self._rows) > self.max_rows:
                self._rows.popitem(last=False)
        return row

    def __len__(self) -> int:
        return len(self._rows)


def _cache_key(reader: TaskReader, task) -> tuple:
    task_id = task.get("id") if isinstance(task, dict) else None
    data = task.get("data") if isinstance(task, dict) else None
    try:
        content = json.dumps(data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        content = repr(data)
    transform = reader.transform
    if isinstance(transform, ImageTransform):  # rebuilt per reader: known by its settings
        transform = repr(sorted(vars(transform).items()))
    else:  # the caller's own callable: known by its identity
        transform = id(transform)
    settings = (
        reader.row_shape,
        reader.data_key,
        transform,
        id(reader.pool),
        reader.hostname,
        str(reader.image_root),
    )
    return task_id, hashlib.sha256(content.encode()).hexdigest(), settings
