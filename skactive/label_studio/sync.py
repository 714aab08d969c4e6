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

from skactive.label_studio.backend import AnnotationError, LabelStudioBackend
from skactive.label_studio.tasks import TaskError

__all__ = ["LabelStudioClient", "SyncReport", "sync"]

logger = logging.getLogger("skactive.label_studio")


class LabelStudioClient:
    """The few REST calls :func:`sync` needs, with a token.

    Parameters
    ----------
    url : str
        Label Studio's address, e.g. ``http://127.0.0.1:8080``.
    token : str
        An access token (Account & Settings). A legacy token is sent as
        ``Authorization: Token ...``; a personal access token (a JWT
        refresh token) is exchanged for an access token first.
    timeout : float, default=30.0
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0):
        import requests

        if not url or not token:
            raise ValueError("url, token: both are needed to reach Label Studio")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = self._authorization(token)

    def _authorization(self, token: str) -> str:
        if token.count(".") != 2:  # not a JWT: a legacy token
            return f"Token {token}"
        response = self.session.post(
            f"{self.url}/api/token/refresh", json={"refresh": token}, timeout=self.timeout
        )
        response.raise_for_status()
        return f"Bearer {response.json()['access']}"

    def request(self, method: str, path: str, **kwargs):
        """The JSON answer of ``method path``; an HTTP error raises with its body."""
        response = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(
                f"Label Studio answered {response.status_code} to {method} {path}: "
                f"{response.text[:500]}"
            )
        return response.json() if response.content else None

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
    model_version : str
    seconds : dict
        Time spent reading, teaching and refitting, predicting, pushing.
    """

    outcomes: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    refitted: bool = False
    n_predictions: int = 0
    model_version: str = ""
    seconds: dict = field(default_factory=dict)


def sync(backend: LabelStudioBackend, client: LabelStudioClient, project: int) -> SyncReport:
    """Bring ``backend`` and a Label Studio project up to date with each other.

    Parameters
    ----------
    backend : LabelStudioBackend
    client : LabelStudioClient
    project : int
        The project's id.

    Returns
    -------
    report : SyncReport
    """
    report, clock = SyncReport(), time.perf_counter()
    project = backend.check_project(project)
    info = client.project(project)
    backend.setup(project, info.get("label_config"), hostname=client.url, access_token=client.token)
    tasks = list(client.tasks(project))
    report.seconds["read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    annotated = set()
    for task in tasks:
        if not task.get("annotations"):
            continue
        annotated.add(task["id"])
        try:
            report.outcomes[backend.teach_latest(task)] += 1
        except (AnnotationError, TaskError) as exc:
            report.outcomes["error"] += 1
            report.errors.append(str(exc))
    for task_id in [t for t in backend.ledger if t not in annotated]:
        report.outcomes[backend.forget_task(task_id)] += 1
    changed = sum(report.outcomes[k] for k in ("taught", "relabeled", "forgotten"))
    if changed:
        backend.refit()
        report.refitted = True
    report.seconds["teach_and_refit"] = time.perf_counter() - clock

    clock = time.perf_counter()
    version = backend.model_version
    waiting = [t for t in tasks if not t.get("annotations") and not _has_prediction(t, version)]
    predictions = backend.predict(waiting)
    report.seconds["predict"] = time.perf_counter() - clock

    clock = time.perf_counter()
    for task, prediction in zip(waiting, predictions, strict=True):
        if "error" in prediction:
            report.errors.append(prediction["error"])
            continue
        client.post_prediction({"task": task["id"], **prediction})
        report.n_predictions += 1
    client.set_model_version(project, version)
    report.model_version = version
    report.seconds["push"] = time.perf_counter() - clock
    logger.info("sync of project %s: %s", project, dict(report.outcomes))
    return report


def _has_prediction(task: dict, version: str) -> bool:
    predictions = task.get("predictions") or []
    return any(isinstance(p, dict) and p.get("model_version") == version for p in predictions)
