"""``python -m skactive serve`` and ``python -m skactive label-studio sync``.

Both open a learner file: a learner saved with ``ActiveLearner.save`` (a new
labelling campaign) or a backend file they wrote before (the campaign goes
on, with every label it acknowledged). They save to ``--state``, by default
the learner file itself. Bad arguments exit with status 2 and a message
naming the flag; the files are left as they were.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from pathlib import Path

import numpy as np

from skactive._cli import positive_int
from skactive.embeddings import Embedding
from skactive.label_studio.app import MAX_REQUEST_BYTES, serve
from skactive.label_studio.backend import FILE_KIND, LabelStudioBackend, load_backend
from skactive.label_studio.poller import ONE_BY_ONE_LIMIT, PUSH_MODES, LabelStudioClient, sync
from skactive.learner import ActiveLearner

__all__ = ["build_parser", "command_parsers", "main"]

logger = logging.getLogger("skactive.label_studio")


def build_parser() -> argparse.ArgumentParser:
    """The parser of both commands (documented flag by flag in the user guide)."""
    return _parsers()[0]


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of each command, ``"serve"`` and ``"label-studio sync"``."""
    _, server, poller = _parsers()
    return {"serve": server, "label-studio sync": poller}


def _parsers():
    parser = argparse.ArgumentParser(
        prog="python -m skactive", description="Serve an active learner to Label Studio."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("serve", help="run the ML backend server")
    _add_backend_flags(server)
    server.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    server.add_argument("--port", type=int, default=9090, help="port (9090)")
    server.add_argument(
        "--basic-auth",
        metavar="USER:PASSWORD",
        default=os.environ.get("SKACTIVE_BASIC_AUTH"),
        help="require these credentials (or $SKACTIVE_BASIC_AUTH)",
    )
    server.add_argument(
        "--max-request-mb",
        type=float,
        default=MAX_REQUEST_BYTES / 2**20,
        help="largest request body in MiB (64)",
    )
    server.add_argument(
        "--poll",
        type=float,
        metavar="SECONDS",
        help="also sync with Label Studio every SECONDS (needs --url, --token, --project)",
    )
    _add_connection_flags(server, required=False)
    label_studio = commands.add_parser("label-studio", help="talk to Label Studio's REST API")
    actions = label_studio.add_subparsers(dest="action", required=True)
    poller = actions.add_parser("sync", help="teach new annotations, push fresh predictions")
    _add_backend_flags(poller)
    _add_connection_flags(poller, required=True)
    return parser, server, poller


def _add_backend_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--learner",
        type=Path,
        required=True,
        help="file of a fitted learner (ActiveLearner.save) or of this backend; a pickle: "
        "only files you trust",
    )
    parser.add_argument(
        "--state", type=Path, help="file the backend saves to after each change (--learner)"
    )
    parser.add_argument("--label-config", type=Path, help="the project's XML configuration")
    parser.add_argument("--pool", type=Path, help=".npy rows that tasks name as data.row")
    parser.add_argument("--image-root", type=Path, help="folder tasks may name image paths in")
    parser.add_argument(
        "--clusters", type=positive_int, default=8, help="diversity buckets for predictions (8)"
    )
    parser.add_argument(
        "--embedding",
        type=Path,
        help="file of a fitted Embedding (Embedding.save) whose vectors make the diversity "
        "buckets, instead of the network's; a pickle: only files you trust",
    )


def _add_connection_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--url", required=required, help="Label Studio, http://127.0.0.1:8080")
    parser.add_argument(
        "--token",
        default=os.environ.get("LABEL_STUDIO_API_KEY"),
        help="access token (or $LABEL_STUDIO_API_KEY)",
    )
    parser.add_argument("--project", type=int, required=required, help="the project's id")
    parser.add_argument(
        "--keep-sampling",
        action="store_true",
        help="leave the project's task sampling as it is (default: Uncertainty sampling)",
    )
    parser.add_argument(
        "--push",
        choices=PUSH_MODES,
        default="auto",
        help="one-by-one keeps clusters (a request per task), bulk is one import; auto: "
        f"one by one up to {ONE_BY_ONE_LIMIT} predictions",
    )


def main(argv) -> int:
    """Run ``serve`` or ``label-studio sync`` as ``argv`` says."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    backend = open_backend(parser, args, background_refit=args.command == "serve")
    if args.command == "label-studio":
        report = sync(backend, _client(parser, args), args.project, **_sync_options(args))
        print(
            f"project {args.project}: {dict(report.outcomes)}; {report.n_predictions} "
            f"predictions of {report.model_version}"
        )
        for error in report.errors:
            print(f"refused: {error}")
        return 0
    options = {"max_request_bytes": int(args.max_request_mb * 2**20)}
    if args.basic_auth:
        user, sep, password = args.basic_auth.partition(":")
        if not sep or not user:
            parser.error("--basic-auth: expected USER:PASSWORD")
        options["basic_auth"] = (user, password)
    if args.poll is not None:
        _start_poller(parser, args, backend)
    serve(backend, host=args.host, port=args.port, **options)
    return 0


def open_backend(parser, args, *, background_refit: bool) -> LabelStudioBackend:
    """The backend of ``--state`` if it holds one, else a new one around ``--learner``."""
    state = args.state or args.learner
    runtime = {
        "pool": _pool(parser, args.pool),
        "image_root": args.image_root,
        "background_refit": background_refit,
    }
    source = state if state.is_file() else args.learner
    if not source.is_file():
        parser.error(f"--learner: {args.learner} does not exist")
    try:
        backend = load_backend(source, path=state, **runtime)
    except ValueError as backend_error:
        if f"skactive {FILE_KIND}" not in str(backend_error):
            parser.error(f"--learner: {backend_error}")
        try:
            learner = ActiveLearner.load(source)
        except (ValueError, OSError) as exc:
            parser.error(f"--learner: {exc}")
        if not hasattr(learner, "estimator_"):
            parser.error(f"--learner: {source} holds a learner that was never fitted")
        backend = LabelStudioBackend(learner, path=state, n_clusters=args.clusters, **runtime)
    backend.n_clusters = args.clusters
    if args.embedding is not None:
        backend.embedding = _embedding(parser, args.embedding)
    if args.label_config is not None:
        try:
            backend.use_config(args.label_config.read_text())
        except (OSError, ValueError) as exc:
            parser.error(f"--label-config: {exc}")
    if getattr(args, "project", None) is not None:
        try:
            backend.check_project(args.project)
        except ValueError as exc:
            parser.error(f"--project: {exc}")
        backend.project = args.project
    return backend


def _embedding(parser, path) -> Embedding:
    try:
        return Embedding.load(path)
    except (OSError, ValueError) as exc:
        parser.error(f"--embedding: {exc}")


def _pool(parser, path):
    if path is None:
        return None
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        parser.error(f"--pool: cannot read {path} as .npy ({exc})")


def _client(parser, args) -> LabelStudioClient:
    if not args.url or not args.token or args.project is None:
        parser.error("--url, --token, --project: all three are needed to reach Label Studio")
    try:
        return LabelStudioClient(args.url, args.token)
    except Exception as exc:  # a refused token or an unreachable server
        parser.error(f"--url/--token: cannot reach Label Studio ({exc})")


def _sync_options(args) -> dict:
    return {"set_sampling": not args.keep_sampling, "push": args.push}


def _start_poller(parser, args, backend: LabelStudioBackend) -> None:
    if args.poll <= 0:
        parser.error(f"--poll: expected seconds > 0, got {args.poll}")
    client = _client(parser, args)

    def loop():
        while True:
            try:
                sync(backend, client, args.project, **_sync_options(args))
            except Exception:  # Label Studio restarting: try again next period
                logger.exception("sync failed; retrying in %s s", args.poll)
            threading.Event().wait(args.poll)

    threading.Thread(target=loop, name="skactive-poll", daemon=True).start()
