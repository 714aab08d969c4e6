"""Fixtures of the Label Studio bridge: a fitted digits learner, tasks, a test client."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from skactive import ActiveLearner
from skactive.label_studio import LabelStudioBackend, make_app
from skactive.strategies import EntropySampling

from ..conftest import tiny_net

#: Test modules that need the label-studio extra skip with this reason.
EXTRA_MISSING = (
    "the label-studio extra (Flask, Pillow) is not installed: pip install skactive[label-studio]"
)

CONFIG = """<View>
  <Image name="image" value="$image" maxWidth="240px"/>
  <Choices name="digit" toName="image">
    {choices}
  </Choices>
</View>"""

DIGITS_CONFIG = CONFIG.format(choices="".join(f'<Choice value="{k}"/>' for k in range(10)))


def png_bytes(row: np.ndarray, *, size: int = 8) -> bytes:
    """A digits row (1, 8, 8) in [0, 1] as a grey PNG, each pixel ``size / 8`` wide."""
    from PIL import Image

    pixels = np.clip(np.rint(row.reshape(8, 8) * 255), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.NEAREST)
    stream = io.BytesIO()
    image.save(stream, format="PNG")
    return stream.getvalue()


def data_url(row: np.ndarray, *, size: int = 8) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(row, size=size)).decode()


def task(task_id: int, row: np.ndarray) -> dict:
    return {"id": task_id, "data": {"image": data_url(row)}}


def annotation(annotation_id: int, task_id: int, label, *, updated_at="2026-12-03T10:00:00"):
    return {
        "id": annotation_id,
        "task": task_id,
        "updated_at": updated_at,
        "result": [
            {
                "from_name": "digit",
                "to_name": "image",
                "type": "choices",
                "value": {"choices": [str(label)]},
            }
        ],
    }


@pytest.fixture(scope="module")
def fitted_learner(digits_split):
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=4), EntropySampling(), random_state=0)
    return learner.fit(X_init, y_init)


@pytest.fixture
def backend(fitted_learner, tmp_path):
    """A backend on a copy of the learner, saving to a temporary file, refitting on demand."""
    import copy

    return LabelStudioBackend(
        copy.deepcopy(fitted_learner),
        path=tmp_path / "campaign.skactive",
        label_config=DIGITS_CONFIG,
        project=3,
        background_refit=False,
    )


@pytest.fixture
def client(backend):
    return make_app(backend).test_client()


class LoopbackServer:
    """A WSGI function served on 127.0.0.1 in a thread, recording each request's headers.

    Tests reach only this machine's loopback; ``stop`` shuts the server down.
    """

    def __init__(self, handler):
        import threading

        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request

        self.requests = []

        def app(environ, start_response):
            request = Request(environ)
            self.requests.append((request.path, dict(request.headers)))
            return handler(request)(environ, start_response)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def loopback_server():
    """``loopback_server(handler)`` starts a :class:`LoopbackServer`; all stop after the test."""
    servers = []

    def start(handler):
        servers.append(LoopbackServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
