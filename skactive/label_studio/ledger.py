"""The ledger's rules: what a change to a task's annotations does to the learner.

A :class:`Change` is one event (a webhook's annotation, a task exported with
all its annotations, a deletion, a task gone). A :class:`Transaction`
applies changes to a copy of the learner and of the ledger: the task's
standing annotations vote for its label (see
:mod:`skactive.label_studio.annotations`), and the row is taught,
relabelled or forgotten to match. Nothing here saves: the backend saves
what a transaction computed, then adopts it.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass

import numpy as np

from skactive.label_studio.annotations import AnnotationError, Answer, TaskEntry, task_label
from skactive.label_studio.tasks import TaskError

__all__ = ["Change", "Transaction", "idle_outcome", "with_newer"]

logger = logging.getLogger("skactive.label_studio")


@dataclass(frozen=True)
class Change:
    """One change to a task's annotations, for :meth:`LabelStudioBackend.apply`.

    Build it with :meth:`answer` (a webhook's new or updated annotation),
    :meth:`answers` (a task exported with all its annotations),
    :meth:`deleted` (an annotation id) or :meth:`dropped` (a task id).
    """

    kind: str
    task: dict | None = None
    task_id: int | None = None
    task_answers: tuple = ()
    annotation_id: int | None = None

    @classmethod
    def answer(cls, task: dict, answer: Answer) -> Change:
        return cls("answer", task, task["id"], (answer,))

    @classmethod
    def answers(cls, task: dict, answers) -> Change:
        return cls("answers", task, task["id"], tuple(answers))

    @classmethod
    def deleted(cls, annotation_id) -> Change:
        return cls("deleted", annotation_id=annotation_id)

    @classmethod
    def dropped(cls, task_id) -> Change:
        return cls("dropped", task_id=task_id)


class Transaction:
    """A new learner and ledger, computed change by change without touching the originals.

    The learner is a shallow copy: its ``teach``, ``relabel``, ``forget``
    and ``query`` swap the copy's campaign, never the original's. The
    backend saves what a transaction computed, then adopts it.

    Parameters
    ----------
    learner : ActiveLearner
    ledger : mapping of int to TaskEntry
    vote : {"latest", "majority"}
    rows : dict
        Rows read beforehand for tasks taught for the first time (or the
        ``TaskError`` their reading raised), by task id.
    reader : callable
        ``reader()`` gives a :class:`~skactive.label_studio.TaskReader`, for a
        task whose row was not read beforehand.

    Attributes
    ----------
    learner, ledger
        The new ones.
    changes : int
        Label changes made (teach, relabel, forget): each calls for a refit.
    """

    def __init__(self, learner, ledger, vote: str, rows: dict, reader):
        self.learner = copy.copy(learner)
        self.ledger = dict(ledger)
        self.vote = vote
        self.rows = rows
        self.reader = reader
        self.changes = 0

    def apply(self, change: Change):
        """The outcome of ``change``, or the exception that kept it from being made."""
        try:
            return self._apply(change)
        except (TaskError, AnnotationError) as exc:
            return exc
        except ValueError as exc:  # the learner refused the row or the forgetting
            return TaskError(f"task {change.task_id}: {exc}")

    def _apply(self, change: Change) -> str:
        if change.kind == "deleted":
            task_id = next(
                (t for t, e in self.ledger.items() if change.annotation_id in e.answer_ids()), None
            )
            if task_id is None:
                return "unknown"
            entry = self.ledger[task_id]
            kept = [a for a in entry.answers if a.id != change.annotation_id]
            return self._settle(task_id, None, kept)
        if change.kind == "dropped":
            if change.task_id not in self.ledger:
                return "unknown"
            return self._settle(change.task_id, None, [])
        entry = self.ledger.get(change.task_id)
        held = list(entry.answers) if entry is not None else []
        if change.kind == "answers":
            if not change.task_answers:
                return "unannotated"
            standing = [a for a in change.task_answers if a.stands]
            outcome = self._settle(change.task_id, change.task, standing)
            if outcome == "unchanged":
                return idle_outcome(change.task_answers)
            return outcome
        (answer,) = change.task_answers
        # The new or updated annotation replaces its earlier version; a skip or an
        # unusable update withdraws it, and the task falls back on the others.
        kept = [a for a in held if a.id != answer.id] + ([answer] if answer.stands else [])
        outcome = self._settle(change.task_id, change.task, kept)
        if answer.error is not None:
            raise AnnotationError(answer.error)
        if outcome == "unchanged":
            return "skipped" if answer.cancelled else "duplicate"
        return outcome

    def _settle(self, task_id: int, task, answers) -> str:
        """Give ``task_id`` the answers ``answers`` and its row the label they vote for."""
        answers = tuple(sorted(answers, key=lambda a: a.id))
        entry = self.ledger.get(task_id)
        label = task_label(answers, self.vote)
        if label is None:
            if entry is None:
                return "unchanged"
            self._forget(task_id, entry)
            return "forgotten"
        if entry is None:
            self._teach(task_id, task, label)
            self.ledger[task_id] = TaskEntry(label, answers)
            return "taught"
        self.ledger[task_id] = TaskEntry(label, answers)
        if label == entry.label:
            return "unchanged" if answers == entry.answers else "duplicate"
        self.learner.relabel(self.learner.rows_of([task_id]), [self._class(label)], refit=False)
        self.changes += 1
        return "relabeled"

    def _teach(self, task_id: int, task, label: str) -> None:
        row = self.rows.get(task_id)
        if row is None:  # another door forgot the task after the rows were read
            row = self.reader().read(task)
        if isinstance(row, Exception):
            raise row
        self._query(task_id, row[None])
        self.learner.teach(row[None], [self._class(label)], refit=False, keys=[task_id])
        self.changes += 1

    def _query(self, task_id: int, X: np.ndarray) -> None:
        """Query the answered row first, as the library's loop does, so its twins come along.

        DFAL's adversarial twin (any strategy's training extras) is made by
        the query of the row it belongs to. A strategy that cannot query one
        row alone does not cost the label: the row is taught without extras.
        """
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. candidates= larger than one row
                self.learner.query(X, n=1)
        except Exception:  # the label matters more than its extras
            logger.warning("task %s: taught without training extras", task_id, exc_info=True)

    def _forget(self, task_id: int, entry: TaskEntry) -> None:
        self.learner.forget(self.learner.rows_of([task_id]), refit=False)
        del self.ledger[task_id]
        self.changes += 1

    def _class(self, label: str):
        classes = self.learner.classes_
        return classes[[str(c) for c in np.asarray(classes).tolist()].index(label)]


def with_newer(answers, task_id: int, newer: dict) -> list:
    """A task's exported answers, with the webhook's newer answers and deletions applied."""
    by_id = {a.id: a for a in answers}
    for annotation_id, answer in newer.items():
        if answer is None:
            by_id.pop(annotation_id, None)
        elif answer.task == task_id:
            by_id[annotation_id] = answer
    return list(by_id.values())


def idle_outcome(answers) -> str:
    """What an export that changes nothing says: duplicate, skipped, or the error."""
    if any(a.stands for a in answers):
        return "duplicate"
    errors = [a.error for a in answers if a.error is not None]
    if errors:
        raise AnnotationError(errors[-1])
    return "skipped"
