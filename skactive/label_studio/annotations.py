"""Annotations as the backend keeps them, and which one gives a task its label.

Label Studio's JSON is parsed here, whole, before anything is taught: a
request whose *shape* is wrong (an id that is not an integer, a ``result``
that is not a list, ``value.choices`` that is not a list of strings) is
refused with a ``ValueError`` naming the field, and nothing changes. An
annotation that is well formed but cannot be taught (a choice that is not a
class, no answer of the project's ``<Choices>``) is parsed into an
:class:`Answer` carrying its ``error``, so the other annotations of the
same request go on.

A task may have several annotations (several annotators, or one who
labels twice). The backend keeps every standing one (not skipped, not
deleted) and derives the task's label from them with a *vote*:

* ``"latest"``: the annotation updated last (then the highest id);
* ``"majority"``: the most frequent label; a tie goes to the tied label
  whose newest annotation is the latest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

__all__ = [
    "VOTES",
    "AnnotationError",
    "Answer",
    "TaskEntry",
    "integer_field",
    "parse_annotation",
    "parse_task",
    "task_label",
]

#: How a task's label follows from its standing annotations.
VOTES = ("latest", "majority")


class AnnotationError(ValueError):
    """An annotation the backend cannot teach; the message names the field."""


@dataclass(frozen=True)
class Answer:
    """One annotation of a task.

    Attributes
    ----------
    id : int
        The annotation's id in Label Studio.
    task : int
        The task it answers.
    label : str or None
        The chosen class, as the label configuration writes it; None when
        cancelled or unusable.
    updated_at : str
        Label Studio's timestamp (ISO 8601 strings order in time).
    cancelled : bool
        A skipped task.
    error : str or None
        Why the annotation cannot be taught.
    """

    id: int
    task: int
    label: str | None
    updated_at: str = ""
    cancelled: bool = False
    error: str | None = None

    @property
    def stands(self) -> bool:
        """Whether the annotation gives its task a label."""
        return self.label is not None and not self.cancelled and self.error is None


@dataclass(frozen=True)
class TaskEntry:
    """What the ledger holds of one taught task.

    The task's row in the learner is the one keyed by the task id
    (``learner.rows_of([task_id])``): no position is kept here, so a
    forgotten row never shifts another task's entry.

    Attributes
    ----------
    label : str
        The label taught, from :func:`task_label` of ``answers``.
    answers : tuple of Answer
        Every standing annotation of the task, by id.
    """

    label: str
    answers: tuple = ()

    def answer_ids(self) -> set:
        """The ids of the annotations standing for this task."""
        return {a.id for a in self.answers}


def task_label(answers, vote: str = "latest") -> str | None:
    """The label a task's standing annotations give it, or None if none stands."""
    standing = [a for a in answers if a.stands]
    if not standing:
        return None
    latest = max(standing, key=_recency)
    if vote == "latest":
        return latest.label
    counts = Counter(a.label for a in standing)
    top = max(counts.values())
    tied = [a for a in standing if counts[a.label] == top]
    return max(tied, key=_recency).label


def _recency(answer: Answer):
    return (answer.updated_at, answer.id)


def integer_field(value, where: str) -> int:
    """``value`` if it is an integer (not a bool), else a ``ValueError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected an integer, got {_shown(value)}")
    return value


def parse_task(task, where: str = "task") -> int:
    """The id of a task object; a ``ValueError`` naming the field if it has none."""
    if not isinstance(task, dict):
        raise ValueError(f"{where}: expected a task object, got {_shown(task)}")
    return integer_field(task.get("id"), f"{where}.id")


def parse_annotation(annotation, config, classes, *, where="annotation", task_id=None) -> Answer:
    """Validate one annotation of ``config``'s ``<Choices>`` and read its label.

    Parameters
    ----------
    annotation : dict
        Label Studio's annotation JSON.
    config : LabelConfig
    classes : array-like
        The learner's classes.
    where : str
        How error messages name it (``annotations[2]``).
    task_id : int, default=None
        The task it belongs to, when the caller knows (an exported task's
        annotations); otherwise its ``task`` field.

    Raises
    ------
    ValueError
        The annotation's shape is wrong; the message names the field.
    """
    if not isinstance(annotation, dict):
        raise ValueError(f"{where}: expected an annotation object, got {_shown(annotation)}")
    annotation_id = integer_field(annotation.get("id"), f"{where}.id")
    task = annotation.get("task", task_id)
    if isinstance(task, dict):  # some exports nest the task
        task = task.get("id")
    task = integer_field(task if task is not None else task_id, f"{where}.task")
    if task_id is not None and task != task_id:
        raise ValueError(f"{where}.task: {task} is not the task {task_id} it was sent with")
    updated = annotation.get("updated_at") or annotation.get("created_at") or ""
    if not isinstance(updated, str):
        raise ValueError(f"{where}.updated_at: expected a timestamp string, got {_shown(updated)}")
    choices = _choices(annotation.get("result"), config, where)
    answer = Answer(annotation_id, task, None, updated, bool(annotation.get("was_cancelled")))
    if answer.cancelled:
        return answer
    label, error = _label(choices, config, classes, f"annotation {annotation_id}")
    return Answer(annotation_id, task, label, updated, error=error)


def _choices(results, config, where: str):
    """The chosen values of the configuration's ``<Choices>``, or None if it was not answered."""
    if results is None:
        results = []
    if not isinstance(results, list):
        raise ValueError(f"{where}.result: expected a list, got {_shown(results)}")
    found = None
    for i, item in enumerate(results):
        if not isinstance(item, dict):
            raise ValueError(f"{where}.result[{i}]: expected an object, got {_shown(item)}")
        value = item.get("value", {})
        if not isinstance(value, dict):
            raise ValueError(f"{where}.result[{i}].value: expected an object, got {_shown(value)}")
        choices = value.get("choices")
        if choices is not None and (
            not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)
        ):
            raise ValueError(
                f"{where}.result[{i}].value.choices: expected a list of strings, got "
                f"{_shown(choices)}"
            )
        if item.get("from_name") == config.from_name and item.get("type") == "choices":
            found = choices or []
    return found


def _label(choices, config, classes, name: str):
    if choices is None:
        return None, f"{name}: result holds no answer of <Choices name={config.from_name!r}>"
    if len(choices) != 1:
        return None, f"{name}: value.choices must hold one label, got {choices!r}"
    try:
        config.class_of(choices[0], classes)
    except ValueError as exc:
        return None, f"{name}: {exc}"
    return choices[0], None


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
