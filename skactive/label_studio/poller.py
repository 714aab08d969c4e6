"""The poller: read annotations from Label Studio's REST API, push predictions back.

Label Studio 1.23 refuses webhooks to loopback and private addresses (its
SSRF protection), so a backend on the same machine or network cannot rely
on them. :func:`sync` asks instead: it reads every task of the project with
its annotations, teaches what is new, refits if anything changed, posts a
prediction (with its ``cluster``) for each unlabelled task, and sets the
project's ``model_version`` so that "Uncertainty sampling" uses them.
Annotations seen through both doors are taught once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from skactive.label_studio.backend import VERSION_PREFIX, LabelStudioBackend
from skactive.label_studio.credentials import Credential
from skactive.param_validation import BOOLEAN, options, validate_params

__all__ = [
    "ONE_BY_ONE_LIMIT",
    "PUSH_MODES",
    "UNCERTAINTY_SAMPLING",
    "LabelStudioClient",
    "SyncReport",
    "sync",
]

#: Label Studio's task sampling that serves the lowest prediction score first.
#: The Community edition's settings page shows it as an Enterprise feature, but
#: its server honours it when set through the REST API, as :func:`sync` does.
UNCERTAINTY_SAMPLING = "Uncertainty sampling"

#: Ways :func:`sync` can store predictions.
PUSH_MODES = ("auto", "one-by-one", "bulk")

#: Most predictions ``push="auto"`` stores one by one (with clusters).
ONE_BY_ONE_LIMIT = 200

#: Predictions per bulk import request. Label Studio stores an import in one
#: database transaction (about 4 ms a prediction on 2 cores): 10,000 at once
#: held SQLite's lock for 40 s, and the annotator's ``/next`` failed with
#: "database is locked" meanwhile; 500 hold it about 2 s.
IMPORT_CHUNK = 500

#: Seconds a bulk write may take: removing a model version of 10,000
#: predictions took over 30 s on SQLite, and a timed-out request fails the
#: sync although Label Studio carries it out.
BULK_TIMEOUT = 300.0

#: HTTP statuses that mean "no such endpoint" (an older Label Studio).
NO_ENDPOINT = (404, 405)

logger = logging.getLogger("skactive.label_studio")


class LabelStudioError(RuntimeError):
    """Label Studio answered a request with an error; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class LabelStudioClient:
    """The few REST calls :func:`sync` needs, with a token.

    Parameters
    ----------
    url : str
        Label Studio's address, e.g. ``http://127.0.0.1:8080``.
    token : str
        An access token (Account & Settings). A legacy token is sent as
        ``Authorization: Token ...``; a personal access token (a JWT
        refresh token) is exchanged for a short-lived access token, sent as
        ``Bearer``, and exchanged again before it expires or after a 401
        (see :class:`~skactive.label_studio.credentials.Credential`).
    timeout : float, default=30.0
        Seconds to wait for an answer; the writes whose work grows with the
        project (a bulk import, removing a model version) wait
        :data:`BULK_TIMEOUT`.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0):
        import requests

        if not url or not token:
            raise ValueError("url, token: both are needed to reach Label Studio")
        self.url = url.rstrip("/")
        self.credential = Credential(self.url, token, timeout=timeout)
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs):
        """The JSON answer of ``method path``; an HTTP error raises with its body."""
        response = self._send(method, path, **kwargs)
        if response.status_code == 401 and self.credential.is_personal:
            self.credential.refresh()  # the access token expired early: exchange it again
            response = self._send(method, path, **kwargs)
        if response.is_redirect:
            raise RuntimeError(
                f"Label Studio answered {method} {path} with a redirect to "
                f"{response.headers.get('location')!r}; give its final address as --url (a token "
                "does not follow redirects)"
            )
        if response.status_code >= 400:
            raise LabelStudioError(
                f"Label Studio answered {response.status_code} to {method} {path}: "
                f"{response.text[:500]}",
                response.status_code,
            )
        return response.json() if response.content else None

    def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs):
        headers = {"Authorization": self.credential.header()}
        return self.session.request(
            method,
            f"{self.url}{path}",
            headers=headers,
            timeout=self.timeout if timeout is None else max(timeout, self.timeout),
            allow_redirects=False,
            **kwargs,
        )

    def project(self, project: int) -> dict:
        """The project, with its ``label_config``."""
        return self.request("GET", f"/api/projects/{project}")

    def tasks(self, project: int, *, page_size: int = 100):
        """Every task of the project, with annotations and predictions, page by page."""
        page, seen = 1, 0
        while True:
            answer = self.request(
                "GET",
                "/api/tasks",
                params={"project": project, "page": page, "page_size": page_size, "fields": "all"},
            )
            tasks = answer.get("tasks", []) if isinstance(answer, dict) else answer
            yield from tasks
            seen += len(tasks)
            total = answer.get("total", seen) if isinstance(answer, dict) else seen
            if not tasks or seen >= total:
                return
            page += 1

    def post_prediction(self, prediction: dict) -> dict:
        """Store one prediction (``task``, ``result``, ``score``, ``cluster``, ...)."""
        return self.request("POST", "/api/predictions", json=prediction)

    def update_prediction(self, prediction_id: int, prediction: dict) -> dict:
        """Replace a stored prediction's fields (its result, score, cluster, version)."""
        return self.request("PATCH", f"/api/predictions/{prediction_id}", json=prediction)

    def delete_prediction(self, prediction_id: int) -> None:
        """Remove one stored prediction."""
        self.request("DELETE", f"/api/predictions/{prediction_id}")

    def delete_model_version(self, project: int, version: str) -> None:
        """Remove every prediction of ``version`` in the project, in one request."""
        self.request(
            "DELETE",
            f"/api/projects/{project}/model-versions/",
            json={"model_version": version},
            timeout=BULK_TIMEOUT,
        )

    def import_predictions(self, project: int, predictions: list) -> dict:
        """Store many predictions in one request (Label Studio drops their ``cluster``)."""
        return self.request(
            "POST",
            f"/api/projects/{project}/import/predictions",
            json=predictions,
            timeout=BULK_TIMEOUT,
        )

    def set_sampling(self, project: int, sampling: str) -> None:
        """Set how Label Studio picks the next task (``"Uncertainty sampling"``...)."""
        self.request("PATCH", f"/api/projects/{project}", json={"sampling": sampling})

    def set_model_version(self, project: int, version: str) -> None:
        """Make ``version`` the project's model version (what sampling reads)."""
        self.request("PATCH", f"/api/projects/{project}", json={"model_version": version})


@dataclass
class SyncReport:
    """What one :func:`sync` did.

    Attributes
    ----------
    outcomes : Counter
        Annotations by what happened to them (``taught``, ``relabeled``,
        ``duplicate``, ``skipped``, ``forgotten``, ``error``).
    errors : list of str
        Why annotations or tasks were refused.
    refitted : bool
    n_predictions : int
        Predictions posted.
    removed : int
        Older model versions of this backend removed after the switch.
    model_version : str
    seconds : dict
        Time spent reading, teaching and refitting, predicting, pushing.
    """

    outcomes: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    refitted: bool = False
    n_predictions: int = 0
    removed: int = 0
    model_version: str = ""
    seconds: dict = field(default_factory=dict)


def sync(
    backend: LabelStudioBackend,
    client: LabelStudioClient,
    project: int,
    *,
    set_sampling: bool = True,
    push: str = "auto",
) -> SyncReport:
    """Bring ``backend`` and a Label Studio project up to date with each other.

    Parameters
    ----------
    backend : LabelStudioBackend
    client : LabelStudioClient
    project : int
        The project's id.
    set_sampling : bool, default=True
        Switch the project's task sampling to "Uncertainty sampling" if it
        is not (Label Studio then serves the lowest score first).
    push : {"auto", "one-by-one", "bulk"}, default="auto"
        How predictions reach Label Studio. ``"one-by-one"`` stores each
        with its ``cluster`` (what "Uncertainty sampling" interleaves); it
        costs one request per task (about 80 ms each on Label Studio's own
        server). ``"bulk"`` sends them in imports of :data:`IMPORT_CHUNK`
        (about 1 s for 1,000);
        Label Studio 1.23 then drops the clusters. ``"auto"`` goes one by
        one up to :data:`ONE_BY_ONE_LIMIT` predictions, in bulk beyond.

    Notes
    -----
    An update never shrinks what Label Studio can serve: its uncertainty
    sampling only considers tasks with a prediction of the project's model
    version, so the new version's predictions are all stored beside the old
    ones first, then the project switches to the new version once, then the
    older versions of this backend are removed (one request per version; per
    prediction where Label Studio has no such endpoint). A task holds at
    most two of this backend's predictions at any moment, and one between
    updates.

    Returns
    -------
    report : SyncReport
    """
    # Refused before anything is read, taught or saved.
    validate_params(
        {"push": push, "set_sampling": set_sampling},
        {"push": [options(*PUSH_MODES)], "set_sampling": [BOOLEAN]},
    )
    report, clock = SyncReport(), time.perf_counter()
    project = backend.check_project(project)
    info = client.project(project)
    backend.setup(project, info.get("label_config"), hostname=client.url)
    credential = getattr(client, "credential", None)
    if credential is not None:  # pinned to its own origin: sent nowhere else
        backend.configure(credential=credential)
    since = time.monotonic()  # webhook changes after this are newer than the snapshot
    tasks = list(client.tasks(project))
    report.seconds["read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report.outcomes, report.errors = backend.reconcile(tasks, since=since)
    report.refitted = backend.refit_if_due() is not None
    report.seconds["teach_and_refit"] = time.perf_counter() - clock

    clock = time.perf_counter()
    current = backend.model_version
    waiting = [t for t in tasks if not t.get("annotations") and not _has_prediction(t, current)]
    predictions = backend.predict(waiting)
    report.seconds["predict"] = time.perf_counter() - clock

    clock = time.perf_counter()
    readable = []
    for task, prediction in zip(waiting, predictions, strict=True):
        if "error" in prediction:
            report.errors.append(prediction["error"])
        else:
            readable.append({"task": task["id"], **prediction})
    # 1. The new version beside the old: the project still samples the old one.
    one_by_one = push == "one-by-one" or (push == "auto" and len(readable) <= ONE_BY_ONE_LIMIT)
    if one_by_one:
        stored = []
        for prediction in readable:
            try:
                client.post_prediction(prediction)
            except RuntimeError as exc:  # e.g. the task was deleted meanwhile
                report.errors.append(f"task {prediction['task']}: prediction not stored ({exc})")
                continue
            stored.append(prediction)
        readable = stored
    else:
        for start in range(0, len(readable), IMPORT_CHUNK):
            client.import_predictions(project, readable[start : start + IMPORT_CHUNK])
    report.n_predictions = len(readable)
    # The version of what was pushed (a background refit may have moved on since).
    version = predictions[0]["model_version"] if predictions else current
    pushed = report.n_predictions or any(_has_prediction(t, version) for t in tasks)
    # 2. One switch (Label Studio accepts only a version some prediction carries).
    if pushed and info.get("model_version") != version:
        client.set_model_version(project, version)
    # 3. Only then the older versions go, so the project never grows without bound.
    if pushed:
        report.removed = _remove_old_versions(client, project, tasks, keep=version, report=report)
    report.model_version = version
    if set_sampling and info.get("sampling") != UNCERTAINTY_SAMPLING:
        client.set_sampling(project, UNCERTAINTY_SAMPLING)
    report.seconds["push"] = time.perf_counter() - clock
    logger.info(
        "sync of project %s: %s; %d predictions of %s; seconds %s",
        project,
        dict(report.outcomes),
        report.n_predictions,
        version,
        {k: round(v, 2) for k, v in report.seconds.items()},
    )
    return report


def _own_versions(tasks) -> dict:
    """``{version: [prediction ids]}`` of this backend's predictions on ``tasks``."""
    found: dict = {}
    for task in tasks:
        for prediction in task.get("predictions") or []:
            if not isinstance(prediction, dict):
                continue
            version = str(prediction.get("model_version") or "")
            if version.startswith(VERSION_PREFIX):
                found.setdefault(version, []).append(prediction.get("id"))
    return found


def _remove_old_versions(client, project: int, tasks, *, keep: str, report) -> int:
    """Remove this backend's predictions of versions other than ``keep``; how many versions.

    One request per version. Only a Label Studio without that endpoint
    (404, 405) gets one request per prediction; any other failure (say
    "database is locked" while an annotator saves) leaves the version for
    the next sync to remove, rather than turning one request into one per
    task.
    """
    removed = 0
    for version, ids in sorted(_own_versions(tasks).items()):
        if version == keep:
            continue
        try:
            client.delete_model_version(project, version)
        except LabelStudioError as exc:
            if exc.status not in NO_ENDPOINT:
                report.errors.append(f"version {version} not removed, retried next sync ({exc})")
                continue
            for prediction_id in (i for i in ids if i is not None):
                try:
                    client.delete_prediction(prediction_id)
                except RuntimeError as exc:
                    report.errors.append(f"prediction {prediction_id} not removed ({exc})")
        removed += 1
    return removed


def _has_prediction(task: dict, version: str) -> bool:
    predictions = task.get("predictions") or []
    return any(isinstance(p, dict) and p.get("model_version") == version for p in predictions)
