"""The labelling service a team can trust (issue 33), item by item.

Each test names the way a label was lost, a token or an internal address
exposed, or one bad task stopped the others, and checks it no longer
happens. Network traffic goes to servers these tests start on 127.0.0.1
only; private-address guards are tested with a stubbed resolver that
refuses before any connection.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest

from .conftest import DIGITS_CONFIG, EXTRA_MISSING, annotation, data_url, png_bytes, task

pytest.importorskip("flask", reason=EXTRA_MISSING)
pytest.importorskip("PIL", reason=EXTRA_MISSING)
requests = pytest.importorskip("requests", reason=EXTRA_MISSING)

from werkzeug.wrappers import Response  # noqa: E402

from skactive import ActiveLearner  # noqa: E402
from skactive.__main__ import main  # noqa: E402
from skactive.label_studio import (  # noqa: E402
    Credential,
    ImageTransform,
    LabelStudioBackend,
    LabelStudioClient,
    TaskError,
    TaskReader,
    load_backend,
    make_app,
    sync,
)
from skactive.label_studio.app import server_names  # noqa: E402

from .test_poller import FakeLabelStudio  # noqa: E402


def _post(client, path, payload, **kwargs):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(path, data=body, content_type="application/json", **kwargs)


def _event(action, ann, tsk, project=3):
    return {"action": action, "annotation": ann, "task": tsk, "project": {"id": project}}


def _skip(annotation_id, task_id, *, updated_at):
    return {**annotation(annotation_id, task_id, 0, updated_at=updated_at), "was_cancelled": True}


@pytest.fixture
def rows(digits_split):
    _, _, X_pool, y_pool, *_ = digits_split
    return X_pool[:40], y_pool[:40]


@pytest.fixture
def studio(rows):
    X, _ = rows
    return FakeLabelStudio([task(100 + i, X[i]) for i in range(12)])


def _labelled(backend) -> dict:
    """Task id to the label the learner holds for its row."""
    learner = backend.learner
    return {t: str(learner.y_labeled_[learner.rows_of([t])[0]]) for t in backend.ledger}


# -- labels lost or never taught ---------------------------------------------


def test_a_failed_save_answers_503_changes_nothing_and_the_retry_is_taught(
    client, backend, rows, monkeypatch
):
    X, y = rows
    import skactive.label_studio.backend as module

    real_save, calls = module.save_pickle, []

    def disk_full(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(module, "save_pickle", disk_full)
    n = len(backend.learner.y_labeled_)
    event = _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), task(100, X[0]))
    failed = _post(client, "/webhook", event)
    assert failed.status_code == 503
    assert str(backend.path) in failed.get_json()["error"]
    assert "No space left" in failed.get_json()["error"]
    assert len(backend.learner.y_labeled_) == n and dict(backend.ledger) == {}
    assert not backend.refit_due
    retried = _post(client, "/webhook", event)  # Label Studio retries the delivery
    assert retried.get_json()["outcomes"] == ["taught"]
    backend.close_file()  # a restart
    assert _labelled(load_backend(backend.path)) == {100: str(y[0])}


def test_a_failed_save_during_a_sync_or_a_refit_changes_nothing(backend, studio, rows, monkeypatch):
    _, y = rows
    import skactive.label_studio.backend as module

    studio.tasks_[100]["annotations"] = [annotation(1, 100, y[0])]
    real_save = module.save_pickle

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(module, "save_pickle", read_only)
    with pytest.raises(module.SaveError, match="Read-only"):
        sync(backend, studio, 3)
    assert dict(backend.ledger) == {} and backend.version == 0
    monkeypatch.setattr(module, "save_pickle", real_save)
    report = sync(backend, studio, 3)
    assert report.outcomes == {"taught": 1} and report.refitted
    backend.teach_annotation(studio.tasks_[101], annotation(2, 101, y[1]))
    monkeypatch.setattr(module, "save_pickle", read_only)
    learner_before = backend.learner
    with pytest.raises(module.SaveError):
        backend.refit()
    assert backend.version == 1 and backend.learner is learner_before and backend.refit_due


def test_a_later_skip_does_not_hide_an_earlier_label(backend, client, studio, rows):
    X, y = rows
    labelled = annotation(1, 100, y[0], updated_at="2026-12-03T10:00:00")
    skipped = _skip(2, 100, updated_at="2026-12-03T11:00:00")
    studio.tasks_[100]["annotations"] = [labelled, skipped]
    report = sync(backend, studio, 3)
    assert report.outcomes == {"taught": 1}
    assert _labelled(backend) == {100: str(y[0])}
    # Through the webhook door too: the skip arrives after the label.
    outcome = _post(client, "/webhook", _event("ANNOTATION_CREATED", skipped, task(100, X[0])))
    assert outcome.get_json()["outcomes"] == ["skipped"]
    assert _labelled(backend) == {100: str(y[0])}


def test_deleting_the_later_of_two_annotations_falls_back_on_the_earlier(client, backend, rows):
    X, y = rows
    first, second = y[0], (y[0] + 1) % 10
    tsk = task(100, X[0])
    a = annotation(1, 100, first, updated_at="2026-12-03T10:00:00")
    b = annotation(2, 100, second, updated_at="2026-12-03T11:00:00")
    assert _post(client, "/webhook", _event("ANNOTATION_CREATED", a, tsk)).get_json()[
        "outcomes"
    ] == ["taught"]
    assert _post(client, "/webhook", _event("ANNOTATION_CREATED", b, tsk)).get_json()[
        "outcomes"
    ] == ["relabeled"]
    n = len(backend.learner.y_labeled_)
    deleted = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 2}], "project": 3}
    assert _post(client, "/webhook", deleted).get_json()["outcomes"] == ["relabeled"]
    assert _labelled(backend) == {100: str(first)} and len(backend.learner.y_labeled_) == n
    last = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}], "project": 3}
    assert _post(client, "/webhook", last).get_json()["outcomes"] == ["forgotten"]
    assert dict(backend.ledger) == {} and len(backend.learner.y_labeled_) == n - 1


def test_majority_vote_takes_the_most_frequent_label_and_a_tie_goes_to_the_latest(
    backend, studio, rows
):
    _, y = rows
    backend.vote = "majority"
    a, b = y[0], (y[0] + 1) % 10
    answers = [
        annotation(1, 100, a, updated_at="2026-12-03T10:00:00"),
        annotation(2, 100, b, updated_at="2026-12-03T11:00:00"),
        annotation(3, 100, a, updated_at="2026-12-03T09:00:00"),
    ]
    studio.tasks_[100]["annotations"] = answers
    sync(backend, studio, 3)
    assert _labelled(backend) == {100: str(a)}  # two against one, although b is the latest
    studio.tasks_[100]["annotations"] = answers[:2]
    assert sync(backend, studio, 3).outcomes["relabeled"] == 1
    assert _labelled(backend) == {100: str(b)}  # one each: the latest wins the tie
    with pytest.raises(ValueError, match="vote"):
        backend.vote = "loudest"
    with pytest.raises(ValueError, match="vote"):
        LabelStudioBackend(backend.learner, vote="loudest")


def test_one_nan_row_in_the_pool_is_one_tasks_error(fitted_learner, rows, studio):
    X, y = rows
    pool = X[:10].copy()
    pool[2, 0, 0, 0] = np.nan
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner),
        label_config=DIGITS_CONFIG,
        pool=pool,
        background_refit=False,
    )
    studio.tasks_ = {
        200 + i: {"id": 200 + i, "data": {"row": i}, "annotations": [], "predictions": []}
        for i in range(6)
    }
    for i in range(4):
        studio.tasks_[200 + i]["annotations"] = [annotation(i, 200 + i, y[i])]
    report = sync(backend, studio, 3)
    assert report.outcomes == {"taught": 3, "error": 1}
    assert any("task 202" in e and "NaN" in e for e in report.errors)
    studio.tasks_[200]["annotations"] = []  # a deletion is still honoured
    assert sync(backend, studio, 3).outcomes["forgotten"] == 1
    assert sorted(backend.ledger) == [201, 203]
    results = backend.predict([studio.tasks_[202], studio.tasks_[204], studio.tasks_[205]])
    assert "task 202" in results[0]["error"] and results[0]["score"] == 1.0
    assert "error" not in results[1] and "error" not in results[2]


# -- personal access tokens ---------------------------------------------------


def _jwt(claims: dict) -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part(claims)}.signature"


class FakeTokenServer:
    """Label Studio's token exchange: a personal access token for short-lived Bearer tokens."""

    def __init__(self, image: bytes, lifetime: float = 300.0):
        self.pat = _jwt({"token_type": "refresh", "exp": time.time() + 86400})
        self.image, self.lifetime = image, lifetime
        self.valid, self.exchanges = set(), 0

    def __call__(self, request):
        if request.path == "/api/token/refresh/":
            if (request.get_json(silent=True) or {}).get("refresh") != self.pat:
                return Response('{"detail": "invalid"}', 401)
            self.exchanges += 1
            access = _jwt({"exp": time.time() + self.lifetime, "n": self.exchanges})
            self.valid.add(access)
            return Response(json.dumps({"access": access}), 200, mimetype="application/json")
        scheme, _, access = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or access not in self.valid:  # JWTs are Bearer only
            return Response('{"detail": "token not valid"}', 401)
        if request.path.startswith("/data/upload/"):
            return Response(self.image, 200, mimetype="image/png")
        return Response(json.dumps({"id": 3, "label_config": DIGITS_CONFIG}), 200)


def test_personal_access_tokens_are_refreshed_and_sent_as_bearer(
    loopback_server, rows, monkeypatch
):
    X, _ = rows
    studio = FakeTokenServer(png_bytes(X[0]))
    server = loopback_server(studio)
    client = LabelStudioClient(server.url, studio.pat)
    assert client.project(3)["id"] == 3 and studio.exchanges == 1
    studio.valid.clear()  # the access token expired on the server's clock: a 401, then a retry
    assert client.project(3)["id"] == 3 and studio.exchanges == 2
    import skactive.label_studio.credentials as credentials

    later = time.time() + 600  # past the access token's expiry: refreshed before it is sent
    monkeypatch.setattr(credentials.time, "time", lambda: later)
    assert client.project(3)["id"] == 3 and studio.exchanges == 3
    monkeypatch.undo()
    # Uploads are fetched with Bearer too (a Token header is refused for a JWT).
    reader = TaskReader((1, 8, 8), hostname=server.url, credential=client.credential)
    row = reader.read({"id": 1, "data": {"image": "/data/upload/1/a.png"}})
    np.testing.assert_allclose(row, np.round(X[0] * 255) / 255, atol=1e-6)
    assert all(
        h.get("Authorization", "").startswith("Bearer ")
        for path, h in server.requests
        if path != "/api/token/refresh/"
    )
    with pytest.raises(TypeError, match="never saved"):
        import pickle

        pickle.dumps(client.credential)


# -- security ------------------------------------------------------------------


def _image_server(image: bytes):
    def handler(request):
        return Response(image, 200, mimetype="image/png")

    return handler


def test_setup_cannot_carry_the_token_to_a_new_address(backend, loopback_server, rows):
    X, _ = rows
    studio = loopback_server(_image_server(png_bytes(X[0])))
    elsewhere = loopback_server(_image_server(png_bytes(X[1])))
    client = make_app(backend).test_client()
    setup = {"project": 3, "schema": DIGITS_CONFIG, "hostname": studio.url}
    assert _post(client, "/setup", {**setup, "access_token": "secret-token"}).status_code == 200
    backend.reader().read({"id": 1, "data": {"image": "/data/upload/a.png"}})
    assert studio.requests[-1][1]["Authorization"] == "Token secret-token"
    # Anyone who can call /setup moves the address, without a token ...
    assert _post(client, "/setup", {**setup, "hostname": elsewhere.url}).status_code == 200
    backend.reader().read({"id": 1, "data": {"image": "/data/upload/a.png"}})
    # ... and the token stays behind.
    assert "Authorization" not in elsewhere.requests[-1][1]
    assert backend.credential is None


def test_an_operators_address_is_not_moved_by_setup(fitted_learner, loopback_server):
    studio = loopback_server(_image_server(b""))
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner),
        label_config=DIGITS_CONFIG,
        hostname=studio.url,
        access_token="secret-token",
        background_refit=False,
    )
    backend.setup(3, DIGITS_CONFIG, hostname="http://203.0.113.9:8080", access_token="other")
    assert backend.hostname == studio.url
    assert backend.credential.header_for(f"{studio.url}/x") == {
        "Authorization": "Token secret-token"
    }
    assert backend.credential.header_for("http://203.0.113.9:8080/x") == {}


def test_a_redirect_never_carries_the_token_to_another_origin(loopback_server, rows):
    X, _ = rows
    elsewhere = loopback_server(_image_server(png_bytes(X[0])))

    def redirecting(request):
        return Response("", 302, headers={"Location": f"{elsewhere.url}/b.png"})

    studio = loopback_server(redirecting)
    reader = TaskReader(
        (1, 8, 8),
        hostname=studio.url,
        credential=Credential(studio.url, "secret-token"),
        allow_private=True,
    )
    reader.read({"id": 1, "data": {"image": "/data/upload/a.png"}})
    assert studio.requests[-1][1]["Authorization"] == "Token secret-token"
    assert "Authorization" not in elsewhere.requests[-1][1]


def _resolver(address: str):
    def resolve(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    return resolve


@pytest.fixture
def no_connection(monkeypatch):
    """Fail the test if anything tries to connect."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(requests, "get", refuse)
    return attempts


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://images.example/a.png", "10.0.0.5"),
        ("http://images.example/a.png", "172.16.3.4"),
        ("http://images.example/a.png", "192.168.1.20"),
        ("http://metadata.example/latest", "169.254.169.254"),
        ("http://images.example/a.png", "127.0.0.1"),
        ("http://127.0.0.1:22/", None),
        ("http://[::1]:6379/", None),
        ("http://[::ffff:127.0.0.1]:8080/", None),
        ("http://0.0.0.0:8080/", None),
        ("http://[fe80::1]/", None),
    ],
)
def test_internal_addresses_are_refused_before_any_connection(url, address, no_connection):
    resolver = _resolver(address) if address else socket.getaddrinfo
    reader = TaskReader((1, 8, 8), resolver=resolver)
    with pytest.raises(TaskError, match=r"refused .* loopback, private, link-local"):
        reader.read({"id": 5, "data": {"image": url}})
    assert no_connection == []


def test_a_redirect_to_an_internal_address_is_refused(monkeypatch):
    calls = []

    class Redirect:
        is_redirect, status_code = True, 302

        def __init__(self):
            self.headers = {"location": "http://169.254.169.254/latest/meta-data/"}

        def close(self):
            pass

    def get(url, **kwargs):
        calls.append(url)
        return Redirect()

    monkeypatch.setattr(requests, "get", get)
    reader = TaskReader((1, 8, 8), resolver=_resolver("93.184.216.34"))
    with pytest.raises(TaskError, match=r"refused http://169\.254\.169\.254"):
        reader.read({"id": 5, "data": {"image": "http://images.example/a.png"}})
    assert calls == ["http://images.example/a.png"]  # the second hop was never asked


def test_refusals_do_not_tell_open_ports_from_closed(loopback_server):
    server = loopback_server(_image_server(b"x"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    reader = TaskReader((1, 8, 8))
    messages = []
    for port in (server.server.server_port, closed):
        with pytest.raises(TaskError) as refused:
            reader.read({"id": 5, "data": {"image": f"http://127.0.0.1:{port}/a.png"}})
        messages.append(str(refused.value).replace(str(port), "PORT"))
    assert messages[0] == messages[1]
    assert server.requests == []
    # Allowed explicitly, the same server is reached.
    allowed = TaskReader((1, 8, 8), allow_private=True)
    with pytest.raises(TaskError, match="cannot decode"):
        allowed.read({"id": 5, "data": {"image": f"{server.url}/a.png"}})
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("host", "allowed_hosts", "status"),
    [
        ("localhost:9090", None, 200),
        ("127.0.0.1:9090", None, 200),
        ("[::1]:9090", None, 200),
        ("evil.example", None, 403),
        ("evil.example:9090", None, 403),
        ("labels.team:9090", ("labels.team",), 200),
        ("evil.example", ("labels.team",), 403),
        ("anything.example", ("*",), 200),
        ("10.1.2.3:9090", server_names("0.0.0.0"), 200),
        ("rebound.example:9090", server_names("0.0.0.0"), 403),
    ],
)
def test_requests_for_another_host_name_are_refused(backend, rows, host, allowed_hosts, status):
    X, y = rows
    options = {} if allowed_hosts is None else {"allowed_hosts": allowed_hosts}
    client = make_app(backend, **options).test_client()
    event = _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), task(100, X[0]))
    answer = _post(client, "/webhook", event, headers={"Host": host})
    assert answer.status_code == (201 if status == 200 else 403)
    if status == 403:
        assert "--allowed-host" in answer.get_json()["error"]
        assert dict(backend.ledger) == {}
    assert client.get("/health", headers={"Host": host}).status_code == status


def _slow_image(release: threading.Event, image: bytes):
    def handler(request):
        def body():
            for byte in image:
                if release.wait(0.2):
                    return
                yield bytes([byte])

        return Response(body(), 200, mimetype="image/png", direct_passthrough=True)

    return handler


def test_a_slow_image_has_a_total_deadline(loopback_server, rows):
    X, _ = rows
    release = threading.Event()
    server = loopback_server(_slow_image(release, png_bytes(X[0])))
    reader = TaskReader((1, 8, 8), allow_private=True, timeout=1.0)
    start = time.monotonic()
    try:
        with pytest.raises(TaskError, match=r"within 1\.0 s"):
            reader.read({"id": 1, "data": {"image": f"{server.url}/slow.png"}})
    finally:
        release.set()
    assert time.monotonic() - start < 4  # the image alone would take over 10 s


def test_a_slow_image_does_not_hold_up_other_answers(backend, loopback_server, rows):
    X, y = rows
    release = threading.Event()
    server = loopback_server(_slow_image(release, png_bytes(X[0])))
    backend.setup(3, DIGITS_CONFIG, hostname=server.url)
    client = make_app(backend).test_client()
    slow = {"id": 100, "data": {"image": "/data/upload/slow.png"}}
    done = {}

    def deliver():
        event = _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), slow)
        done["slow"] = _post(make_app(backend).test_client(), "/webhook", event).get_json()

    thread = threading.Thread(target=deliver)
    thread.start()
    try:
        time.sleep(0.5)  # the slow image is being read
        start = time.monotonic()
        fast = _event("ANNOTATION_CREATED", annotation(2, 101, y[1]), task(101, X[1]))
        assert _post(client, "/webhook", fast).get_json()["outcomes"] == ["taught"]
        assert _post(client, "/predict", {"tasks": [task(102, X[2])]}).status_code == 200
        assert time.monotonic() - start < 2
        assert thread.is_alive()
    finally:
        release.set()
        thread.join(30)
    assert "slow" in done


def _png_header(width: int, height: int, *, rows_of_zeros: bool = False) -> bytes:
    """A grey PNG of ``width x height``: real zero rows, or just its header (lazy decoders)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    if rows_of_zeros:
        packer, row, parts = zlib.compressobj(9), b"\0" * (width + 1), []
        for _ in range(height):
            parts.append(packer.compress(row))
        data = b"".join(parts) + packer.flush()
    else:
        data = zlib.compress(b"\0" * 16)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_pixels_are_bounded_before_decoding():
    png = _png_header(13000, 13000, rows_of_zeros=True)
    assert len(png) < 400_000  # a small file ...
    transform = ImageTransform((1, 8, 8))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="13000x13000 pixels is more than max_pixels"):
        transform(png)  # ... refused from its header, nothing decoded
    assert time.perf_counter() - start < 0.5
    small = ImageTransform((1, 8, 8), max_pixels=64)
    with pytest.raises(ValueError, match="max_pixels=64"):
        small(_png_header(9, 8, rows_of_zeros=True))
    assert small(_png_header(8, 8, rows_of_zeros=True)).shape == (1, 8, 8)


def test_a_decompression_bomb_fails_its_task_alone(client, rows):
    X, _ = rows
    bomb = "data:image/png;base64," + base64.b64encode(_png_header(20000, 20000)).decode()
    tasks = [task(1, X[0]), {"id": 2, "data": {"image": bomb}}, task(3, X[1])]
    answer = _post(client, "/predict", {"tasks": tasks})
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert "task 2" in results[1]["error"] and "error" not in results[0]
    # Past Pillow's own bound too (max_pixels raised): the bomb error is the task's.
    lax = ImageTransform((1, 8, 8), max_pixels=10**12)
    with pytest.raises(ValueError, match="cannot decode"):
        lax(_png_header(20000, 20000))


# -- cost and durability of the state file --------------------------------------


def test_the_pool_is_never_saved(fitted_learner, tmp_path, rows):
    X, y = rows
    pool = np.resize(X, (40_000, 1, 8, 8)).astype(np.float32)  # 10 MiB
    path = tmp_path / "campaign.skactive"
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner), path=path, label_config=DIGITS_CONFIG, pool=pool
    )
    backend.teach_annotation({"id": 1, "data": {"row": 7}}, annotation(1, 1, y[7]))
    assert path.stat().st_size < pool.nbytes / 4
    backend.close_file()
    restarted = load_backend(path, pool=pool, background_refit=False)
    assert restarted.pool is pool and _labelled(restarted) == {1: str(y[7])}
    assert load_backend(path).pool is None


def test_a_second_writer_of_the_same_file_is_refused(backend, fitted_learner, rows):
    X, y = rows
    backend.save()
    second = LabelStudioBackend(
        copy.deepcopy(fitted_learner), path=backend.path, label_config=DIGITS_CONFIG
    )
    from skactive.label_studio import SaveError

    with pytest.raises(SaveError, match="being written by another backend"):
        second.teach_annotation(task(100, X[0]), annotation(1, 100, y[0]))
    assert dict(load_backend(backend.path).ledger) == {}
    backend.close_file()  # the first writer stops: the second may go on
    assert second.teach_annotation(task(100, X[0]), annotation(1, 100, y[0])) == "taught"


def test_temporaries_of_a_killed_save_are_removed_when_the_next_writer_starts(backend):
    backend.save()
    backend.close_file()
    stale = backend.path.with_name(f".{backend.path.name}.k1ll3d.tmp")
    stale.write_bytes(b"x" * 1000)
    unrelated = backend.path.with_name(".other.skactive.k1ll3d.tmp")
    unrelated.write_bytes(b"x")
    load_backend(backend.path).claim()
    assert not stale.exists() and unrelated.exists()


def test_ranking_a_batchbald_learner_costs_one_scoring_pass(digits_split, monkeypatch):
    import skactive.strategies.batchbald as batchbald
    from skactive.strategies import BatchBALD

    from ..conftest import tiny_net

    X_init, y_init, X_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), BatchBALD(n_samples=4), random_state=0)
    learner.fit(X_init, y_init)
    backend = LabelStudioBackend(learner, label_config=DIGITS_CONFIG, background_refit=False)
    greedy, calls = batchbald.batchbald_greedy, []

    def recording(stack, n, **kwargs):
        calls.append((n, batchbald.mutual_information(stack)))
        return greedy(stack, n, **kwargs)

    monkeypatch.setattr(batchbald, "batchbald_greedy", recording)
    tasks = [task(i, X_pool[i]) for i in range(120)]
    scores = np.array([r["score"] for r in backend.predict(tasks)])
    assert [n for n, _ in calls] == [1]  # not the greedy joint selection of all 120
    ((_, information),) = calls
    # The known answer: served in the order of BALD's mutual information.
    np.testing.assert_array_equal(np.argsort(scores), np.argsort(-information, kind="stable"))


# -- clear errors --------------------------------------------------------------


def _choice_item(value):
    return {"from_name": "digit", "to_name": "image", "type": "choices", "value": value}


def _annotation_with(result, annotation_id=1, task_id=100):
    return {"id": annotation_id, "task": task_id, "result": result}


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/predict", '{"tasks": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        (
            "/webhook",
            _event("ANNOTATION_CREATED", _annotation_with([]), {"id": [100], "data": {}}),
            "task[0].id: expected an integer",
        ),
        (
            "/webhook",
            _event("ANNOTATION_CREATED", _annotation_with([_choice_item("3")]), {"id": 100}),
            "result[0].value: expected an object",
        ),
        (
            "/webhook",
            _event("ANNOTATION_CREATED", _annotation_with([_choice_item(["3"])]), {"id": 100}),
            "result[0].value: expected an object",
        ),
        (
            "/webhook",
            _event(
                "ANNOTATION_CREATED",
                _annotation_with([_choice_item({"choices": {"a": "3"}})]),
                {"id": 100},
            ),
            "value.choices: expected a list of strings",
        ),
        ("/train", {"annotations": [5]}, "annotations[0]: expected a task object"),
        (
            "/train",
            {"annotations": [{"id": 100, "data": {}, "annotations": 3}]},
            "annotations[0].annotations: expected a list",
        ),
        (
            "/train",
            {
                "annotations": [
                    {
                        "id": 100,
                        "data": {},
                        "annotations": [
                            _annotation_with([_choice_item({"choices": ["3"]})], "a"),
                            _annotation_with([_choice_item({"choices": ["4"]})], 2),
                        ],
                    }
                ]
            },
            "annotations[0].annotations[0].id: expected an integer, got 'a'",
        ),
    ],
)
def test_malformed_bodies_answer_400_naming_the_field(client, backend, path, payload, field):
    answer = _post(client, path, payload)
    assert answer.status_code == 400, answer.get_json()
    assert field in answer.get_json()["error"]
    assert not backend.path.exists() and dict(backend.ledger) == {}


def test_a_refused_request_changes_nothing(client, backend, rows):
    X, y = rows
    bulk = {
        "action": "ANNOTATIONS_CREATED",
        "annotation": [annotation(1, 100, y[0]), annotation(2, 999, y[1])],
        "task": [task(100, X[0])],
        "project": 3,
    }
    refused = _post(client, "/webhook", bulk)
    assert refused.status_code == 400 and "no task 999" in refused.get_json()["error"]
    train = {"annotations": [{**task(100, X[0]), "annotations": [annotation(1, 100, y[0])]}, 7]}
    refused = _post(client, "/train", train)
    assert refused.status_code == 400
    assert not backend.path.exists() and dict(backend.ledger) == {}
    assert backend.version == 0


def test_an_unexpected_failure_answers_500_without_internals(client, backend, monkeypatch):
    def broken(tasks):
        raise RuntimeError("/home/team/secret/path exploded")

    monkeypatch.setattr(backend, "predict", broken)
    answer = _post(client, "/predict", {"tasks": []})
    assert answer.status_code == 500
    assert "secret" not in answer.get_data(as_text=True)
    assert "RuntimeError" in answer.get_json()["error"]


# -- the command line ----------------------------------------------------------


@pytest.fixture
def learner_file(fitted_learner, tmp_path):
    return fitted_learner.save(tmp_path / "campaign.skactive")


def _exits_2(argv, capsys, flag):
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in argv])
    assert stop.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--max-request-mb", "nan"], "--max-request-mb"),
        (["--max-request-mb", "inf"], "--max-request-mb"),
        (["--max-request-mb", "-1"], "--max-request-mb"),
        (["--port", "-5"], "--port"),
        (["--port", "99999"], "--port"),
        (["--poll", "nan"], "--poll"),
        (["--url", "ftp://label-studio"], "--url"),
        (["--url", "not an address"], "--url"),
    ],
)
def test_bad_server_flags_exit_2_naming_the_flag(learner_file, capsys, flags, named):
    before = learner_file.read_bytes()
    _exits_2(["serve", "--learner", learner_file, *flags], capsys, named)
    assert learner_file.read_bytes() == before


def test_an_unknown_host_exits_2(learner_file, capsys, monkeypatch):
    def resolve(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)  # nothing is looked up for real
    _exits_2(["serve", "--learner", learner_file, "--host", "no-such-host"], capsys, "--host")


def test_a_pool_of_other_rows_and_a_state_under_a_file_exit_2(learner_file, tmp_path, capsys):
    pool = tmp_path / "pool.npy"
    np.save(pool, np.zeros((5, 3, 3), dtype=np.float32))
    _exits_2(["serve", "--learner", learner_file, "--pool", pool], capsys, "--pool: rows of shape")
    regular = tmp_path / "notes.txt"
    regular.write_text("x")
    _exits_2(
        ["serve", "--learner", learner_file, "--state", regular / "state.skactive"],
        capsys,
        "--state:",
    )


def test_an_unreachable_label_studio_exits_2(learner_file, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    url = f"http://127.0.0.1:{closed}"
    sync_args = ["label-studio", "sync", "--learner", learner_file, "--url", url]
    _exits_2([*sync_args, "--token", "t", "--project", "1"], capsys, "--url")
    poll_args = ["serve", "--learner", learner_file, "--poll", "5", "--url", url]
    _exits_2([*poll_args, "--token", "t", "--project", "1"], capsys, "--url")


def test_a_second_process_on_the_same_state_exits_2(learner_file, fitted_learner, capsys):
    holder = LabelStudioBackend(copy.deepcopy(fitted_learner), path=learner_file).claim()
    try:
        _exits_2(["serve", "--learner", learner_file], capsys, "--state: path:")
    finally:
        holder.close_file()


def test_the_docs_never_put_the_token_on_the_command_line():
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "user_guide" / "label_studio.rst").read_text()
    assert "LABEL_STUDIO_API_KEY" in page
    assert not [line for line in page.splitlines() if "--token $" in line or "--token '" in line]


def test_a_token_data_url_png_round_trips(rows):
    # The helper the tests above build images with: a sanity check of its known answer.
    X, _ = rows
    row = TaskReader((1, 8, 8)).read({"id": 1, "data": {"image": data_url(X[0])}})
    np.testing.assert_allclose(row, np.round(X[0] * 255) / 255, atol=1e-6)


def test_a_prediction_label_studio_refuses_is_one_tasks_error(backend, studio):
    real = studio.post_prediction

    def refuse_one(prediction):
        if prediction["task"] == 103:
            raise RuntimeError("Label Studio answered 404 to POST /api/predictions: gone")
        return real(prediction)

    studio.post_prediction = refuse_one
    report = sync(backend, studio, 3)
    assert report.n_predictions == 11
    assert any("task 103" in e and "404" in e for e in report.errors)
    assert studio.model_version == "skactive-v0"  # the others were pushed and count
    assert all(studio.tasks_[t]["predictions"] for t in studio.tasks_ if t != 103)


def test_the_client_does_not_follow_a_redirect_with_the_token(loopback_server):
    elsewhere = loopback_server(lambda request: Response("{}", 200))

    def redirecting(request):
        return Response("", 301, headers={"Location": f"{elsewhere.url}{request.path}"})

    studio = loopback_server(redirecting)
    client = LabelStudioClient(studio.url, "secret-token")
    with pytest.raises(RuntimeError, match="redirect"):
        client.project(3)
    assert elsewhere.requests == []


def test_a_served_dfal_campaign_trains_on_each_answers_adversarial_twin(digits_split):
    from skactive.strategies import DFAL

    from ..conftest import tiny_net

    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=4), DFAL(), random_state=0).fit(X_init, y_init)
    backend = LabelStudioBackend(learner, label_config=DIGITS_CONFIG, background_refit=False)
    client = make_app(backend).test_client()
    queries = len(learner.history_)
    for _ in range(3):  # /predict ranks on a copy: it adds no query to the saved campaign
        _post(client, "/predict", {"tasks": [task(100 + j, X_pool[j]) for j in range(20)]})
    assert len(backend.learner.history_) == queries
    event = _event("ANNOTATION_CREATED", annotation(1, 100, y_pool[0]), task(100, X_pool[0]))
    assert _post(client, "/webhook", event).get_json()["outcomes"] == ["taught"]
    served = backend.learner
    (position,) = served.rows_of([100])
    # The known answer: one twin, from the answered row, on the other side of the boundary.
    np.testing.assert_array_equal(served.twin_sources_, [position])
    (twin,) = served.X_twins_
    row = served.X_labeled_[position]
    assert served.predict(twin[None])[0] != served.predict(row[None])[0]
    assert str(served.y_twins_[0]) == str(y_pool[0])


def test_webhook_changes_acknowledged_while_the_poller_reads_are_not_undone(
    backend, client, studio, rows
):
    X, y = rows
    studio.tasks_[100]["annotations"] = [annotation(1, 100, y[0])]
    sync(backend, studio, 3)
    assert _labelled(backend) == {100: str(y[0])}
    read = studio.tasks

    def read_while_annotators_work(project):
        snapshot = read(project)  # the poller's snapshot: annotation 1 stands, task 101 bare
        created = _event("ANNOTATION_CREATED", annotation(2, 101, y[1]), task(101, X[1]))
        assert _post(client, "/webhook", created).get_json()["outcomes"] == ["taught"]
        deleted = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}], "project": 3}
        assert _post(client, "/webhook", deleted).get_json()["outcomes"] == ["forgotten"]
        studio.tasks_[101]["annotations"] = [annotation(2, 101, y[1])]
        studio.tasks_[100]["annotations"] = []
        return snapshot

    studio.tasks = read_while_annotators_work
    report = sync(backend, studio, 3)
    # The older snapshot neither withdraws the acknowledged answer nor revives the deletion.
    assert _labelled(backend) == {101: str(y[1])}
    assert "forgotten" not in report.outcomes and "taught" not in report.outcomes
    studio.tasks = read
    assert sync(backend, studio, 3).outcomes == {"duplicate": 1}
    assert _labelled(backend) == {101: str(y[1])}


def test_setup_never_replaces_an_operators_token(fitted_learner, loopback_server):
    studio = loopback_server(_image_server(b""))
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner),
        label_config=DIGITS_CONFIG,
        hostname=studio.url,
        access_token="operator-token",
        background_refit=False,
    )
    backend.setup(3, DIGITS_CONFIG, access_token="someone-elses")  # no address: the known one
    assert backend.credential.header_for(f"{studio.url}/x") == {
        "Authorization": "Token operator-token"
    }


def test_webhook_changes_are_remembered_for_an_hour_only(backend, client, rows, monkeypatch):
    import skactive.label_studio.backend as module

    X, y = rows
    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    _post(
        client, "/webhook", _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), task(100, X[0]))
    )
    now[0] += module.RECEIVED_HORIZON + 1
    _post(
        client, "/webhook", _event("ANNOTATION_CREATED", annotation(2, 101, y[1]), task(101, X[1]))
    )
    # No poller ever ran: the first answer was forgotten by the memory, not by the ledger.
    assert set(backend._received) == {2}
    assert sorted(backend.ledger) == [100, 101]


def test_a_backend_file_of_the_previous_format_loads_with_its_ledger(fitted_learner, tmp_path):
    import pickle

    import skactive

    # What the previous version pickled: the backend object with its own attributes.
    old = {
        "learner": copy.deepcopy(fitted_learner),
        "ledger": {7: {"annotation": 3, "label": "5", "position": 12}},
        "version": 4,
        "changes": 9,
        "trained_changes": 8,
        "n_trained": 40,
        "label_config": DIGITS_CONFIG,
        "project": 3,
        "hostname": "http://127.0.0.1:8080",
        "n_clusters": 8,
        "embedding": None,
        "pool": None,
        "access_token": None,
        "background_refit": True,
    }
    path = tmp_path / "old.skactive"
    # Version 2: written before campaigns were records, still read.
    header = {"format": "skactive-label-studio-backend", "version": 2}
    header["skactive"] = skactive.__version__
    path.write_bytes(pickle.dumps((header, _LegacyPickle(old))))
    loaded = load_backend(path, background_refit=False)
    entry = loaded.ledger[7]
    assert (entry.label, entry.answer_ids()) == ("5", {3})
    assert loaded.learner.rows_of([7]).tolist() == [12]  # the row takes its task id
    assert (loaded.version, loaded.changes, loaded.refit_due, loaded.project) == (4, 9, True, 3)
    assert loaded.credential is None and loaded.pool is None


class _LegacyPickle:
    """Unpickles as the previous format did: a LabelStudioBackend given its old __dict__."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return (_new_backend, (), self.state)


def _new_backend():
    return LabelStudioBackend.__new__(LabelStudioBackend)


def test_a_label_configuration_is_saved_before_it_is_adopted(fitted_learner, tmp_path, monkeypatch):
    import skactive.label_studio.backend as module

    path = tmp_path / "campaign.skactive"
    backend = LabelStudioBackend(copy.deepcopy(fitted_learner), path=path, background_refit=False)
    assert not path.exists()  # a new backend has acknowledged nothing: nothing written

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "save_pickle", disk_full)
    with pytest.raises(module.SaveError):
        backend.use_config(DIGITS_CONFIG)
    assert backend.label_config is None and backend.config is None
    monkeypatch.undo()
    backend.use_config(DIGITS_CONFIG)
    backend.close_file()
    assert load_backend(path).label_config == DIGITS_CONFIG


def test_a_state_saved_with_row_positions_loads_with_task_keys(fitted_learner, tmp_path):
    # The state of the release before rows had keys: each ledger entry held its row.
    from skactive._files import save_pickle
    from skactive.label_studio.annotations import Answer, TaskEntry
    from skactive.label_studio.backend import FILE_KIND, BackendState

    learner = copy.deepcopy(fitted_learner)
    entries = {}
    for task_id, row in ((7, 12), (9, 3)):
        label = str(learner.y_labeled_[row])
        entry = TaskEntry(label, (Answer(task_id * 10, task_id, label),))
        object.__setattr__(entry, "position", row)  # the field that release pickled
        entries[task_id] = entry
    path = save_pickle(BackendState(learner, entries), tmp_path / "old.skactive", kind=FILE_KIND)
    loaded = load_backend(path, background_refit=False)
    assert loaded.learner.rows_of([7, 9]).tolist() == [12, 3]
    assert not any("position" in vars(e) for e in loaded.ledger.values())
    # Forgetting an earlier row no longer moves another task's row out from under it.
    row_of_7 = loaded.learner.X_labeled_[12].copy()
    forgotten = copy.copy(loaded.learner).forget(loaded.learner.rows_of([9]), refit=False)
    np.testing.assert_array_equal(forgotten.X_labeled_[forgotten.rows_of([7])[0]], row_of_7)
