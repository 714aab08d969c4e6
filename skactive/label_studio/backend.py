"""The learner behind Label Studio: predictions in the strategy's order, answers taught.

:class:`LabelStudioBackend` holds an :class:`~skactive.ActiveLearner`, the
project's label configuration and a ledger of the annotations it taught.
The web app (:func:`~skactive.label_studio.make_app`) and the poller
(:func:`~skactive.label_studio.sync`) are two doors into the same object.

Score mapping (Label Studio serves the *lowest* score first): the tasks of
one request are ranked by the learner's query strategy, as one
``learner.query(rows, n=len(rows))``, and the task at rank ``r`` of ``m``
gets ``score = r / m``. The strategy's first pick scores 0; a task the
backend cannot read scores 1 and comes last. Scores compare within one
request: Label Studio's "Retrieve predictions" and :func:`sync` send every
unlabelled task at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from skactive._files import load_pickle, save_pickle
from skactive._inference import embed_rows
from skactive.label_studio.config import LabelConfig, parse_label_config
from skactive.label_studio.tasks import TaskError, TaskReader
from skactive.learner import ActiveLearner
from skactive.param_validation import BOOLEAN, Constraint, integer, validate_params

__all__ = ["VERSION_PREFIX", "AnnotationError", "LabelStudioBackend", "load_backend"]

logger = logging.getLogger("skactive.label_studio")

#: What a saved backend file says it holds (refused as a plain learner).
FILE_KIND = "label-studio-backend"

#: How every model version of a backend starts (then the refit count).
VERSION_PREFIX = "skactive-v"

#: Score of a task the backend cannot read: after every readable task.
UNREADABLE_SCORE = 1.0


class AnnotationError(ValueError):
    """An annotation the backend cannot teach; the message names the field."""


class LabelStudioBackend:
    """An active learner serving one Label Studio project.

    Every answer is recorded in the learner and, with ``path``, saved
    atomically before the caller is told it was accepted; refits happen
    after (in a background thread with ``background_refit=True``) and each
    gives a new ``model_version``.

    What annotations do, per task (the ledger holds one label per task,
    from its latest annotation):

    * a new annotation of an unlabelled task teaches its row;
    * the same annotation again (a retried webhook, the poller after the
      webhook) changes nothing;
    * an updated annotation, or a newer one from another annotator with a
      different label, relabels the row (:meth:`ActiveLearner.relabel`);
    * deleting the annotation that gave the label withdraws the row
      (:meth:`ActiveLearner.forget`) until the task is annotated again;
    * a skipped (cancelled) annotation teaches nothing.

    Parameters
    ----------
    learner : ActiveLearner
        Fitted on an initial labelled set; its classes are the choices.
    path : path-like, default=None
        File the backend saves to after every change (a pickle: load it only
        from a path you trust).
    label_config : str, default=None
        The project's XML; otherwise given by Label Studio at ``/setup``.
    project : int, default=None
        The only project served; by default the first that calls ``/setup``.
    pool : array-like, default=None
        Rows that tasks name by position (``data.row``).
    transform : callable, default=None
        ``transform(image_bytes) -> row`` (default
        :class:`~skactive.label_studio.ImageTransform`).
    image_root : path-like, default=None
        Folder whose files tasks may name by path.
    hostname, access_token : str, default=None
        Label Studio's address and a token to fetch its files (``/setup``
        sends both; the token is never saved).
    n_clusters : int, default=8
        Diversity buckets: k-means on the network's embedding of the
        labelled rows, fitted once per model version.
    embedding : callable, default=None
        What the buckets are computed on instead of the network's
        embedding: a pretrained :class:`~skactive.embeddings.Embedding`
        (the one a campaign's TypiClust uses), so buckets mean the same
        thing from the first task on.
    background_refit : bool, default=True
        Refit in a thread after each change (the web server); ``False``
        leaves refits to :meth:`refit` (the poller, tests).
    """

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
    ):
        if not isinstance(learner, ActiveLearner) or not hasattr(learner, "estimator_"):
            raise TypeError(
                f"learner: expected a fitted ActiveLearner, got {type(learner).__name__}"
            )
        validate_params(
            {
                "n_clusters": n_clusters,
                "background_refit": background_refit,
                "embedding": embedding,
            },
            {
                "n_clusters": [integer(1)],
                "background_refit": [BOOLEAN],
                "embedding": [None, Constraint(callable, "a callable mapping rows to vectors")],
            },
        )
        self.learner = learner
        self.path = None if path is None else Path(path)
        self.project = project
        self.pool = pool
        self.transform = transform
        self.image_root = image_root
        self.hostname = hostname
        self.access_token = access_token
        self.n_clusters = n_clusters
        self.embedding = embedding
        self.background_refit = background_refit
        self.config = None
        self.label_config = None
        self.version = 0
        self.n_trained = len(learner.y_labeled_)
        # Label changes so far, and how many the current model was fitted after.
        self.changes = self.trained_changes = 0
        self.ledger: dict[int, dict] = {}
        self._init_runtime()
        if label_config is not None:
            self.use_config(label_config)

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._worker = None
        self._kmeans = None

    # -- persistence ---------------------------------------------------------

    def __getstate__(self):
        # Locks, threads and caches are rebuilt by _init_runtime on loading.
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        state["access_token"] = None  # a credential stays in memory, never on disk
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_runtime()

    def save(self) -> None:
        """Write the backend (learner, ledger, version) to ``path`` atomically."""
        if self.path is not None:
            with self._lock:
                save_pickle(self, self.path, kind=FILE_KIND)

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
        return {
            "status": "UP",
            "model_class": type(self.learner.estimator_).__name__,
            "model_version": self.model_version,
            "n_labeled": len(self.learner.y_labeled_),
            "n_trained": self.n_trained,
            "refit_due": self.refit_due,
        }

    def setup(self, project, label_config, *, hostname=None, access_token=None) -> dict:
        """``/setup``: check the project and its configuration; remember how to fetch files.

        Raises
        ------
        ValueError
            A project other than the one served, or a configuration the
            learner cannot serve (see :meth:`use_config`).
        """
        project_id = self.check_project(project)
        with self._lock:
            before = (self.label_config, self.project)
            self.use_config(label_config)
            if self.project is None:
                self.project = project_id
            self.hostname = hostname or self.hostname
            self.access_token = access_token or self.access_token
            if (self.label_config, self.project) != before:
                self.save()
        return {"model_version": self.model_version}

    def use_config(self, label_config: str) -> LabelConfig:
        """Take ``label_config`` if its choices are the learner's classes."""
        config = parse_label_config(label_config)
        config.check_classes(self.learner.classes_)
        self.config, self.label_config = config, label_config
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
        ``error``.
        """
        config = self._config()
        reader = self.reader()
        rows = np.empty((len(tasks), *self.learner.row_shape_), dtype=np.float32)
        readable, errors = [], {}
        for i, task in enumerate(tasks):
            try:
                rows[i] = reader.read(task)
                readable.append(i)
            except TaskError as exc:
                errors[i] = str(exc)
                logger.warning("predict: %s", exc)
        with self._lock:
            X = rows[readable]
            ranks = self._ranks(X)
            labels = self.learner.predict(X) if len(X) else []
            clusters = self._clusters(X)
            version = self.model_version
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
            access_token=self.access_token,
            image_root=self.image_root,
        )

    # -- annotations -----------------------------------------------------------

    def teach_annotation(self, task: dict, annotation: dict) -> str:
        """Record one annotation of ``task``; return what happened.

        Returns one of ``"taught"``, ``"relabeled"``, ``"duplicate"``,
        ``"skipped"`` (a cancelled annotation). The backend is saved before
        this returns.

        Raises
        ------
        AnnotationError, TaskError
            Naming the field: no choice for the configuration's
            ``<Choices>``, a choice that is not a class, an unreadable task.
        """
        config = self._config()
        task_id = _identifier(task, "task")
        annotation_id = _identifier(annotation, "annotation")
        if annotation.get("was_cancelled"):
            return "skipped"
        label = self._label_of(config, annotation, annotation_id)
        with self._lock:
            entry = self.ledger.get(task_id)
            if entry is not None and entry["label"] == str(label):
                outcome = "duplicate"
                if entry["annotation"] == annotation_id:
                    return outcome  # nothing to save
                entry["annotation"] = annotation_id  # another annotator agreed
            elif entry is not None:
                self.learner.relabel([entry["position"]], [label], refit=False)
                entry.update(annotation=annotation_id, label=str(label))
                outcome = "relabeled"
            else:
                row = self.reader().read(task)
                self.learner.teach(row[None], [label], refit=False)
                position = len(self.learner.y_labeled_) - 1
                self.ledger[task_id] = {
                    "annotation": annotation_id,
                    "label": str(label),
                    "position": position,
                }
                outcome = "taught"
            if outcome != "duplicate":
                self.changes += 1
            self.save()
        if outcome != "duplicate":
            self._wake()
        return outcome

    def teach_latest(self, task: dict) -> str:
        """Teach the latest annotation of a task exported with its annotations.

        For the poller and ``/train``, which see tasks rather than events:
        the annotation updated last (then the highest id) counts;
        ``"unannotated"`` if there is none. See :meth:`teach_annotation`.
        """
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
        if not annotations:
            return "unannotated"
        latest = max(annotations, key=lambda a: (str(a.get("updated_at") or ""), a.get("id") or 0))
        return self.teach_annotation(task, latest)

    def reconcile(self, tasks) -> tuple[Counter, list]:
        """Bring the ledger in line with every task of the project (the poller's view).

        Each annotated task's latest annotation is taught (see
        :meth:`teach_latest`); a task the ledger holds that has no
        annotation any more (deleted, or the task removed) is forgotten. All
        under one lock, so a background refit sees the whole batch or none.

        Returns
        -------
        outcomes : Counter
            How many annotations were ``taught``, ``relabeled``,
            ``duplicate``, ``skipped``, ``forgotten`` or refused (``error``).
        errors : list of str
            Why annotations were refused.
        """
        outcomes, errors, annotated = Counter(), [], set()
        with self._lock:
            for task in tasks:
                if not task.get("annotations"):
                    continue
                annotated.add(task.get("id"))
                try:
                    outcomes[self.teach_latest(task)] += 1
                except (AnnotationError, TaskError) as exc:
                    outcomes["error"] += 1
                    errors.append(str(exc))
            for task_id in [t for t in self.ledger if t not in annotated]:
                outcomes[self.forget_task(task_id)] += 1
        return outcomes, errors

    def forget_annotation(self, annotation_id) -> str:
        """Withdraw the label a deleted annotation gave; ``"forgotten"`` or ``"unknown"``."""
        with self._lock:
            found = [t for t, e in self.ledger.items() if e["annotation"] == annotation_id]
            if not found:
                return "unknown"
            return self.forget_task(found[0])

    def forget_task(self, task_id: int) -> str:
        """Withdraw the label of ``task_id`` (its annotations were all deleted)."""
        with self._lock:
            entry = self.ledger.pop(task_id, None)
            if entry is None:
                return "unknown"
            position = entry["position"]
            self.learner.forget([position], refit=False)
            for other in self.ledger.values():
                if other["position"] > position:
                    other["position"] -= 1
            self.changes += 1
            self.save()
        self._wake()
        return "forgotten"

    # -- refitting -------------------------------------------------------------

    @property
    def refit_due(self) -> bool:
        """Whether labels changed since the model of ``model_version`` was fitted."""
        return self.changes != self.trained_changes

    def refit(self) -> str:
        """Refit the learner on everything taught, save, and return the new version."""
        with self._lock:
            changes = self.changes
            self.learner.refit()
            self.version += 1
            self.n_trained = len(self.learner.y_labeled_)
            self.trained_changes = changes
            self._kmeans = None
            self.save()
            logger.info("refit on %d labels: %s", len(self.learner.y_labeled_), self.model_version)
            return self.model_version

    def refit_if_due(self) -> str | None:
        """Refit if labels changed since the last refit; the new version, or ``None``.

        Checked and done under one lock, so that the poller and the
        background thread never refit twice for the same changes.
        """
        with self._lock:
            return self.refit() if self.refit_due else None

    def start(self) -> LabelStudioBackend:
        """Start the background refit thread (``background_refit=True``)."""
        if self.background_refit and self._worker is None:
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

    def wait_for_refit(self, timeout: float = 60.0) -> bool:
        """Wait until the model has every label (no refit due); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:  # held by a refit in progress
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
            with self._lock:
                try:
                    self.refit_if_due()  # nothing to do if the poller came first
                except Exception:  # the labels are saved; the next change retries
                    logger.exception("refit failed; the previous model keeps serving")

    # -- helpers ---------------------------------------------------------------

    def _config(self) -> LabelConfig:
        if self.config is None:
            raise ValueError(
                "label_config: the backend has no label configuration yet; connect it to a "
                "project (Label Studio calls /setup) or pass label_config="
            )
        return self.config

    def _ranks(self, X: np.ndarray) -> np.ndarray:
        """Each row's position in the strategy's ranking of ``X`` (0: label first)."""
        ranks = np.zeros(len(X), dtype=np.int64)
        if len(X) == 0:
            return ranks
        order = self.learner.query(X, n=len(X))
        ranks[order] = np.arange(len(X))
        return ranks

    def _clusters(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0, dtype=np.int64)
        model = self.learner.estimator_ if self.embedding is None else self.embedding
        if self._kmeans is None:
            labeled = embed_rows(model, self.learner.X_labeled_)
            k = min(self.n_clusters, len(labeled))
            self._kmeans = KMeans(n_clusters=k, n_init=3, random_state=0).fit(labeled)
        return self._kmeans.predict(embed_rows(model, X))

    @staticmethod
    def _choice(config: LabelConfig, label) -> dict:
        return {
            "from_name": config.from_name,
            "to_name": config.to_name,
            "type": "choices",
            "value": {"choices": [str(label)]},
        }

    def _label_of(self, config: LabelConfig, annotation: dict, annotation_id):
        results = annotation.get("result")
        if not isinstance(results, list):
            raise AnnotationError(f"annotation {annotation_id}: result must be a list")
        for item in results:
            if (
                isinstance(item, dict)
                and item.get("from_name") == config.from_name
                and item.get("type") == "choices"
            ):
                choices = (item.get("value") or {}).get("choices") or []
                if len(choices) != 1:
                    raise AnnotationError(
                        f"annotation {annotation_id}: value.choices must hold one label, got "
                        f"{choices!r}"
                    )
                try:
                    return config.class_of(str(choices[0]), self.learner.classes_)
                except ValueError as exc:
                    raise AnnotationError(f"annotation {annotation_id}: {exc}") from None
        raise AnnotationError(
            f"annotation {annotation_id}: result holds no answer of <Choices "
            f"name={config.from_name!r}>"
        )


def _identifier(obj, what: str) -> int:
    value = obj.get("id") if isinstance(obj, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnnotationError(f"{what}.id: expected an integer, got {value!r}")
    return value


def load_backend(file, **runtime) -> LabelStudioBackend:
    """Load a backend saved by :meth:`LabelStudioBackend.save` (trusted files only).

    ``runtime`` sets what is not saved or may change between runs:
    ``access_token``, ``hostname``, ``pool``, ``transform``,
    ``image_root``, ``background_refit``; ``path`` (where it saves next)
    defaults to ``file``.
    """
    backend = load_pickle(file, LabelStudioBackend, kind=FILE_KIND)
    backend.path = Path(runtime.pop("path", file))
    for name, value in runtime.items():
        if not hasattr(backend, name) or name.startswith("_"):
            raise TypeError(f"load_backend: unknown setting {name!r}")
        setattr(backend, name, value)
    return backend
