"""A person labels digits in a real Label Studio while skactive orders and learns.

Starts Label Studio 1.23 from ``.venv-label-studio`` (``scripts/install_label_studio.sh``,
which ``.ci/run`` calls) on 127.0.0.1 with a temporary data directory, and
``python -m skactive serve`` as a user would; both are stopped by their PID.
Skipped, with the reason, when Label Studio could not be installed. Run it
alone with ``pytest -m label_studio``. With ``SKACTIVE_LABEL_STUDIO_OUT`` set
to a folder, the screenshots and the measured times are written there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from .conftest import DIGITS_CONFIG, EXTRA_MISSING, data_url, png_bytes

requests = pytest.importorskip("requests", reason=EXTRA_MISSING)
pytest.importorskip("flask", reason=EXTRA_MISSING)

from skactive import ActiveLearner  # noqa: E402
from skactive.label_studio import Credential, TaskReader, load_backend  # noqa: E402
from skactive.strategies import EntropySampling  # noqa: E402

from ..conftest import tiny_net  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.label_studio]

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("SKACTIVE_LABEL_STUDIO_VENV", ROOT / ".venv-label-studio"))
EMAIL, PASSWORD = "annotator@example.com", "skactive-e2e-Passw0rd"
TOKEN = "5ac71fe0" * 5
N_TASKS, N_UPLOADED, N_INITIAL = 60, 2, 40
#: Data manager columns the screenshot leaves out (the ground truth among them).
HIDDEN_COLUMNS = [
    "inner_id",
    "completed_at",
    "cancelled_annotations",
    "total_predictions",
    "annotators",
    "annotations_results",
    "annotations_ids",
    "predictions_model_versions",
    "file_upload",
    "storage_filename",
    "created_at",
    "updated_at",
    "updated_by",
    "avg_lead_time",
    "draft_exists",
    "data.truth",
]


def _skip_reason() -> str | None:
    failed = Path(f"{VENV}.failed")
    if failed.is_file():
        return f"Label Studio could not be installed: {failed.read_text().strip()}"
    if not (VENV / "bin" / "label-studio").is_file():
        return (
            f"Label Studio is not installed in {VENV}: run scripts/install_label_studio.sh "
            "(.ci/run does)"
        )
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command, log: Path, env=None) -> subprocess.Popen:
    # A session of its own: stopping it stops its children too, whatever
    # signals the test run itself ignores (pytest & wait ignores SIGINT).
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(c) for c in command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


def _wait_for(check, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log is not None and log.is_file() else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tail}")


def _wait_until_up(url: str, timeout: float, what: str, log: Path) -> None:
    _wait_for(lambda: requests.get(f"{url}/health", timeout=5).ok, timeout, what, log)


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    data = tmp_path_factory.mktemp("label-studio")
    port = _free_port()
    env = {
        **os.environ,
        "ML_BLOCK_LOCAL_IP": "false",  # the backend runs on this machine
        "SENTRY_DSN": "",  # no error reports leave the machine
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",  # "Token ..." for the REST API
    }
    log = data / "label-studio.log"
    process = _start(
        [
            VENV / "bin" / "label-studio",
            "start",
            "--no-browser",
            "--data-dir",
            data / "data",
            "--internal-host",
            "127.0.0.1",
            "-p",
            port,
            "--username",
            EMAIL,
            "--password",
            PASSWORD,
            "--user-token",
            TOKEN,
        ],
        log,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(
            f"{url}", 600, "Label Studio to start (the first start migrates its database)", log
        )
        session = requests.Session()
        session.headers["Authorization"] = f"Token {TOKEN}"
        yield SimpleNamespace(url=url, session=session, log=log, tokens={"legacy": TOKEN})
    finally:
        _stop(process)


def _api(ls, method, path, **kwargs):
    response = ls.session.request(method, f"{ls.url}{path}", timeout=60, **kwargs)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def _choice(label) -> list:
    value = {"choices": [str(label)]}
    return [{"from_name": "digit", "to_name": "image", "type": "choices", "value": value}]


def _predictions(ls, project, version):
    tasks = _api(
        ls, "GET", "/api/tasks", params={"project": project, "fields": "all", "page_size": 1000}
    )
    found = {}
    for task in tasks["tasks"]:
        for prediction in task["predictions"]:
            if prediction["model_version"] == version:
                found[task["id"]] = prediction
    return tasks["tasks"], found


def _token(ls, kind: str) -> str:
    """The legacy token, or a personal access token made through Label Studio's API (once)."""
    if kind not in ls.tokens:
        answer = _api(ls, "POST", "/api/token/")
        ls.tokens[kind] = answer["token"]
        assert ls.tokens[kind].count(".") == 2, "a personal access token is a JWT"
    return ls.tokens[kind]


@pytest.mark.parametrize("token_kind", ["legacy", "personal"])
def test_a_person_labels_digits_in_label_studio_with_skactive(
    label_studio, digits_split, tmp_path, token_kind
):
    ls, figures = label_studio, {}
    token = _token(ls, token_kind)
    # The token reaches skactive through the environment, never the command line.
    env = {**os.environ, "LABEL_STUDIO_API_KEY": token}
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=6), EntropySampling(), random_state=0)
    learner_file = learner.fit(X_init[:N_INITIAL], y_init[:N_INITIAL]).save(
        tmp_path / "digits.skactive"
    )
    state = tmp_path / "digits.label-studio.skactive"

    # A project with an image-classification configuration and 60 digits as tasks.
    project = _api(
        ls, "POST", "/api/projects", json={"title": "digits", "label_config": DIGITS_CONFIG}
    )["id"]
    tasks = [
        {"image": data_url(X_pool[i], size=64), "truth": int(y_pool[i])} for i in range(N_TASKS)
    ]
    _api(ls, "POST", f"/api/projects/{project}/import", json=tasks)
    # Two more as uploaded files, which the backend fetches from Label Studio with the token.
    uploads = {f"digit-{i}.png": N_TASKS + i for i in range(N_UPLOADED)}
    # One form field per file: Label Studio reads one file per field name.
    files = {
        f"file{i}": (name, png_bytes(X_pool[row], size=64), "image/png")
        for i, (name, row) in enumerate(uploads.items())
    }
    _api(ls, "POST", f"/api/projects/{project}/import", files=files)

    # skactive's server, polling Label Studio every second.
    port = _free_port()
    backend_url = f"http://127.0.0.1:{port}"
    serve_log = tmp_path / "serve.log"
    command = [
        sys.executable,
        "-m",
        "skactive",
        "serve",
        "--learner",
        learner_file,
        "--state",
        state,
    ]
    command += ["--port", port]
    poll = ["--poll", "1", "--url", ls.url, "--project", project]
    server = _start(command + poll, serve_log, env=env)
    try:
        _wait_until_up(backend_url, 120, "skactive", serve_log)

        # Connected as the project's model. Label Studio answers 403 because the
        # per-project webhook it adds is refused for a loopback URL (its SSRF
        # protection), but the connection itself is made: hence the poller.
        ls.session.post(
            f"{ls.url}/api/ml",
            json={"project": project, "url": backend_url, "title": "skactive"},
            timeout=60,
        )
        backends = _api(ls, "GET", "/api/ml", params={"project": project})
        assert [b["readable_state"] for b in backends] == ["Connected"]

        # The poller pushed one prediction per task and set the project's version.
        def pushed():
            info = _api(ls, "GET", f"/api/projects/{project}")
            tasks, found = _predictions(ls, project, "skactive-v0")
            ready = info["model_version"] == "skactive-v0" and len(found) == N_TASKS + N_UPLOADED
            return ready and info["sampling"] == "Uncertainty sampling" and (tasks, found)

        tasks, found = _wait_for(pushed, 120, "the first predictions", serve_log)
        # Scores follow the strategy: the most uncertain task has the lowest score.
        reader = TaskReader((1, 8, 8), hostname=ls.url, credential=Credential(ls.url, token))
        ids = [t["id"] for t in tasks]
        rows = np.stack([reader.read(t) for t in tasks])
        proba = ActiveLearner.load(learner_file).predict_proba(rows)
        entropy = -(proba * np.log(np.clip(proba, 1e-12, None))).sum(axis=1)
        scores = np.array([found[i]["score"] for i in ids])
        assert [ids[i] for i in np.argsort(scores)] == [
            ids[i] for i in np.argsort(-entropy, kind="stable")
        ]
        assert all(found[i]["cluster"] is not None for i in ids)
        first = ids[int(np.argmin(scores))]
        # What the annotator's data manager shows: the tasks in skactive's order.
        hidden = [f"tasks:{c}" for c in HIDDEN_COLUMNS]
        view = {"title": "skactive order", "ordering": ["tasks:predictions_score"]}
        view["hiddenColumns"] = {"explore": hidden, "labeling": hidden}
        view = _api(ls, "POST", "/api/dm/views", json={"project": project, "data": view})
        _screenshot(
            ls, f"/projects/{project}/data?tab={view['id']}", "data_manager", tmp_path, figures
        )

        # The annotator asks for the next task: Label Studio serves the lowest score.
        served, truth = [], {t["id"]: _truth(t, uploads, y_pool) for t in tasks}
        assert sum(t["data"]["image"].startswith("/data/upload/") for t in tasks) == N_UPLOADED
        annotations = {}
        for _ in range(5):
            task = _api(ls, "GET", f"/api/projects/{project}/next")
            served.append(task["id"])
            body = {"result": _choice(truth[task["id"]]), "lead_time": 2.0, "project": project}
            annotations[task["id"]] = _api(
                ls, "POST", f"/api/tasks/{task['id']}/annotations", json=body
            )
            answered = time.monotonic()
        assert served[0] == first

        # The poller teaches the five answers, refits and pushes a new version.
        def learned():
            health = requests.get(f"{backend_url}/health", timeout=5).json()
            info = _api(ls, "GET", f"/api/projects/{project}")
            taught = health["n_trained"] == N_INITIAL + 5
            return (
                taught
                and info["model_version"] == health["model_version"]
                and info["model_version"]
            )

        version = _wait_for(learned, 120, "a model version with the five answers", serve_log)
        figures["seconds_from_answer_to_new_version"] = round(time.monotonic() - answered, 2)
        saved = load_backend(state)
        assert sorted(saved.ledger) == sorted(served)
        assert [saved.ledger[t].label for t in served] == [str(truth[t]) for t in served]
        _, fresh = _predictions(ls, project, version)
        stale = {t: fresh[t] for t in served if t in fresh}
        assert set(fresh) == set(ids) - set(served), stale

        # The same annotation through the webhook is taught once.
        task_json = _api(ls, "GET", f"/api/tasks/{served[0]}")
        event = {
            "action": "ANNOTATION_CREATED",
            "annotation": annotations[served[0]],
            "task": task_json,
            "project": {"id": project},
        }
        again = requests.post(f"{backend_url}/webhook", json=event, timeout=30).json()
        assert again["outcomes"] == ["duplicate"]

        # An updated answer relabels; a deleted one is withdrawn.
        changed, removed = served[1], served[2]
        new_label = (truth[changed] + 1) % 10
        _api(
            ls,
            "PATCH",
            f"/api/annotations/{annotations[changed]['id']}",
            json={"result": _choice(new_label)},
        )
        _api(ls, "DELETE", f"/api/annotations/{annotations[removed]['id']}")

        def corrected():
            ledger = load_backend(state).ledger
            return removed not in ledger and ledger[changed].label == str(new_label)

        _wait_for(corrected, 120, "the update and the deletion", serve_log)
        health = requests.get(f"{backend_url}/health", timeout=5).json()
        assert health["n_labeled"] == N_INITIAL + 4
        # The labelling view of the task Label Studio serves next, with skactive's prediction.
        upcoming = _api(ls, "GET", f"/api/projects/{project}/next")["id"]
        page = f"/projects/{project}/data?tab={view['id']}&task={upcoming}"
        # The prediction's tab (its version may move on while the page loads: the poller runs).
        _screenshot(ls, page, "labeling", tmp_path, figures, click="skactive-v")
    finally:
        # Killed without warning: every acknowledged answer is in the file.
        _stop(server, signal.SIGKILL)

    restarted = _start(command, serve_log, env=env)
    try:
        _wait_until_up(backend_url, 120, "the restart", serve_log)
        assert requests.get(f"{backend_url}/health", timeout=5).json()["n_labeled"] == N_INITIAL + 4
    finally:
        _stop(restarted)

    # The one-shot poller finds nothing new: every annotation is a duplicate.
    sync = subprocess.run(
        [
            sys.executable,
            "-m",
            "skactive",
            "label-studio",
            "sync",
            "--learner",
            learner_file,
            "--state",
            state,
            "--url",
            ls.url,
            "--project",
            str(project),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sync.returncode == 0, sync.stderr
    assert "'duplicate': 4" in sync.stdout and "'taught'" not in sync.stdout
    _publish(tmp_path, figures)


def _truth(task: dict, uploads: dict, y_pool) -> int:
    """The label of an imported task, or of an uploaded file (by its name)."""
    if "truth" in task["data"]:
        return task["data"]["truth"]
    (name,) = [n for n in uploads if task["data"]["image"].endswith(n)]
    return int(y_pool[uploads[name]])


def _screenshot(ls, page: str, name: str, folder: Path, figures: dict, click=None) -> None:
    """Headless Chromium, logged in as the annotator, saves ``page`` as a PNG."""
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        figures[name] = "skipped: Debian's chromium and chromium-driver are not installed"
        return
    image = folder / f"label_studio_{name}.png"
    script = Path(__file__).with_name("screenshot.py")
    command = [
        *(VENV / "bin" / "python", script, ls.url, EMAIL, PASSWORD, "1400x1100"),
        *(["--click", click] if click else []),
        f"{page}={image}",
    ]
    errors = []
    # One retry: the browser's rendering of Label Studio's React app is the one
    # step here whose timing a loaded machine can upset; both errors are kept.
    for _ in range(2):
        returncode, stderr = _run_in_own_session(command, timeout=400)
        if returncode == 0:
            break
        errors.append(stderr[-2000:])
    assert returncode == 0, "\n---\n".join(errors)
    figures[f"{name}_browser_attempts"] = len(errors) + 1
    assert image.stat().st_size > 20_000, f"{image} looks empty"
    figures[name] = image.name


def _run_in_own_session(command, timeout: float) -> tuple[int, str]:
    """Run ``command``; on timeout stop its whole process group (Chromium included)."""
    process = subprocess.Popen(
        [str(c) for c in command], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        return -1, f"timed out after {timeout} s\n{stderr}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stderr


def _publish(folder: Path, figures: dict) -> None:
    out = os.environ.get("SKACTIVE_LABEL_STUDIO_OUT")
    (folder / "label_studio_e2e.json").write_text(json.dumps(figures, indent=1))
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        for file in folder.glob("label_studio_*"):
            shutil.copy(file, out)
