"""The learner behind Label Studio: predictions in the strategy's order, answers taught.

:class:`LabelStudioBackend` holds one :class:`BackendState` (the learner,
the ledger of annotations it taught, the model version) and the runtime
pieces that are never saved (the pool, the token, locks). The web app
(:func:`~skactive.label_studio.make_app`) and the poller
(:func:`~skactive.label_studio.sync`) are two doors into the same object.

Every change follows one rule: compute the new state, save it, then adopt
it. A change is made on a shallow copy of the learner (its ``teach``,
``relabel``, ``forget`` and ``refit`` swap the copy's campaign, never the
original's); if the save fails, the backend keeps the state it had and the
caller is told (HTTP 503), so an answer is acknowledged only once it is on
disk, and a retry is taught, never taken for a duplicate.

Score mapping (Label Studio serves the *lowest* score first): the tasks of
one request are ranked by the learner's query strategy and the task at
rank ``r`` of ``m`` gets ``score = r / m``. The ranking costs one scoring
pass: the strategy picks its first row (``query(rows, n=1)``), and when that
row is the extreme of the strategy's ``scores_`` the others follow in the
order of those scores; a strategy without per-row scores, or whose first
pick is not their extreme, ranks the whole request itself. A task the
backend cannot read scores 1 and comes last.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
from sklearn.cluster import KMeans

from skactive._files import WriterLock, load_pickle, remove_stale_temporaries, save_pickle
from skactive._inference import embed_rows
from skactive.label_studio.annotations import (
    VOTES,
    Answer,
    TaskEntry,
    parse_annotation,
    parse_task,
)
from skactive.label_studio.config import LabelConfig, parse_label_config
from skactive.label_studio.credentials import Credential, origin_of
from skactive.label_studio.ledger import Change, Transaction, with_newer
from skactive.label_studio.ranking import carry_cluster_ids, rank_tasks
from skactive.label_studio.tasks import RowCache, TaskError, TaskReader
from skactive.learner import ActiveLearner
from skactive.param_validation import BOOLEAN, Constraint, integer, options, validate_params

__all__ = [
    "VERSION_PREFIX",
    "BackendState",
    "LabelStudioBackend",
    "SaveError",
    "load_backend",
]

logger = logging.getLogger("skactive.label_studio")

#: What a saved backend file says it holds (refused as a plain learner).
FILE_KIND = "label-studio-backend"

#: How every model version of a backend starts (then the refit count).
VERSION_PREFIX = "skactive-v"

#: Score of a task the backend cannot read: after every readable task.
UNREADABLE_SCORE = 1.0

#: Seconds a webhook change is remembered for a poller's older snapshot
#: (reading a 10,000-task project takes minutes, not an hour).
RECEIVED_HORIZON = 3600.0


class SaveError(RuntimeError):
    """A change could not be saved, so it was not made; the message names the file."""


@dataclass(frozen=True)
class BackendState:
    """Everything a backend saves: its file holds exactly this.

    Attributes
    ----------
    learner : ActiveLearner
    ledger : dict of int to TaskEntry
        Each taught task: its label and its standing annotations; its row
        in ``learner.X_labeled_`` is keyed by the task id.
    version : int
        Refits so far (the model version is ``skactive-v{version}``).
    changes, trained_changes : int
        Label changes so far, and how many the current model was fitted after.
    n_trained : int
        Labelled rows the current model was fitted on.
    label_config : str or None
    project : int or None
    hostname : str or None
        Label Studio's address as ``/setup`` gave it (not a secret; the
        token is never saved).
    n_clusters : int
    embedding : callable or None
    vote : {"latest", "majority"}
    full_refit_every : int or None
    warm_epochs : int or None
    fresh_changes : int
        ``changes`` when the last fresh (not warm) refit started.
    """

    learner: ActiveLearner
    ledger: dict = field(default_factory=dict)
    version: int = 0
    changes: int = 0
    trained_changes: int = 0
    n_trained: int = 0
    label_config: str | None = None
    project: int | None = None
    hostname: str | None = None
    n_clusters: int = 8
    embedding: object = None
    vote: str = "latest"
    # Defaults: files saved before warm refits load as "every refit fresh".
    full_refit_every: int | None = None
    warm_epochs: int | None = None
    fresh_changes: int = 0


def _setting(name: str, doc: str):
    def get(self):
        return getattr(self._state, name)

    def set_(self, value):
        if name != "project":
            _check_settings(**{name: value})
        # Startup configuration (the command line): saved with the next change.
        self._state = replace(self._state, **{name: value})

    return property(get, set_, doc=doc)


def _state_field(name: str, doc: str):
    return property(lambda self: getattr(self._state, name), doc=doc)


class LabelStudioBackend:
    """An active learner serving one Label Studio project.

    Every answer is recorded in the learner and, with ``path``, saved
    atomically before the caller is told it was accepted; refits happen
    after (in a background thread with ``background_refit=True``) and each
    gives a new ``model_version``.

    What annotations do (the ledger keeps every standing annotation of a
    task; ``vote`` decides the task's label from them):

    * a new annotation of an unlabelled task teaches its row;
    * the same annotation again (a retried webhook, the poller after the
      webhook) changes nothing;
    * an updated annotation, or another annotator's, that changes the
      vote relabels the row (:meth:`ActiveLearner.relabel`);
    * a deleted or skipped annotation no longer counts: the label falls
      back to the vote of the annotations that remain, and the row is
      withdrawn (:meth:`ActiveLearner.forget`) when none remains;
    * a skipped (cancelled) annotation teaches nothing.

    Parameters
    ----------
    learner : ActiveLearner
        Fitted on an initial labelled set; its classes are the choices.
    path : path-like, default=None
        File the backend saves to after every change (a pickle: load it only
        from a path you trust). One process writes it at a time.
    label_config : str, default=None
        The project's XML; otherwise given by Label Studio at ``/setup``.
    project : int, default=None
        The only project served; by default the first that calls ``/setup``.
    pool : array-like, default=None
        Rows that tasks name by position (``data.row``); never saved.
    transform : callable, default=None
        ``transform(image_bytes) -> row`` (default
        :class:`~skactive.label_studio.ImageTransform`).
    image_root : path-like, default=None
        Folder whose files tasks may name by path.
    hostname : str, default=None
        Label Studio's address, given by the operator: ``/setup`` cannot
        move it.
    access_token : str, default=None
        A token (legacy or personal) for ``hostname``, sent nowhere else
        and never saved. ``/setup`` may also send one with its address.
    n_clusters : int, default=8
        Diversity buckets: k-means on the network's embedding of the
        labelled rows, fitted once per model version.
    background_refit : bool, default=True
        Refit in a thread after each change (the web server); ``False``
        leaves refits to :meth:`refit` (the poller, tests).
    embedding : callable, default=None
        What the buckets are computed on instead of the network's
        embedding: a pretrained :class:`~skactive.embeddings.Embedding`
        (the one a campaign's TypiClust uses), so buckets mean the same
        thing from the first task on.
    vote : {"latest", "majority"}, default="latest"
        Which of a task's annotations gives its label (several annotators).
    full_refit_every : int, default=None
        None: every refit is as the learner is set (a fresh model unless
        its ``warm_start``). An int ``k``: refits continue from the current
        model (warm), and the first refit after ``k`` or more label changes
        since the last fresh one trains a fresh model on everything.
    warm_epochs : int, default=None
        Epochs of a warm refit of a skorch net (the learner's
        ``warm_epochs`` for those refits; None: the learner's own).
    allow_private : bool, default=False
        Let task images come from loopback, private and link-local
        addresses other than Label Studio's own (see
        :class:`~skactive.label_studio.TaskReader`).
    """

    learner = _state_field("learner", "The ActiveLearner of the saved state.")
    ledger = property(
        lambda self: MappingProxyType(self._state.ledger),
        doc="Taught tasks: task id to TaskEntry (read-only; changes go through apply).",
    )
    version = _state_field("version", "Refits so far.")
    changes = _state_field("changes", "Label changes so far.")
    trained_changes = _state_field("trained_changes", "Changes the current model has seen.")
    n_trained = _state_field("n_trained", "Rows the current model was fitted on.")
    label_config = _state_field("label_config", "The project's XML configuration.")
    project = _setting("project", "The project served.")
    n_clusters = _setting("n_clusters", "Diversity buckets.")
    embedding = _setting("embedding", "What the buckets are computed on.")
    vote = _setting("vote", "How a task's label follows from its annotations.")
    full_refit_every = _setting("full_refit_every", "Label changes between fresh refits.")
    warm_epochs = _setting("warm_epochs", "Epochs of a warm refit.")

    def __init__(
        self,
        learner,
        *,
        path=None,
        label_config: str | None = None,
        project: int | None = None,
        pool=None,
        transform=None,
        image_root=None,
        hostname: str | None = None,
        access_token: str | None = None,
        n_clusters: int = 8,
        background_refit: bool = True,
        embedding=None,
        vote: str = "latest",
        full_refit_every: int | None = None,
        warm_epochs: int | None = None,
        allow_private: bool = False,
    ):
        if not isinstance(learner, ActiveLearner) or not hasattr(learner, "estimator_"):
            raise TypeError(
                f"learner: expected a fitted ActiveLearner, got {type(learner).__name__}"
            )
        settings = dict(
            n_clusters=n_clusters,
            embedding=embedding,
            vote=vote,
            full_refit_every=full_refit_every,
            warm_epochs=warm_epochs,
        )
        _check_settings(**settings)
        self._state = BackendState(
            learner, n_trained=len(learner.y_labeled_), project=project, **settings
        )
        self._init_runtime()
        self.configure(
            path=path,
            pool=pool,
            transform=transform,
            image_root=image_root,
            hostname=hostname,
            access_token=access_token,
            background_refit=background_refit,
            allow_private=allow_private,
        )
        if label_config is not None:
            # Part of the initial state: nothing was acknowledged yet, nothing to save.
            self.config = self._checked_config(label_config)
            self._state = replace(self._state, label_config=label_config)

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        # Held for a whole refit, which holds ``_lock`` only to read and to commit.
        self._refitting = threading.RLock()
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._worker = None
        # (version, fitted KMeans, the id each cluster is served as, the id
        # each labelled row was served with): ids carry over between versions.
        self._kmeans = None
        # Every task's row read so far, by task id and data: a sync reads what is new.
        self.rows = RowCache()
        # Webhook changes by annotation id: (when received, the Answer, or None if deleted).
        self._received: dict[int, tuple[float, Answer | None]] = {}
        self._writer = None
        self.config = None
        self.path = None
        self.pool = self.transform = self.image_root = None
        self.credential = None
        self._pinned_hostname = False
        self.background_refit = True
        self.allow_private = False

    def configure(self, **runtime) -> LabelStudioBackend:
        """Set what is never saved: ``path``, ``pool``, ``transform``, ``image_root``,
        ``hostname`` with ``access_token`` or ``credential``, ``background_refit``,
        ``allow_private``; and the settings ``n_clusters``, ``embedding``, ``vote``,
        ``full_refit_every``, ``warm_epochs``.

        A ``hostname`` given here is the operator's: ``/setup`` cannot move it.
        """
        settings = {k: runtime.pop(k) for k in _SETTINGS if k in runtime}
        if settings:
            _check_settings(**settings)
            self._state = replace(self._state, **settings)
        token = runtime.pop("access_token", None)
        if "hostname" in runtime:
            hostname = runtime.pop("hostname")
            if hostname is not None:
                self._state = replace(self._state, hostname=_address(hostname, "hostname"))
                self._pinned_hostname = True
        if token is not None:
            if self.hostname is None:
                raise ValueError(
                    "access_token: a token is sent only to the address it belongs to; pass "
                    "hostname= with it"
                )
            runtime["credential"] = Credential(self.hostname, token)
        if "path" in runtime:
            path = runtime.pop("path")
            self.close_file()
            self.path = None if path is None else Path(path)
        if "background_refit" in runtime:
            validate_params(
                {"background_refit": runtime["background_refit"]},
                {"background_refit": [BOOLEAN]},
            )
        for name, value in runtime.items():
            if name not in _RUNTIME:
                raise TypeError(f"configure: unknown setting {name!r}")
            setattr(self, name, value)
        return self

    # -- persistence ---------------------------------------------------------

    @property
    def state(self) -> BackendState:
        """The state saved last (and served now)."""
        return self._state

    @property
    def hostname(self) -> str | None:
        """Label Studio's address, for files tasks name by path (``/data/...``)."""
        return self._state.hostname

    def __reduce__(self):
        # A backend pickles as its saved state: no pool, token, lock or thread.
        return (_restored, (self._state,))

    def __setstate__(self, legacy: dict):
        # Files written before the state record: the backend's own attributes.
        self._init_runtime()
        self._state = _legacy_state(legacy)

    def claim(self) -> LabelStudioBackend:
        """Become the only writer of ``path`` and remove temporaries a killed save left.

        Raises
        ------
        FileInUseError
            Another process (or backend) writes ``path``.
        """
        if self.path is not None and self._writer is None:
            writer = WriterLock(self.path).acquire()
            self._writer = writer
            for stale in remove_stale_temporaries(self.path):
                logger.info("removed %s, left by an interrupted save", stale)
        return self

    def close_file(self) -> None:
        """Give up ``path`` for another writer."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def save(self) -> None:
        """Write the current state to ``path`` (see :meth:`_commit` for changes)."""
        with self._lock:
            self._commit(self._state)

    def _commit(self, state: BackendState) -> None:
        """Save ``state``, then adopt it; if the save fails nothing changes (SaveError)."""
        if self.path is not None:
            try:
                self.claim()
                save_pickle(state, self.path, kind=FILE_KIND)
            except OSError as exc:
                raise SaveError(
                    f"state: cannot save {self.path} ({exc}); nothing was changed, retry later"
                ) from exc
        self._state = state

    @property
    def model_version(self) -> str:
        """The version Label Studio stores with predictions; new after every refit."""
        return f"{VERSION_PREFIX}{self.version}"

    # -- the protocol ----------------------------------------------------------

    def health(self) -> dict:
        """``/health``: up, the model's class and version, labels taught and trained on.

        ``n_labeled`` counts the labels saved; ``n_trained`` those the model of
        ``model_version`` was fitted on (fewer while a refit is due).
        """
        state = self._state
        return {
            "status": "UP",
            "model_class": type(state.learner.estimator_).__name__,
            "model_version": f"{VERSION_PREFIX}{state.version}",
            "n_labeled": len(state.learner.y_labeled_),
            "n_trained": state.n_trained,
            "refit_due": state.changes != state.trained_changes,
        }

    def setup(self, project, label_config, *, hostname=None, access_token=None) -> dict:
        """``/setup``: check the project and its configuration; remember how to fetch files.

        A token is kept (in memory only) for the address it came with: with
        ``hostname``, or the address already known. An operator's address
        (``hostname=`` at start, ``--url``) is never moved, and an operator's
        token is never replaced.

        Raises
        ------
        ValueError
            A project other than the one served, a configuration the
            learner cannot serve (see :meth:`use_config`), a malformed address.
        """
        project_id = self.check_project(project)
        config = self._checked_config(label_config)
        address = None if hostname is None else _address(hostname, "hostname")
        with self._lock:
            state = self._state
            if address is not None and self._pinned_hostname and address != state.hostname:
                logger.warning(
                    "setup: keeping Label Studio at %s, not %s (set by the operator)",
                    state.hostname,
                    address,
                )
                address, access_token = None, None
            if self._pinned_hostname and self.credential is not None:
                access_token = None  # the operator's token stays
            changed = replace(
                state,
                label_config=label_config,
                project=state.project if state.project is not None else project_id,
                hostname=address or state.hostname,
            )
            if changed != state:
                self._commit(changed)
            self.config = config
            self._take_token(access_token, address)
        return {"model_version": self.model_version}

    def _take_token(self, token, address) -> None:
        if not token:
            moved = address is not None and self.credential is not None
            if moved and self.credential.origin != origin_of(address):
                # The token belongs to the old address: it never goes to the new one.
                self.credential = None
            return
        target = address or self.hostname
        if target is None:
            logger.warning("setup: a token came without an address; it will not be used")
            return
        if self.credential is None or not (
            self.credential.same_token(token) and self.credential.origin == origin_of(target)
        ):
            self.credential = Credential(target, token)

    def use_config(self, label_config: str) -> LabelConfig:
        """Take ``label_config`` if its choices are the learner's classes; saved first.

        Raises
        ------
        ValueError
            A configuration the learner cannot serve.
        SaveError
            The change could not be saved, so it was not made.
        """
        config = self._checked_config(label_config)
        with self._lock:
            changed = replace(self._state, label_config=label_config)
            if changed != self._state:
                self._commit(changed)
            self.config = config
        return config

    def _checked_config(self, label_config) -> LabelConfig:
        config = parse_label_config(label_config)
        config.check_classes(self.learner.classes_)
        return config

    def check_project(self, project) -> int | None:
        """The project id of ``project`` (``7``, ``"7.1700000000"`` or ``{"id": 7}``).

        Raises
        ------
        ValueError
            If it is not the project this backend serves.
        """
        if project is None:
            return None
        raw = project.get("id") if isinstance(project, dict) else project
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError(f"project: expected a project id, got {raw!r}")
        try:
            project_id = int(str(raw).split(".")[0])
        except ValueError:
            raise ValueError(f"project: expected a project id, got {raw!r}") from None
        if self.project is not None and project_id != self.project:
            raise ValueError(
                f"project: this backend serves project {self.project}, not project {project_id}"
            )
        return project_id

    def predict(self, tasks) -> list[dict]:
        """``/predict``: one prediction per task, in the tasks' order.

        Each has the predicted choice, ``score`` (the strategy's rank over
        these tasks, divided by their number: lower is labelled first),
        ``cluster`` (the task's diversity bucket) and ``model_version``. A
        task that cannot be read gets an empty result, score 1 and
        ``error``. Images are read before the backend's lock is taken, so
        a slow image never holds up an answer.
        """
        config = self._config()
        reader = self.reader()
        rows = np.empty((len(tasks), *self.learner.row_shape_), dtype=np.float32)
        readable, errors = [], {}
        for i, task in enumerate(tasks):
            try:
                rows[i] = self.rows.read(reader, task)
                readable.append(i)
            except TaskError as exc:
                errors[i] = str(exc)
                logger.warning("predict: %s", exc)
        with self._lock:
            state = self._state
            X = rows[readable]
            ranks = rank_tasks(copy.copy(state.learner), X)
            labels = state.learner.predict(X) if len(X) else []
            clusters = self._clusters(state, X)
        version = f"{VERSION_PREFIX}{state.version}"
        results = [None] * len(tasks)
        for j, i in enumerate(readable):
            results[i] = {
                "result": [self._choice(config, labels[j])],
                "score": float(ranks[j]) / len(X),
                "cluster": int(clusters[j]),
                "model_version": version,
            }
        for i, message in errors.items():
            results[i] = {
                "result": [],
                "score": UNREADABLE_SCORE,
                "model_version": version,
                "error": message,
            }
        return results

    def reader(self) -> TaskReader:
        """The task reader for the current configuration and Label Studio address."""
        config = self._config()
        return TaskReader(
            self.learner.row_shape_,
            data_key=config.data_key,
            transform=self.transform,
            pool=self.pool,
            hostname=self.hostname,
            credential=self.credential,
            image_root=self.image_root,
            allow_private=self.allow_private,
        )

    # -- annotations -----------------------------------------------------------

    def parse_annotation(self, annotation, *, where="annotation", task_id=None) -> Answer:
        """An :class:`Answer` of Label Studio's annotation JSON (``ValueError`` if malformed)."""
        config = self._config()
        return parse_annotation(
            annotation, config, self.learner.classes_, where=where, task_id=task_id
        )

    def teach_annotation(self, task: dict, annotation: dict) -> str:
        """Record one annotation of ``task``; return what happened.

        Returns one of ``"taught"``, ``"relabeled"``, ``"duplicate"``,
        ``"skipped"`` (a cancelled annotation), ``"forgotten"`` (an update
        that left the task no standing annotation). The backend is saved
        before this returns.

        Raises
        ------
        AnnotationError, TaskError
            Naming the field: no choice for the configuration's
            ``<Choices>``, a choice that is not a class, an unreadable task.
        SaveError
            The change could not be saved, so it was not made.
        """
        parse_task(task)
        answer = self.parse_annotation(annotation, task_id=task["id"])
        (outcome,) = self._apply([Change.answer(task, answer)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def task_change(self, task: dict, *, where: str = "task") -> Change:
        """The :class:`Change` that makes a task's answers those it is exported with.

        Raises
        ------
        ValueError
            A malformed task or annotation, naming the field.
        """
        task_id = parse_task(task, where)
        annotations = task.get("annotations")
        if annotations is None:
            annotations = []
        if not isinstance(annotations, list):
            raise ValueError(f"{where}.annotations: expected a list, got {annotations!r:.80}")
        answers = [
            self.parse_annotation(a, where=f"{where}.annotations[{i}]", task_id=task_id)
            for i, a in enumerate(annotations)
        ]
        return Change.answers(task, answers)

    def reconcile(self, tasks, *, since: float | None = None) -> tuple[Counter, list]:
        """Bring the ledger in line with every task of the project (the poller's view).

        Each task's standing annotations become the ledger's; a task the
        ledger holds that has no annotation any more (deleted, or the task
        removed) is forgotten. A malformed or unreadable task is one error
        and the others go on. Saved once, at the end.

        ``since`` is when the poller began reading ``tasks``
        (``time.monotonic()``): an answer or a deletion the webhook
        acknowledged after that is newer than the snapshot and stands, so
        a label acknowledged while the poller read the project is never
        withdrawn by it.

        Returns
        -------
        outcomes : Counter
            How many tasks were ``taught``, ``relabeled``, ``duplicate``,
            ``skipped``, ``forgotten`` or refused (``error``).
        errors : list of str
            Why tasks were refused.
        """
        newer = self._received_since(since)
        # Tasks a webhook answered after the snapshot: the snapshot cannot withdraw them.
        changes, errors, kept = [], [], {a.task for a in newer.values() if a is not None}
        for i, task in enumerate(tasks):
            try:
                change = self.task_change(task, where=f"tasks[{i}]")
            except ValueError as exc:
                errors.append(str(exc))
                # A malformed task keeps what the ledger holds of it.
                kept.add(task.get("id") if isinstance(task, dict) else None)
                continue
            answers = with_newer(change.task_answers, change.task_id, newer)
            if answers:
                kept.add(change.task_id)
                changes.append(Change.answers(task, answers))
        with self._lock:
            gone = [t for t in self.ledger if t not in kept]
            outcomes = self._apply(changes + [Change.dropped(t) for t in gone])
            if since is not None:  # older webhook changes are in every later snapshot
                self._received = {k: v for k, v in self._received.items() if v[0] >= since}
        counts = Counter(error=len(errors))
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                counts["error"] += 1
                errors.append(str(outcome))
            else:
                counts[outcome] += 1
        return +counts, errors

    def forget_annotation(self, annotation_id) -> str:
        """Withdraw a deleted annotation; see :meth:`apply`. ``"unknown"`` if not held."""
        (outcome,) = self.apply([Change.deleted(annotation_id)])
        return outcome

    def forget_task(self, task_id: int) -> str:
        """Withdraw the label of ``task_id`` (its annotations were all deleted)."""
        (outcome,) = self.apply([Change.dropped(task_id)])
        return outcome

    def apply(self, changes) -> list[str]:
        """Make ``changes`` (a list of :class:`Change`) together; one outcome each.

        Rows of tasks taught for the first time are read before the lock
        is taken. The new state is computed on a copy, saved once, then
        adopted: if the save fails, nothing changes and :class:`SaveError`
        is raised. A change that cannot be made (an unreadable task, an
        annotation that names no class) is ``"error: ..."`` and leaves the
        others.
        """
        return [
            f"error: {outcome}" if isinstance(outcome, Exception) else outcome
            for outcome in self._apply(changes)
        ]

    def _apply(self, changes) -> list:
        """:meth:`apply`, with the exception itself for a change that could not be made."""
        received = time.monotonic()
        rows = self._rows_for(changes)
        with self._lock:
            state = self._state
            work = Transaction(state.learner, state.ledger, state.vote, rows, self.reader)
            outcomes = [work.apply(change) for change in changes]
            if work.ledger != state.ledger:
                changed = state.changes + work.changes
                self._commit(
                    replace(state, learner=work.learner, ledger=work.ledger, changes=changed)
                )
            self._remember(changes, received)
        if work.changes:
            self._wake()
        return outcomes

    def _remember(self, changes, received: float) -> None:
        """Note the webhook's answers and deletions, for a poller whose snapshot is older.

        Kept for :data:`RECEIVED_HORIZON` seconds (a sync pruning them sooner),
        so a server that only receives webhooks does not grow for weeks.
        """
        horizon = received - RECEIVED_HORIZON
        self._received = {k: v for k, v in self._received.items() if v[0] >= horizon}
        for change in changes:
            if change.kind == "answer":
                (answer,) = change.task_answers
                self._received[answer.id] = (received, answer)
            elif change.kind == "deleted":
                self._received[change.annotation_id] = (received, None)

    def _received_since(self, since: float | None) -> dict:
        if since is None:
            return {}
        with self._lock:
            return {k: answer for k, (t, answer) in self._received.items() if t >= since}

    def _rows_for(self, changes) -> dict:
        """Rows of the tasks the changes would teach for the first time, or their errors."""
        ledger, rows = self._state.ledger, {}
        reader = None
        for change in changes:
            if change.task is None or change.task_id in ledger or change.task_id in rows:
                continue
            if not any(a.stands for a in change.task_answers):
                continue
            reader = reader or self.reader()
            try:
                rows[change.task_id] = self.rows.read(reader, change.task)
            except TaskError as exc:
                rows[change.task_id] = exc
        return rows

    # -- refitting -------------------------------------------------------------

    @property
    def refit_due(self) -> bool:
        """Whether labels changed since the model of ``model_version`` was fitted."""
        return self.changes != self.trained_changes

    def refit(self) -> str:
        """Refit the learner on everything taught, save, and return the new version.

        The refit trains a snapshot of the campaign off the backend's lock:
        answers, deletions and ``/predict`` are served (and answers saved)
        while it runs. Its model is then adopted into the campaign as it
        stands, with the answers that arrived meanwhile, which keep a refit
        due. One refit runs at a time. If the refit or the save fails, the
        previous model keeps serving.
        """
        with self._refitting:
            with self._lock:
                before = self._state
            warm = _warm_refit(before)
            snapshot = _refitted(before.learner, warm=warm, epochs=before.warm_epochs)
            with self._lock:
                state = self._state
                learner = _with_model_of(state.learner, snapshot, unchanged=before.learner)
                fresh = state.fresh_changes if warm else before.changes
                self._commit(
                    replace(
                        state,
                        learner=learner,
                        version=state.version + 1,
                        n_trained=len(snapshot.y_labeled_),
                        trained_changes=before.changes,
                        fresh_changes=fresh,
                    )
                )
            logger.info("refit on %d labels: %s", len(snapshot.y_labeled_), self.model_version)
            return self.model_version

    def refit_if_due(self) -> str | None:
        """Refit if labels changed since the last refit; the new version, or ``None``.

        Checked under the refit lock, so that the poller and the background
        thread never refit twice for the same changes.
        """
        with self._refitting:
            return self.refit() if self.refit_due else None

    def start(self) -> LabelStudioBackend:
        """Start the background refit thread (``background_refit=True``)."""
        if self.background_refit and self._worker is None:
            self._stopping.clear()
            self._worker = threading.Thread(
                target=self._refit_loop, name="skactive-refit", daemon=True
            )
            self._worker.start()
            if self.refit_due:  # answers saved by a server that stopped before refitting
                self._wake()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread after the refit in progress, if any."""
        self._stopping.set()
        self._wanted.set()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None

    def close(self, timeout: float | None = None) -> None:
        """Stop refitting and give up the state file."""
        self.stop(timeout)
        self.close_file()

    def wait_for_refit(self, timeout: float = 60.0) -> bool:
        """Wait until the model has every label (no refit due); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self.refit_due:
                    return True
            time.sleep(0.05)
        return False

    def _wake(self) -> None:
        if self.background_refit:
            self._wanted.set()

    def _refit_loop(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping.is_set():
                return
            try:
                self.refit_if_due()  # nothing to do if the poller came first
            except Exception:  # the labels are saved; the next change retries
                logger.exception("refit failed; the previous model keeps serving")

    # -- helpers ---------------------------------------------------------------

    def _config(self) -> LabelConfig:
        if self.config is None:
            if self.label_config is not None:
                self.config = self._checked_config(self.label_config)
                return self.config
            raise ValueError(
                "label_config: the backend has no label configuration yet; connect it to a "
                "project (Label Studio calls /setup) or pass label_config="
            )
        return self.config

    def _clusters(self, state: BackendState, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0, dtype=np.int64)
        model = state.learner.estimator_ if state.embedding is None else state.embedding
        if self._kmeans is None or self._kmeans[0] != state.version:
            labeled = embed_rows(model, state.learner.X_labeled_)
            k = min(state.n_clusters, len(labeled))
            keys = _row_keys(state.learner)
            served = {} if self._kmeans is None else self._kmeans[3]
            kmeans = _clustering(labeled, keys, served, k).fit(labeled)
            ids = carry_cluster_ids(served, keys, kmeans.labels_, k)
            served = dict(zip(keys, ids[kmeans.labels_].tolist(), strict=True))
            self._kmeans = (state.version, kmeans, ids, served)
        _, kmeans, ids, _ = self._kmeans
        return ids[kmeans.predict(embed_rows(model, X))]

    @staticmethod
    def _choice(config: LabelConfig, label) -> dict:
        return {
            "from_name": config.from_name,
            "to_name": config.to_name,
            "type": "choices",
            "value": {"choices": [str(label)]},
        }


def _warm_refit(state: BackendState) -> bool | None:
    """Whether the next refit is warm; None: as the learner is set (no schedule)."""
    if state.full_refit_every is None:
        return None
    return state.changes - state.fresh_changes < state.full_refit_every


def _refitted(learner, *, warm: bool | None, epochs: int | None):
    """A snapshot of ``learner`` refitted, warm or fresh as ``warm`` says (None: as set).

    A warm refit trains ``epochs`` epochs (None: the learner's
    ``warm_epochs``); the snapshot keeps the learner's own settings after.
    """
    snapshot = copy.copy(learner)
    own = {"warm_start": learner.warm_start, "warm_epochs": learner.warm_epochs}
    if warm is not None:
        snapshot.set_params(warm_start=warm)
    if epochs is not None:
        snapshot.set_params(warm_epochs=epochs)
    snapshot.refit()
    return snapshot.set_params(**own)


def _with_model_of(learner, refitted, *, unchanged):
    """``learner``'s campaign served by ``refitted``'s model (fitted on a snapshot of it).

    If nothing changed since the snapshot (``learner is unchanged``), the
    refitted learner itself; otherwise the current campaign, with the
    answers that came meanwhile, and the new model and the classes it was
    trained on.
    """
    if learner is unchanged:
        return refitted
    record, fitted = learner.record(), refitted.record()
    record = {
        **record,
        "arrays": {**record["arrays"], "fitted_classes_": fitted["arrays"]["fitted_classes_"]},
        "objects": {**record["objects"], "estimator": fitted["objects"]["estimator"]},
    }
    return copy.copy(learner).restore(record)


def _clustering(points: np.ndarray, keys: list, served: dict, k: int) -> KMeans:
    """k-means that starts from the previous version's groups, when there were ``k`` of them.

    Each group's centre is recomputed in this version's embedding (the mean
    of its rows that are still labelled), so the groups move only as far as
    the new network makes them, not as far as a fresh k-means would.
    """
    groups: dict = {}
    for row, key in enumerate(keys):
        if key in served:
            groups.setdefault(served[key], []).append(row)
    if len(groups) != k:
        return KMeans(n_clusters=k, n_init=3, random_state=0)
    centres = np.stack([points[rows].mean(axis=0) for _, rows in sorted(groups.items())])
    return KMeans(n_clusters=k, init=centres, n_init=1)


def _row_keys(learner) -> list:
    """A key per labelled row: its task id, or its position for a row taught without one."""
    return [("row", i) if key is None else key for i, key in enumerate(learner.keys_)]


#: What :meth:`LabelStudioBackend.configure` sets on the object itself.
_RUNTIME = frozenset(
    {"path", "pool", "transform", "image_root", "credential", "background_refit", "allow_private"}
)


#: The saved settings :meth:`LabelStudioBackend.configure` takes.
_SETTINGS = ("n_clusters", "embedding", "vote", "full_refit_every", "warm_epochs")


def _check_settings(**settings) -> None:
    constraints = {
        "n_clusters": [integer(1)],
        "embedding": [None, Constraint(callable, "a callable mapping rows to vectors")],
        "vote": [options(*VOTES)],
        "full_refit_every": [integer(1), None],
        "warm_epochs": [integer(1), None],
    }
    validate_params(settings, {k: constraints[k] for k in settings})


def _address(url, name: str) -> str:
    try:
        origin_of(url)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return str(url).rstrip("/")


def _restored(state: BackendState) -> LabelStudioBackend:
    backend = LabelStudioBackend.__new__(LabelStudioBackend)
    backend._init_runtime()
    backend._state = state
    return backend


def _legacy_state(saved: dict) -> BackendState:
    """A :class:`BackendState` of a backend pickled by skactive before the record existed."""
    entries = saved.get("ledger", {})
    ledger = {
        task_id: TaskEntry(entry["label"], (Answer(entry["annotation"], task_id, entry["label"]),))
        for task_id, entry in entries.items()
    }
    names = {f.name for f in fields(BackendState)} - {"ledger", "learner"}
    learner = _keyed(saved["learner"], {t: e["position"] for t, e in entries.items()})
    return BackendState(
        learner=learner, ledger=ledger, **{k: v for k, v in saved.items() if k in names}
    )


def _with_keys(state: BackendState) -> BackendState:
    """A state saved when the ledger kept each task's row position: the rows take task ids."""
    positions = {
        task_id: entry.__dict__["position"]
        for task_id, entry in state.ledger.items()
        if "position" in entry.__dict__
    }
    if not positions:
        return state
    ledger = {task_id: TaskEntry(e.label, e.answers) for task_id, e in state.ledger.items()}
    return replace(state, learner=_keyed(state.learner, positions), ledger=ledger)


def _keyed(learner, positions: dict):
    """A copy of ``learner`` whose rows at ``positions`` (task id -> row) carry their task ids."""
    named = set(learner.keys_.tolist()) - {None}
    todo = {task_id: row for task_id, row in positions.items() if task_id not in named}
    if not todo:
        return learner
    return copy.copy(learner).assign_keys(list(todo.values()), list(todo))


def load_backend(file, **runtime) -> LabelStudioBackend:
    """Load a backend saved by :meth:`LabelStudioBackend.save` (trusted files only).

    ``runtime`` sets what is not saved or may change between runs (see
    :meth:`LabelStudioBackend.configure`); ``path`` (where it saves next)
    defaults to ``file``.
    """
    saved = load_pickle(file, (BackendState, LabelStudioBackend), kind=FILE_KIND)
    if isinstance(saved, BackendState):
        saved = _with_keys(saved)
    backend = saved if isinstance(saved, LabelStudioBackend) else _restored(saved)
    runtime.setdefault("path", file)
    return backend.configure(**runtime)
