"""Label Studio bridge: /predict latency for 1,000 tasks, and what a sync costs.

Part 1 (no Label Studio needed): trains LeNet5 on 200 Fashion-MNIST rows
(digits when the Debian package is absent), starts ``python -m skactive
serve`` as a user would, and posts 1,000 image tasks (28x28 PNG data URLs)
to ``/predict`` ``--repeats`` times, for entropy sampling and for DFAL.
Printed: seconds per request (median and best) and per task.

Part 2 (``--label-studio``, needs ``scripts/install_label_studio.sh``):
starts Label Studio on 127.0.0.1 with a temporary data directory, imports
the 1,000 tasks, and times :func:`~skactive.label_studio.sync`: the first
push (a prediction per task), a push after one answer and a refit (every
prediction replaced), with ``push="one-by-one"`` (clusters kept) and
``push="bulk"`` (one import). Both servers are stopped by their PID. Not part of the test suite.

Usage: ``python benchmarks/bench_label_studio.py [--tasks 1000] [--label-studio]``
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from skactive import ActiveLearner
from skactive.datasets import load_digits_images, load_fashion_mnist
from skactive.label_studio import LabelStudioBackend, LabelStudioClient, load_backend, sync
from skactive.models import make_net_for
from skactive.strategies import DFAL, EntropySampling

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "b3nchb3nch" * 4


def data(n_tasks: int):
    try:
        X, y = load_fashion_mnist()
    except (OSError, ValueError):
        X, y = load_digits_images()
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    return X[order[:200]], y[order[:200]], X[order[200 : 200 + n_tasks]]


def data_url(row: np.ndarray) -> str:
    side = row.shape[-1]
    pixels = np.clip(np.rint(row.reshape(side, side) * 255), 0, 255).astype(np.uint8)
    stream = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(stream, format="PNG")
    return "data:image/png;base64," + base64.b64encode(stream.getvalue()).decode()


def config(classes) -> str:
    choices = "".join(f'<Choice value="{c}"/>' for c in classes)
    return (
        '<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
        f"{choices}</Choices></View>"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command, log: Path, env=None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(c) for c in command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


def wait_up(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def bench_predict(folder: Path, X_init, y_init, tasks, repeats: int) -> None:
    print(f"/predict over HTTP, {len(tasks)} tasks of {X_init.shape[1:]} PNG data URLs")
    print(f"{'strategy':<10} {'median s':>9} {'best s':>8} {'ms/task':>8}")
    for name, strategy in (("entropy", EntropySampling()), ("dfal", DFAL())):
        net = make_net_for("lenet5", X_init, y_init, max_epochs=20)
        learner = ActiveLearner(net, strategy, random_state=0).fit(X_init, y_init)
        path = learner.save(folder / f"{name}.skactive")
        port = free_port()
        label_config = folder / "config.xml"
        label_config.write_text(config(learner.classes_))
        command = [sys.executable, "-m", "skactive", "serve", "--learner", path]
        command += ["--label-config", label_config, "--port", port]
        server = start(command, folder / f"serve-{name}.log")
        try:
            wait_up(f"http://127.0.0.1:{port}/health", 120)
            times = []
            for _ in range(repeats):
                begin = time.perf_counter()
                answer = requests.post(
                    f"http://127.0.0.1:{port}/predict", json={"tasks": tasks}, timeout=600
                )
                times.append(time.perf_counter() - begin)
                assert len(answer.json()["results"]) == len(tasks)
        finally:
            stop(server)
        median = statistics.median(times)
        print(f"{name:<10} {median:>9.2f} {min(times):>8.2f} {1000 * median / len(tasks):>8.2f}")


def start_label_studio(folder: Path, token: str) -> tuple[subprocess.Popen, str]:
    """Label Studio on a free loopback port, data in ``folder/ls``, with a user and ``token``.

    Returns the process (stop it with :func:`stop`) and its address; wait
    for ``/health`` before use.
    """
    venv = ROOT / ".venv-label-studio"
    port = free_port()
    env = {**os.environ, "ML_BLOCK_LOCAL_IP": "false", "SENTRY_DSN": ""}
    env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] = "true"
    command = [venv / "bin" / "label-studio", "start", "--no-browser", "--data-dir"]
    command += [folder / "ls", "--internal-host", "127.0.0.1", "-p", port]
    command += ["--username", "bench@example.com", "--password", "bench-Passw0rd"]
    command += ["--user-token", token]
    return start(command, folder / "label-studio.log", env=env), f"http://127.0.0.1:{port}"


def bench_sync(folder: Path, X_init, y_init, tasks) -> None:
    studio, url = start_label_studio(folder, TOKEN)
    try:
        wait_up(f"{url}/health", 600)
        client = LabelStudioClient(url, TOKEN)
        net = make_net_for("lenet5", X_init, y_init, max_epochs=20)
        learner = ActiveLearner(net, EntropySampling(), random_state=0).fit(X_init, y_init)
        print(f"\nsync against Label Studio, {len(tasks)} tasks")
        print(f"{'push':<34} {'read s':>7} {'refit s':>8} {'predict s':>10} {'push s':>7}")
        for push in ("one-by-one", "bulk"):
            project = client.request(
                "POST",
                "/api/projects",
                json={"title": f"bench {push}", "label_config": config(learner.classes_)},
            )["id"]
            client.request(
                "POST", f"/api/projects/{project}/import", json=[t["data"] for t in tasks]
            )
            path = folder / f"backend-{push}.skactive"
            backend = LabelStudioBackend(learner, path=path, background_refit=False)
            first = sync(backend, client, project, push=push)
            listed = list(client.tasks(project))
            answer = {
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": [str(learner.classes_[0])]},
                    }
                ]
            }
            client.request("POST", f"/api/tasks/{listed[0]['id']}/annotations", json=answer)
            second = sync(load_backend(path, background_refit=False), client, project, push=push)
            for what, report in (("first", first), ("after one answer", second)):
                s = report.seconds
                label = f"{what}, {push}"
                print(
                    f"{label:<34} {s['read']:>7.2f} {s['teach_and_refit']:>8.2f} "
                    f"{s['predict']:>10.2f} {s['push']:>7.2f}"
                )
    finally:
        stop(studio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label-studio", action="store_true")
    args = parser.parse_args()
    X_init, y_init, X_tasks = data(args.tasks)
    tasks = [{"id": i + 1, "data": {"image": data_url(row)}} for i, row in enumerate(X_tasks)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_predict(folder, X_init, y_init, tasks, args.repeats)
        if args.label_studio:
            bench_sync(folder, X_init, y_init, tasks)


if __name__ == "__main__":
    main()
