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
import socket
import threading
from pathlib import Path

import numpy as np

from skactive._files import FileInUseError
from skactive.embeddings import Embedding
from skactive.label_studio.annotations import VOTES
from skactive.label_studio.app import MAX_REQUEST_BYTES, serve
from skactive.label_studio.backend import FILE_KIND, LabelStudioBackend, SaveError, load_backend
from skactive.label_studio.credentials import origin_of
from skactive.label_studio.poller import ONE_BY_ONE_LIMIT, PUSH_MODES, LabelStudioClient, sync
from skactive.learner import ActiveLearner
from skactive.param_validation import argument_type, integer, real

__all__ = ["build_parser", "command_parsers", "main"]

logger = logging.getLogger("skactive.label_studio")

#: argparse types from the constraints the values obey.
_port = argument_type(integer(1, 65535, description="a port from 1 to 65535"))
_megabytes = argument_type(real(0, low_open=True, description="a size in MiB, > 0"), float)
_seconds = argument_type(real(0, low_open=True, description="a number of seconds, > 0"), float)


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
    server.add_argument("--port", type=_port, default=9090, help="port, 1 to 65535 (9090)")
    server.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this Host name (repeatable; '*' for any); by default "
        "only the bound address and loopback names",
    )
    server.add_argument(
        "--basic-auth",
        metavar="USER:PASSWORD",
        default=os.environ.get("SKACTIVE_BASIC_AUTH"),
        help="require these credentials (or $SKACTIVE_BASIC_AUTH)",
    )
    server.add_argument(
        "--max-request-mb",
        type=_megabytes,
        default=MAX_REQUEST_BYTES / 2**20,
        help="largest request body in MiB (64)",
    )
    server.add_argument(
        "--poll",
        type=_seconds,
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
        "--allow-private-images",
        action="store_true",
        help="let task images come from loopback, private and link-local addresses (refused by "
        "default, except Label Studio's own)",
    )
    parser.add_argument(
        "--vote",
        choices=VOTES,
        default=None,
        help="which annotation of a task with several gives its label (latest)",
    )
    parser.add_argument(
        "--full-refit-every",
        type=argument_type(integer(1)),
        default=None,
        metavar="K",
        help="refits continue from the current model (warm), and the first refit after K "
        "label changes since the last fresh one starts fresh (default: every refit fresh)",
    )
    parser.add_argument(
        "--warm-epochs",
        type=argument_type(integer(1)),
        default=None,
        metavar="E",
        help="epochs of a warm refit (default: the network's max_epochs)",
    )
    parser.add_argument(
        "--clusters",
        type=argument_type(integer(1)),
        default=8,
        help="diversity buckets for predictions (8)",
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
        help="access token; prefer $LABEL_STUDIO_API_KEY (a flag is visible to other users "
        "in the process list)",
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
    if "--token" in argv or any(a.startswith("--token=") for a in argv):
        logger.warning(
            "--token is visible to other users in the process list; use $LABEL_STUDIO_API_KEY"
        )
    options = _server_options(parser, args) if args.command == "serve" else {}
    backend = open_backend(parser, args, background_refit=args.command == "serve")
    try:
        # Label Studio is asked last: every local mistake is named first, offline.
        client = _client(parser, args) if _needs_label_studio(args) else None
    except SystemExit:
        backend.close_file()
        raise
    if args.command == "label-studio":
        report = sync(backend, client, args.project, **_sync_options(args))
        print(
            f"project {args.project}: {dict(report.outcomes)}; {report.n_predictions} "
            f"predictions of {report.model_version}"
        )
        for error in report.errors:
            print(f"refused: {error}")
        return 0
    if args.poll is not None:
        _start_poller(args, backend, client)
    serve(backend, host=args.host, port=args.port, allowed_hosts=args.allowed_host, **options)
    return 0


def _server_options(parser, args) -> dict:
    _check_address(parser, args.host, args.port)
    options = {"max_request_bytes": int(args.max_request_mb * 2**20)}
    if args.basic_auth:
        user, sep, password = args.basic_auth.partition(":")
        if not sep or not user:
            parser.error("--basic-auth: expected USER:PASSWORD")
        options["basic_auth"] = (user, password)
    return options


def _needs_label_studio(args) -> bool:
    """Whether the command talks to Label Studio's REST API (so it must be reachable now)."""
    return args.command == "label-studio" or getattr(args, "poll", None) is not None


def open_backend(parser, args, *, background_refit: bool) -> LabelStudioBackend:
    """The backend of ``--state`` if it holds one, else a new one around ``--learner``."""
    state = args.state or args.learner
    _check_state_folder(parser, state)
    runtime = {
        "pool": _pool(parser, args.pool),
        "image_root": args.image_root,
        "background_refit": background_refit,
        "allow_private": args.allow_private_images,
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
    _check_pool(parser, backend)
    backend.n_clusters = args.clusters
    if args.vote is not None:
        backend.vote = args.vote
    for setting in ("full_refit_every", "warm_epochs"):
        if getattr(args, setting) is not None:
            setattr(backend, setting, getattr(args, setting))
    if getattr(args, "url", None):
        _operator_connection(parser, args, backend)
    if args.embedding is not None:
        backend.embedding = _embedding(parser, args.embedding)
    if getattr(args, "project", None) is not None:
        try:
            backend.check_project(args.project)
        except ValueError as exc:
            parser.error(f"--project: {exc}")
        backend.project = args.project
    # Last: a second writer of the same file is refused by name.
    try:
        backend.claim()
    except FileInUseError as exc:
        parser.error(f"--state: {exc}")
    except OSError as exc:
        parser.error(f"--state: cannot write beside {state} ({exc})")
    if args.label_config is not None:
        _use_config(parser, backend, args.label_config)
    return backend


def _use_config(parser, backend: LabelStudioBackend, path: Path) -> None:
    """``--label-config``, saved like every change; the file is given up if it is refused."""
    try:
        backend.use_config(path.read_text())
    except (OSError, ValueError, SaveError) as exc:
        backend.close_file()
        parser.error(f"--label-config: {exc}")


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
    """A client that has reached the project once (exit 2 naming the flag otherwise)."""
    if not args.url or not args.token or args.project is None:
        parser.error("--url, --token, --project: all three are needed to reach Label Studio")
    _check_url(parser, args.url)
    try:
        client = LabelStudioClient(args.url, args.token, timeout=10.0)
        client.project(args.project)
    except Exception as exc:  # a refused token, an unknown project, nobody listening
        parser.error(f"--url/--token/--project: cannot reach the project at {args.url} ({exc})")
    return client


def _operator_connection(parser, args, backend: LabelStudioBackend) -> None:
    """Label Studio's address (and token) from the command line: /setup cannot move them."""
    _check_url(parser, args.url)
    try:
        backend.configure(hostname=args.url, access_token=args.token or None)
    except ValueError as exc:
        parser.error(f"--url: {exc}")


def _check_url(parser, url: str) -> None:
    try:
        origin_of(url)
    except ValueError as exc:
        parser.error(f"--url: {exc}")


def _check_address(parser, host: str, port: int) -> None:
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        parser.error(f"--host: cannot bind {host!r}: it is not an address of this machine ({exc})")


def _check_state_folder(parser, state: Path) -> None:
    folder = state.parent
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                parser.error(f"--state: {ancestor} is a file, so {state} cannot be written")
            if not os.access(ancestor, os.W_OK):
                parser.error(f"--state: {ancestor} is not writable, so {state} cannot be saved")
            return


def _check_pool(parser, backend: LabelStudioBackend) -> None:
    pool = backend.pool
    if pool is not None and tuple(pool.shape[1:]) != tuple(backend.learner.row_shape_):
        parser.error(
            f"--pool: rows of shape {tuple(pool.shape[1:])}, the learner's rows are "
            f"{tuple(backend.learner.row_shape_)}"
        )


def _sync_options(args) -> dict:
    return {"set_sampling": not args.keep_sampling, "push": args.push}


def _start_poller(args, backend: LabelStudioBackend, client: LabelStudioClient) -> None:
    def loop():
        while True:
            try:
                sync(backend, client, args.project, **_sync_options(args))
            except Exception:  # Label Studio restarting: try again next period
                logger.exception("sync failed; retrying in %s s", args.poll)
            threading.Event().wait(args.poll)

    threading.Thread(target=loop, name="skactive-poll", daemon=True).start()
