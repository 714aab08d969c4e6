"""A labelling session against a real Label Studio: how fresh the annotator's queue stays.

Starts Label Studio (``.venv-label-studio``, ``scripts/install_label_studio.sh``)
on 127.0.0.1 with a temporary data directory, and uploads ``--tasks``
Fashion-MNIST images (digits where the Debian package is absent) as PNG
files, 100 per import request. A :class:`~skactive.label_studio.LabelStudioBackend`
in this process (LeNet5 trained on 50 other rows, entropy sampling) is
synced by a poller thread every ``--poll`` seconds with
:func:`~skactive.label_studio.sync` (read the project, teach, refit, predict,
push, switch the version, remove the old one), as ``serve --poll`` does. After
a first sync, an annotator thread asks Label Studio for ``/next`` every
``--every`` seconds and answers with the true label, ``--answers`` times.

Printed, and appended as one row to ``--csv``:

* the time from an answer to a reordered queue: until the end of the first
  sync that pushed a model trained on it (median and max);
* the answers the serving order had not seen when ``/next`` served a task:
  answers given minus answers in the model whose predictions Label Studio
  sampled from (median and max);
* each sync's seconds by phase (median), and the first sync's;
* at the end: predictions per task, and the unlabelled tasks that carry a
  prediction of the project's version out of all unlabelled tasks;
* peak memory of this process (the backend) and of Label Studio.

Both processes are stopped by their PID. Not part of the test suite.

Usage: ``python benchmarks/bench_label_studio_session.py [--tasks 1000]
[--answers 40] [--every 3] [--poll 2] [--push auto]
[--csv benchmarks/label_studio_session.csv]``
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_label_studio import config, start_label_studio, stop, wait_up  # noqa: E402

from skactive import ActiveLearner  # noqa: E402
from skactive.datasets import load_digits_images, load_fashion_mnist  # noqa: E402
from skactive.label_studio import LabelStudioBackend, LabelStudioClient, sync  # noqa: E402
from skactive.models import make_net_for  # noqa: E402
from skactive.strategies import EntropySampling  # noqa: E402

TOKEN = "5e55105e" * 5
N_INITIAL = 50
UPLOAD_BATCH = 100  # Label Studio's limit of files per import request
NAME = re.compile(r"task-(\d+)\.png$")


def load(n_tasks: int):
    try:
        X, y = load_fashion_mnist()
    except (OSError, ValueError):
        X, y = load_digits_images()
    order = np.random.RandomState(0).permutation(len(X))[: N_INITIAL + n_tasks]
    return X[order[:N_INITIAL]], y[order[:N_INITIAL]], X[order[N_INITIAL:]], y[order[N_INITIAL:]]


def png(row: np.ndarray) -> bytes:
    side = row.shape[-1]
    pixels = np.clip(np.rint(row.reshape(side, side) * 255), 0, 255).astype(np.uint8)
    stream = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(stream, format="PNG")
    return stream.getvalue()


def upload(client, project: int, rows) -> None:
    for start_ in range(0, len(rows), UPLOAD_BATCH):
        files = {
            f"file{i}": (f"task-{start_ + i}.png", png(row), "image/png")
            for i, row in enumerate(rows[start_ : start_ + UPLOAD_BATCH])
        }
        client.request("POST", f"/api/projects/{project}/import", files=files)


def median(values) -> float:
    """The median, NaN when nothing was measured (say no sync finished)."""
    values = list(values)
    return statistics.median(values) if values else float("nan")


def peak_mib(pid: int | None = None) -> float:
    """Peak resident memory of this process, or of process ``pid`` (VmHWM)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Session:
    """The poller and the annotator, with what each saw and when."""

    def __init__(self, backend, client, project, y_tasks, args):
        self.backend, self.client, self.project = backend, client, project
        self.y_tasks, self.args = y_tasks, args
        self.syncs = []  # (end time, labels in the pushed model, seconds by phase)
        self.served = []  # (time, answers given before it, labels in the model sampled)
        self.answered = []  # time of each answer
        self.done = threading.Event()
        self.errors = []  # syncs that failed
        self.refused = []  # the annotator's requests Label Studio answered with an error

    def poll(self) -> None:
        while not self.done.is_set():
            clock = time.monotonic()
            try:
                report = sync(
                    self.backend,
                    self.client,
                    self.project,
                    push=self.args.push,
                )
                # The labels of the model whose predictions were pushed (and switched to).
                trained = self.backend.n_trained
                self.syncs.append((time.monotonic(), trained, dict(report.seconds)))
            except Exception as exc:  # recorded and reported: the session goes on
                self.errors.append(f"after {time.monotonic() - clock:.1f} s: {exc!r}")
            self.done.wait(self.args.poll)

    def annotate(self) -> None:
        while len(self.answered) < self.args.answers:
            begin = time.monotonic()
            try:
                task = self.client.request("GET", f"/api/projects/{self.project}/next")
            except (RuntimeError, requests.RequestException) as exc:  # the browser shows an error
                self.refused.append(str(exc)[:200])
                self.done.wait(1.0)
                continue
            if not task or "id" not in task:
                break
            sampled = self.syncs[-1][1] if self.syncs else N_INITIAL
            self.served.append((time.monotonic(), len(self.answered), sampled))
            label = self.y_tasks[int(NAME.search(task["data"]["image"]).group(1))]
            value = {"choices": [str(label)]}
            result = [{"from_name": "label", "to_name": "image", "type": "choices", "value": value}]
            try:
                self.client.request(
                    "POST", f"/api/tasks/{task['id']}/annotations", json={"result": result}
                )
            except (RuntimeError, requests.RequestException) as exc:
                self.refused.append(str(exc)[:200])
                self.served.pop()
                self.done.wait(1.0)
                continue
            self.answered.append(time.monotonic())
            self.done.wait(max(0.0, self.args.every - (time.monotonic() - begin)))

    def freshness(self) -> list[float]:
        """Seconds from each answer to the end of the first sync that pushed a model with it."""
        out = []
        for k, when in enumerate(self.answered, start=1):
            ends = [
                end for end, trained, _ in self.syncs if end > when and trained >= N_INITIAL + k
            ]
            out.append(ends[0] - when if ends else float("inf"))
        return out

    def unseen(self) -> list[int]:
        return [given - (sampled - N_INITIAL) for _, given, sampled in self.served]


def final_counts(client, project: int) -> tuple[float, int, int]:
    """Predictions per task, unlabelled tasks with the project's version, unlabelled tasks."""
    version = client.project(project).get("model_version")
    tasks = list(client.tasks(project))
    predictions = sum(len(t.get("predictions") or []) for t in tasks)
    open_tasks = [t for t in tasks if not t.get("annotations")]
    covered = sum(
        any(p.get("model_version") == version for p in t.get("predictions") or [])
        for t in open_tasks
    )
    return predictions / len(tasks), covered, len(open_tasks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--answers", type=int, default=40)
    parser.add_argument("--every", type=float, default=3.0)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--push", default="auto", choices=("auto", "one-by-one", "bulk"))
    parser.add_argument("--log", type=Path, help="keep Label Studio's log there")
    parser.add_argument(
        "--csv", type=Path, default=ROOT / "benchmarks" / "label_studio_session.csv"
    )
    args = parser.parse_args(argv)
    X_init, y_init, X_tasks, y_tasks = load(args.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        studio, url = start_label_studio(folder, TOKEN)
        try:
            wait_up(f"{url}/health", 900)
            row = run(url, X_init, y_init, X_tasks, y_tasks, args)
            row["label_studio_peak_mib"] = round(peak_mib(studio.pid), 1)
        finally:
            stop(studio)
            if args.log is not None:
                args.log.write_bytes((folder / "label-studio.log").read_bytes())
    print(", ".join(f"{k}={v}" for k, v in row.items()))
    new = not args.csv.is_file()
    # Columns in the file's order: a resumed table stays aligned.
    fields = list(row) if new else next(csv.reader(args.csv.open()))
    with args.csv.open("a", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)
    return 0


def run(url, X_init, y_init, X_tasks, y_tasks, args) -> dict:
    client = LabelStudioClient(url, TOKEN)
    net = make_net_for("lenet5", X_init, y_init, max_epochs=20)
    learner = ActiveLearner(net, EntropySampling(), random_state=0).fit(X_init, y_init)
    body = {"title": "session", "label_config": config(learner.classes_)}
    project = client.request("POST", "/api/projects", json=body)["id"]
    clock = time.perf_counter()
    upload(client, project, X_tasks)
    upload_seconds = time.perf_counter() - clock
    backend = LabelStudioBackend(learner, background_refit=False)
    clock = time.perf_counter()
    first = sync(backend, client, project, push=args.push)
    first_seconds = time.perf_counter() - clock
    session = Session(backend, client, project, y_tasks, args)
    session.syncs.append((time.monotonic(), backend.n_trained, dict(first.seconds)))
    poller = threading.Thread(target=session.poll, daemon=True)
    poller.start()
    session.annotate()
    # Let the last answers reach a pushed model (or give up after 10 polls' worth).
    deadline = time.monotonic() + 10 * max(args.poll, 1.0) + 120
    while time.monotonic() < deadline and session.syncs[-1][1] < N_INITIAL + len(session.answered):
        time.sleep(0.5)
    session.done.set()
    poller.join(600)
    per_task, covered, open_tasks = final_counts(client, project)
    fresh, unseen = session.freshness(), session.unseen()
    phases = {
        name: median(s[name] for _, _, s in session.syncs[1:] if name in s)
        for name in ("read", "teach_and_refit", "predict", "push")
    }
    row = {
        "tasks": args.tasks,
        "answers": len(session.answered),
        "every_s": args.every,
        "poll_s": args.poll,
        "push": args.push,
        "upload_s": round(upload_seconds, 1),
        "first_sync_s": round(first_seconds, 1),
        "syncs": len(session.syncs) - 1,
        "answer_to_queue_median_s": round(median(fresh), 2),
        "answer_to_queue_max_s": round(max(fresh, default=float("nan")), 2),
        "unseen_median": median(unseen),
        "unseen_max": max(unseen, default=float("nan")),
        **{f"sync_{k}_median_s": round(v, 2) for k, v in phases.items()},
        "predictions_per_task": round(per_task, 2),
        "open_tasks_with_current_version": covered,
        "open_tasks": open_tasks,
        "backend_peak_mib": round(peak_mib(), 1),
        "sync_errors": len(session.errors),
        "annotator_errors": len(session.refused),
    }
    for error in session.errors[:5]:
        print("sync error:", error)
    for error in session.refused[:5]:
        print("annotator error:", error)
    return row


if __name__ == "__main__":
    raise SystemExit(main())
