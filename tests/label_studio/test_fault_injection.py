"""Both doors at once, with faults: nothing acknowledged is lost, nothing is taught twice.

A stand-in for Label Studio's REST API runs on 127.0.0.1; ``python -m
skactive serve --poll`` runs as a real process against it. Three annotators
create, update, skip and delete annotations of fifteen tasks; each change
also arrives at the server's webhook (sometimes twice, sometimes twice at
once, sometimes not at all), while the poller reads the project. The
server is killed with SIGKILL at random moments and restarted on the same
file, and one save fails (disk full) once. Afterwards the learner's
labelled rows must equal what the annotations say, exactly.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import DIGITS_CONFIG, EXTRA_MISSING, LoopbackServer, data_url

requests = pytest.importorskip("requests", reason=EXTRA_MISSING)
pytest.importorskip("flask", reason=EXTRA_MISSING)

from werkzeug.wrappers import Response  # noqa: E402

from skactive import ActiveLearner  # noqa: E402
from skactive.label_studio import Answer, TaskReader, load_backend  # noqa: E402
from skactive.label_studio.annotations import task_label  # noqa: E402
from skactive.strategies import EntropySampling  # noqa: E402

from ..conftest import tiny_net  # noqa: E402

pytestmark = pytest.mark.slow

TOKEN, PROJECT, N_TASKS, ANNOTATORS = "fault-injection-token", 3, 15, (1, 2, 3)

#: Runs the server with one save that fails when the trigger file exists.
FLAKY_SERVER = """
import os, sys
from pathlib import Path

import skactive.label_studio.backend as backend

real, trigger = backend.save_pickle, Path(os.environ["SKACTIVE_FAIL_NEXT_SAVE"])


def flaky(*args, **kwargs):
    try:
        trigger.unlink()
    except FileNotFoundError:
        return real(*args, **kwargs)
    raise OSError(28, "No space left on device (injected)")


backend.save_pickle = flaky
from skactive.__main__ import main

sys.exit(main(sys.argv[1:]))
"""


class StudioAPI:
    """The REST calls the poller makes, over tasks whose annotations the test changes."""

    def __init__(self, rows):
        self.lock = threading.Lock()
        self.tasks = {
            500 + i: {"id": 500 + i, "data": {"image": data_url(row)}, "annotations": []}
            for i, row in enumerate(rows)
        }
        self.predictions, self.project = {}, {"model_version": "", "sampling": ""}
        self.clock = 0

    def stamp(self) -> str:
        self.clock += 1
        return f"2026-12-07T10:{self.clock // 60:02d}:{self.clock % 60:02d}.000000Z"

    def __call__(self, request):
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return Response('{"detail": "no token"}', 401)
        with self.lock:
            answer = self.route(request)
        return Response(json.dumps(answer), 200, mimetype="application/json")

    def route(self, request):
        body = request.get_json(silent=True)
        if request.path == f"/api/projects/{PROJECT}":
            if request.method == "PATCH":
                self.project.update(body)
            return {"id": PROJECT, "label_config": DIGITS_CONFIG, **self.project}
        if request.path == "/api/tasks":
            page, size = int(request.args["page"]), int(request.args["page_size"])
            listed = [
                {**copy.deepcopy(t), "predictions": self.predictions.get(t["id"], [])}
                for t in self.tasks.values()
            ]
            return {"tasks": listed[(page - 1) * size : page * size], "total": len(listed)}
        if request.path.endswith("/import/predictions"):
            for prediction in body:
                self.predictions.setdefault(prediction["task"], []).append(prediction)
            return {}
        if request.path.startswith("/api/predictions"):
            stored = {**body, "id": len(self.predictions) + 10_000}
            self.predictions[body["task"]] = [stored]
            return stored
        return {}

    def standing(self) -> dict:
        """Task id to the label its standing annotations give (the truth to reach)."""
        with self.lock:
            labels = {}
            for task_id, task in self.tasks.items():
                answers = [
                    Answer(
                        a["id"],
                        task_id,
                        a["result"][0]["value"]["choices"][0] if a["result"] else None,
                        a["updated_at"],
                        a["was_cancelled"],
                    )
                    for a in task["annotations"]
                ]
                label = task_label(answers)
                if label is not None:
                    labels[task_id] = label
            return labels


class Server:
    """``python -m skactive serve --poll`` in its own session, killed and restarted at will."""

    def __init__(self, command, env, log: Path, url: str):
        self.command, self.env, self.log, self.url = command, env, log, url
        self.process = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        pytest.fail(f"the server did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(30)


def _deliver(url: str, event: dict) -> None:
    # The server may be down: Label Studio does not retry, the poller will see it.
    with contextlib.suppress(requests.RequestException):
        requests.post(f"{url}/webhook", json=event, timeout=30)


def _choice(label) -> list:
    value = {"choices": [str(label)]}
    return [{"from_name": "digit", "to_name": "image", "type": "choices", "value": value}]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_both_doors_with_kills_and_a_failed_save_lose_nothing_and_teach_nothing_twice(
    digits_split, tmp_path
):
    rng = random.Random(33)
    X_init, y_init, X_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), EntropySampling(), random_state=0)
    learner_file = learner.fit(X_init, y_init).save(tmp_path / "campaign.skactive")
    n_initial = len(y_init)
    api = StudioAPI(X_pool[:N_TASKS])
    studio = LoopbackServer(api)
    port = _free_port()
    state, trigger = tmp_path / "state.skactive", tmp_path / "fail-next-save"
    script = tmp_path / "flaky_server.py"
    script.write_text(FLAKY_SERVER)
    command = [sys.executable, str(script), "serve", "--learner", str(learner_file)]
    command += ["--state", str(state), "--port", str(port), "--poll", "0.5"]
    command += ["--url", studio.url, "--project", str(PROJECT)]
    env = {**os.environ, "LABEL_STUDIO_API_KEY": TOKEN, "SKACTIVE_FAIL_NEXT_SAVE": str(trigger)}
    server = Server(command, env, tmp_path / "serve.log", f"http://127.0.0.1:{port}")
    next_id, senders = iter(range(1, 10_000)), []
    try:
        server.start()
        kills = sorted(rng.sample(range(10, 110), 4))
        fault_at = rng.randrange(20, 100)
        for step in range(120):
            if kills and step == kills[0]:
                kills.pop(0)
                time.sleep(rng.uniform(0, 0.3))  # somewhere in a save, a refit or a sync
                server.kill()
                server.start()
            if step == fault_at:
                trigger.write_text("fail the next save")
            event = _annotate(api, rng, next_id)
            if event is None:
                continue
            copies = rng.choice([0, 1, 1, 1, 2, 2])  # none: the poller alone sees it
            for _ in range(copies):
                sender = threading.Thread(target=_deliver, args=(server.url, event))
                sender.start()  # two copies race each other
                senders.append(sender)
            time.sleep(rng.uniform(0, 0.08))
        for sender in senders:
            sender.join(60)
        assert not trigger.exists(), "the injected save failure never happened"
        expected = api.standing()

        def settled():
            saved = load_backend(state)
            return {t: e.label for t, e in saved.ledger.items()} == expected and saved

        deadline, saved = time.monotonic() + 90, None
        while time.monotonic() < deadline and not saved:
            saved = settled()
            time.sleep(0.5)
        assert saved, (
            f"the ledger never matched the annotations:\n{dict(load_backend(state).ledger)}\n"
            f"{expected}\n{server.log.read_text()[-3000:]}"
        )
    finally:
        server.kill(signal.SIGTERM)
        studio.stop()
    # Exactly the annotated tasks, once each, with their own rows and labels.
    learner = saved.learner
    assert len(learner.y_labeled_) == n_initial + len(expected)
    positions = sorted(learner.rows_of(list(saved.ledger)).tolist())
    assert positions == list(range(n_initial, n_initial + len(expected)))
    reader = TaskReader((1, 8, 8))
    for task_id in saved.ledger:
        (position,) = learner.rows_of([task_id])
        row = reader.read(api.tasks[task_id])
        np.testing.assert_array_equal(learner.X_labeled_[position], row)
        assert str(learner.y_labeled_[position]) == expected[task_id]
    np.testing.assert_array_equal(learner.X_labeled_[:n_initial], X_init)
    assert any(len(e.answers) > 1 for e in saved.ledger.values())


def _annotate(api: StudioAPI, rng: random.Random, next_id) -> dict | None:
    """One annotator's action on the stand-in (create, update, skip or delete) as its event."""
    with api.lock:
        task_id = rng.choice(list(api.tasks))
        task = api.tasks[task_id]
        user = rng.choice(ANNOTATORS)
        mine = [a for a in task["annotations"] if a["completed_by"] == user]
        event_task = {"id": task_id, "data": task["data"]}
        action = rng.random()
        if mine and action < 0.25:
            task["annotations"].remove(mine[0])
            return {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": mine[0]["id"]}]}
        label = rng.randrange(10)
        if mine:
            mine[0].update(result=_choice(label), was_cancelled=False, updated_at=api.stamp())
            annotation, kind = mine[0], "ANNOTATION_UPDATED"
        else:
            skipped = action > 0.85
            annotation = {
                "id": next(next_id),
                "task": task_id,
                "completed_by": user,
                "result": [] if skipped else _choice(label),
                "was_cancelled": skipped,
                "updated_at": api.stamp(),
            }
            task["annotations"].append(annotation)
            kind = "ANNOTATION_CREATED"
        return {
            "action": kind,
            "annotation": copy.deepcopy(annotation),
            "task": event_task,
            "project": {"id": PROJECT},
        }
