"""Label Studio's ML backend protocol over HTTP: a WSGI app around a backend.

Endpoints (JSON in, JSON out): ``GET /health``, ``POST /setup``,
``POST /predict``, ``POST /webhook`` and ``POST /train``. A refused request
gets HTTP 400 (or 401, 413) and ``{"error": message}`` naming the field; the
server keeps serving and nothing is saved.
"""

from __future__ import annotations

import hmac
import logging

from skactive.label_studio.backend import AnnotationError, LabelStudioBackend
from skactive.label_studio.tasks import TaskError

__all__ = ["make_app", "serve"]

logger = logging.getLogger("skactive.label_studio")

#: Largest request body accepted by default: 10,000 small image tasks fit.
MAX_REQUEST_BYTES = 64 * 2**20

_TEACH_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")


def make_app(backend: LabelStudioBackend, *, basic_auth=None, max_request_bytes=MAX_REQUEST_BYTES):
    """A Flask (WSGI) app serving ``backend`` to Label Studio.

    Parameters
    ----------
    backend : LabelStudioBackend
    basic_auth : tuple of (str, str), default=None
        User and password every request must carry (Label Studio's
        "Basic Authentication" of the model connection).
    max_request_bytes : int, default=64 MiB
        Larger bodies are refused with HTTP 413.

    Returns
    -------
    app : flask.Flask
        Serve it with any WSGI server, or with :func:`serve`.
    """
    from flask import Flask, jsonify, request
    from werkzeug.exceptions import HTTPException

    app = Flask("skactive.label_studio")
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes

    def body() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ValueError("body: expected a JSON object")
        return data

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

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return jsonify(error=f"{exc.name}: {exc.description}"), exc.code

    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(backend.health())

    @app.post("/setup")
    def setup():
        data = body()
        answer = backend.setup(
            data.get("project"),
            data.get("schema"),
            hostname=data.get("hostname") or None,
            access_token=data.get("access_token") or None,
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
            outcomes = _teach_event(backend, data)
        elif action == "ANNOTATIONS_DELETED":
            annotations = data.get("annotations")
            if not isinstance(annotations, list) or not all(
                isinstance(a, dict) for a in annotations
            ):
                raise ValueError("annotations: expected a list of {'id': ...}")
            outcomes = [backend.forget_annotation(a.get("id")) for a in annotations]
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
        if backend.config is None and data.get("label_config"):
            backend.use_config(data["label_config"])
        outcomes = [_outcome(backend.teach_latest, task) for task in tasks]
        # Only a changed training set is worth a refit (and a new version).
        version = backend.refit_if_due() or backend.model_version
        return jsonify(outcomes=outcomes, model_version=version), 201

    return app


def _teach_event(backend: LabelStudioBackend, data: dict) -> list[str]:
    annotations, tasks = data.get("annotation"), data.get("task")
    if isinstance(annotations, dict):
        annotations, tasks = [annotations], [tasks]
    if not isinstance(annotations, list) or not isinstance(tasks, list):
        raise ValueError("annotation, task: expected the annotation and its task")
    by_id = {t.get("id"): t for t in tasks if isinstance(t, dict)}
    outcomes = []
    for annotation in annotations:
        task = by_id.get(annotation.get("task")) if isinstance(annotation, dict) else None
        if task is None:
            raise ValueError("task: the event carries no task for its annotation")
        outcomes.append(_outcome(backend.teach_annotation, task, annotation))
    return outcomes


def _outcome(teach, *args) -> str:
    # One bad annotation must not lose the others of the same event.
    try:
        return teach(*args)
    except (AnnotationError, TaskError) as exc:
        logger.warning("annotation refused: %s", exc)
        return f"error: {exc}"


def serve(backend: LabelStudioBackend, *, host="127.0.0.1", port=9090, **app_options) -> None:
    """Serve ``backend`` until interrupted, refitting in the background.

    Binds to ``127.0.0.1`` unless ``host`` says otherwise. Uses werkzeug's
    threaded server, enough for one labelling team; behind a production
    WSGI server, call :func:`make_app` and ``backend.start()`` yourself.
    """
    from werkzeug.serving import run_simple

    app = make_app(backend, **app_options)
    backend.start()
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        backend.stop(timeout=60)
