"""Label Studio's ML backend protocol over HTTP: a WSGI app around a backend.

Endpoints (JSON in, JSON out): ``GET /health``, ``POST /setup``,
``POST /predict``, ``POST /webhook`` and ``POST /train``. A refused request
gets HTTP 400 (or 401, 413) and ``{"error": message}`` naming the field; the
server keeps serving and nothing is saved.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket

from skactive.label_studio.annotations import integer_field, parse_task
from skactive.label_studio.backend import LabelStudioBackend, SaveError
from skactive.label_studio.ledger import Change

__all__ = ["LOOPBACK_NAMES", "make_app", "serve", "server_names"]

logger = logging.getLogger("skactive.label_studio")

#: Largest request body accepted by default: 10,000 small image tasks fit.
MAX_REQUEST_BYTES = 64 * 2**20

#: Host names a server bound to loopback answers to.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

#: Addresses that bind every interface.
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")

_TEACH_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")


def make_app(
    backend: LabelStudioBackend,
    *,
    basic_auth=None,
    max_request_bytes=MAX_REQUEST_BYTES,
    allowed_hosts=LOOPBACK_NAMES,
):
    """A Flask (WSGI) app serving ``backend`` to Label Studio.

    A request is checked whole before anything changes: a malformed one is
    refused with 400 naming the field; an answer that cannot be saved gets
    503 naming the file, and nothing was taught.

    Parameters
    ----------
    backend : LabelStudioBackend
    basic_auth : tuple of (str, str), default=None
        User and password every request must carry (Label Studio's
        "Basic Authentication" of the model connection).
    max_request_bytes : int, default=64 MiB
        Larger bodies are refused with HTTP 413.
    allowed_hosts : collection of str, default=LOOPBACK_NAMES
        The ``Host`` names the server answers to; any other gets 403, so a
        web page cannot reach the server through a name it rebinds to
        127.0.0.1 (DNS rebinding). ``"*"`` answers every name; a wildcard
        address (``"0.0.0.0"``) answers every IP address written as such.
        :func:`serve` derives the list from the address it binds.

    Returns
    -------
    app : flask.Flask
        Serve it with any WSGI server, or with :func:`serve`.
    """
    from flask import Flask, jsonify, request
    from werkzeug.exceptions import HTTPException

    app = Flask("skactive.label_studio")
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes
    allowed = {_host_key(name) for name in allowed_hosts}

    def body() -> dict:
        try:
            data = json.loads(request.get_data(cache=True) or b"null")
        except RecursionError:
            raise ValueError("body: the JSON is nested too deeply") from None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ValueError("body: expected a JSON object")
        return data

    @app.before_request
    def check_host():
        if not _host_allowed(request.host, allowed):
            logger.warning("refused a request for Host %r", request.host)
            message = (
                f"host: this server does not answer to {request.host!r}; start it with "
                "--allowed-host NAME to add a name"
            )
            return jsonify(error=message), 403
        return None

    @app.before_request
    def authenticate():
        if basic_auth is None:
            return None
        given = request.authorization
        user, password = basic_auth
        if (
            given is None
            or not hmac.compare_digest(str(given.username or ""), user)
            or not hmac.compare_digest(str(given.password or ""), password)
        ):
            return jsonify(error="authorization: wrong or missing credentials"), 401
        return None

    @app.errorhandler(ValueError)
    def refused(exc):
        logger.warning("%s %s refused: %s", request.method, request.path, exc)
        return jsonify(error=str(exc)), 400

    @app.errorhandler(SaveError)
    def not_saved(exc):
        logger.error("%s %s not saved: %s", request.method, request.path, exc)
        return jsonify(error=str(exc)), 503

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return jsonify(error=f"{exc.name}: {exc.description}"), exc.code

    @app.errorhandler(Exception)
    def failed(exc):
        # The details go to the log, not to whoever sent the request.
        logger.exception("%s %s failed", request.method, request.path)
        return jsonify(error=f"internal error ({type(exc).__name__}); see the server's log"), 500

    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(backend.health())

    @app.post("/setup")
    def setup():
        data = body()
        hostname, token = data.get("hostname") or None, data.get("access_token") or None
        for name, value in (("hostname", hostname), ("access_token", token)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
        answer = backend.setup(
            data.get("project"), data.get("schema"), hostname=hostname, access_token=token
        )
        return jsonify(answer)

    @app.post("/predict")
    def predict():
        data = body()
        tasks = data.get("tasks")
        if not isinstance(tasks, list):
            raise ValueError("tasks: expected a list of tasks")
        backend.check_project(data.get("project"))
        if backend.config is None and data.get("label_config"):
            backend.use_config(data["label_config"])
        results = backend.predict(tasks)
        return jsonify(results=results, model_version=backend.model_version)

    @app.post("/webhook")
    def webhook():
        data = body()
        action = data.get("action")
        backend.check_project(data.get("project"))
        if action in _TEACH_ACTIONS:
            outcomes = backend.apply(_event_changes(backend, data))
        elif action == "ANNOTATIONS_DELETED":
            outcomes = backend.apply(_deletions(data.get("annotations")))
        elif action == "START_TRAINING":
            outcomes = [backend.refit()]
        else:
            outcomes = ["ignored"]
        return jsonify(status="ok", outcomes=outcomes, model_version=backend.model_version), 201

    @app.post("/train")
    def train():
        data = body()
        tasks = data.get("annotations")
        if not isinstance(tasks, list):
            raise ValueError("annotations: expected a list of tasks with their annotations")
        backend.check_project(data.get("project"))
        if backend.config is None and data.get("label_config"):
            backend.use_config(data["label_config"])
        changes = [backend.task_change(t, where=f"annotations[{i}]") for i, t in enumerate(tasks)]
        outcomes = backend.apply(changes)
        # Only a changed training set is worth a refit (and a new version).
        version = backend.refit_if_due() or backend.model_version
        return jsonify(outcomes=outcomes, model_version=version), 201

    return app


def _event_changes(backend: LabelStudioBackend, data: dict) -> list:
    """The changes an annotation event asks for, every field checked before any is made."""
    annotations, tasks = data.get("annotation"), data.get("task")
    if isinstance(annotations, dict):
        annotations, tasks = [annotations], [tasks]
    elif "annotations" in data or "tasks" in data:  # the bulk form, ANNOTATIONS_CREATED
        annotations, tasks = data.get("annotations"), data.get("tasks")
    if not isinstance(annotations, list) or not isinstance(tasks, list):
        raise ValueError("annotation, task: expected the annotation and its task")
    by_id = {parse_task(t, f"task[{i}]"): t for i, t in enumerate(tasks)}
    changes = []
    for i, annotation in enumerate(annotations):
        where = f"annotation[{i}]" if len(annotations) > 1 else "annotation"
        if not isinstance(annotation, dict):
            raise ValueError(f"{where}: expected an annotation object")
        task_id = integer_field(annotation.get("task"), f"{where}.task")
        if task_id not in by_id:
            raise ValueError(f"task: the event carries no task {task_id} for {where}")
        answer = backend.parse_annotation(annotation, where=where, task_id=task_id)
        changes.append(Change.answer(by_id[task_id], answer))
    return changes


def _deletions(annotations) -> list:
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise ValueError("annotations: expected a list of {'id': ...}")
    return [
        Change.deleted(integer_field(a.get("id"), f"annotations[{i}].id"))
        for i, a in enumerate(annotations)
    ]


def server_names(host: str, extra=()) -> tuple:
    """The ``Host`` names a server bound to ``host`` answers to (see :func:`make_app`).

    Loopback names always; ``host`` itself; for a wildcard address, this
    machine's names and every IP address; and ``extra``.
    """
    names = [*LOOPBACK_NAMES, host, *extra]
    if host in WILDCARD_ADDRESSES:
        names += [socket.gethostname(), socket.getfqdn(), "0.0.0.0"]
    return tuple(dict.fromkeys(n for n in names if n))


def _host_key(name: str) -> str:
    name = str(name).strip().lower()
    return name[1:-1] if name.startswith("[") and name.endswith("]") else name


def _host_allowed(header: str, allowed: set) -> bool:
    if "*" in allowed:
        return True
    host = (header or "").strip().lower()
    if host.startswith("["):  # [::1]:9090
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":")[0]
    if host in allowed:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    # An address written as such cannot be rebound by DNS; a wildcard server has them all.
    return "0.0.0.0" in allowed or "::" in allowed


def serve(
    backend: LabelStudioBackend,
    *,
    host="127.0.0.1",
    port=9090,
    allowed_hosts=(),
    **app_options,
) -> None:
    """Serve ``backend`` until interrupted, refitting in the background.

    Binds to ``127.0.0.1`` unless ``host`` says otherwise, and answers only
    to the names of :func:`server_names` plus ``allowed_hosts`` (``"*"``:
    any). Uses werkzeug's threaded server, enough for one labelling team;
    behind a production WSGI server, call :func:`make_app` and
    ``backend.start()`` yourself.
    """
    from werkzeug.serving import run_simple

    app = make_app(backend, allowed_hosts=server_names(host, allowed_hosts), **app_options)
    backend.claim().start()
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        backend.close(timeout=60)
