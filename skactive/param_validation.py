"""Declarative parameter constraints: one table per class, one helper checks it.

Every strategy and estimator lists what each of its parameters accepts in a
class attribute ``_skactive_constraints`` (as scikit-learn does with
``_parameter_constraints``, a name skactive leaves to scikit-learn: see
:data:`SKLEARN_PARAMETER_CONSTRAINTS`): a mapping
from parameter name to a list of accepted kinds, ``None`` meaning that
``None`` itself is accepted. :func:`validate_params` checks a mapping of
values against such a table, and :func:`check_estimator_params` checks an
object's ``get_params(deep=False)`` against the tables of its class and of
its bases. Functions check their arguments with :func:`validate_params` too,
so that a value is judged the same way wherever it is passed.

The error names the parameter, says what was expected and shows the value::

    max_pairs must be a positive integer, got 0

Parameters that mean the same thing everywhere (``chunk_size``,
``batch_size``, ``candidates``, ``n_jobs``, ``random_state``, ``layer``) have
one constraint each here, named after them, so that no class can give them
another meaning: ``chunk_size`` is rows per chunk of the pool (the unit of
joblib's work and of memory), ``batch_size`` rows per forward pass.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

#: scikit-learn's own table on skactive's classes (``_parameter_constraints``):
#: empty, so that ``BaseEstimator._validate_params`` (and ``_fit_context``) runs
#: and leaves the checking to the class's ``_skactive_constraints``, whose
#: objects scikit-learn would refuse ("Unknown constraint type").
SKLEARN_PARAMETER_CONSTRAINTS: Mapping = MappingProxyType({})


class InvalidParameterError(ValueError, TypeError):
    """A parameter's value is outside what the parameter accepts.

    A subclass of both ``ValueError`` and ``TypeError``, as in scikit-learn,
    so that code catching either keeps working whichever kind of mistake
    (a wrong type, a value out of range) was made.
    """


@dataclass(frozen=True)
class Constraint:
    """One kind of value a parameter accepts.

    Parameters
    ----------
    accepts : callable
        ``accepts(value) -> bool``.
    description : str
        What is accepted, in words that complete "must be ...".
    explain : callable, optional
        ``explain(value) -> str``: what exactly is wrong with a refused
        value, appended to the message (for structured values).
    """

    accepts: Callable[[object], bool]
    description: str
    explain: Callable[[object], str] | None = None


def _is_number(value) -> bool:
    # bool is an Integral, but ``time_limit=True`` is a mistake, never a 1.
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def integer(low: int = 1, high: int | None = None, *, description: str | None = None):
    """An integer in ``[low, high]`` (``high=None``: unbounded); never a bool."""

    def accepts(value) -> bool:
        inside = _is_number(value) and isinstance(value, numbers.Integral) and value >= low
        return inside and (high is None or value <= high)

    if description is None:
        words = {0: "a non-negative integer", 1: "a positive integer"}
        description = words.get(low, f"an integer >= {low}") if high is None else None
        description = description or f"an integer in [{low}, {high}]"
    return Constraint(accepts, description)


def real(
    low: float = 0.0,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    description: str | None = None,
):
    """A finite real number between ``low`` and ``high`` (open ends as asked); never a bool."""

    def accepts(value) -> bool:
        if not _is_number(value) or not np.isfinite(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return bool(above and below)

    if description is None:
        description = _describe_interval(low, high, low_open, high_open)
    return Constraint(accepts, description)


def argument_type(constraint: Constraint, parse: Callable = int) -> Callable:
    """An ``argparse`` type: ``parse(text)``, accepted only if ``constraint`` accepts it.

    Command-line flags are checked by the same constraints as the
    parameters they set, so a value means the same on the command line and
    in Python::

        parser.add_argument("--clusters", type=argument_type(integer(1)))

    A refused value makes argparse exit 2 naming the flag:
    ``argument --clusters: expected a positive integer, got '0'``.
    """
    import argparse

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not constraint.accepts(value):
            raise argparse.ArgumentTypeError(f"expected {constraint.description}, got {text!r}")
        return value

    convert.__name__ = constraint.description  # what argparse names in its messages
    return convert


def _describe_interval(low, high, low_open, high_open) -> str:
    if np.isinf(high) and low == 0:
        return "a positive number" if low_open else "a non-negative number"
    left, right = "(" if low_open else "[", ")" if high_open or np.isinf(high) else "]"
    return f"a number in {left}{low:g}, {high:g}{right}"


def options(*values, description: str | None = None):
    """One of ``values`` exactly (a bool matches only a bool option)."""

    def accepts(value) -> bool:
        for option in values:
            same_kind = isinstance(option, bool) == isinstance(value, bool | np.bool_)
            try:
                if same_kind and bool(value == option):
                    return True
            except (TypeError, ValueError):  # an array compared elementwise
                return False
        return False

    return Constraint(accepts, description or f"one of {values}")


def instance_of(kinds, description: str):
    """An instance of ``kinds`` (a type or a tuple of types)."""
    return Constraint(lambda value: isinstance(value, kinds), description)


def satisfies(predicate: Callable[[object], bool], description: str):
    """Whatever ``predicate`` accepts; ``predicate`` must not raise."""
    return Constraint(predicate, description)


BOOLEAN = instance_of((bool, np.bool_), "True or False")
CALLABLE = Constraint(callable, "a callable")


#: The largest ``|n_jobs|``: joblib evaluates its pre-dispatch ``2 * n_jobs``
#: and refuses numbers above 1,000,000 with a message that names no parameter.
MAX_N_JOBS = 500_000


def _accepts_n_jobs(value) -> bool:
    return (
        _is_number(value)
        and isinstance(value, numbers.Integral)
        and value != 0
        and abs(value) <= MAX_N_JOBS
    )


# The shared parameters: one constraint, one meaning (docs/user_guide/parameters.rst).
BATCH_SIZE = [integer(1), None]  # rows per forward pass; None: the torch adapter's choice
CHUNK_SIZE = [integer(1), None]  # rows per chunk of the pool (a joblib task); None: 1024
CANDIDATES = [integer(1), None]  # rows drawn from the pool to score; None: all of them
N_JOBS = [  # joblib's meaning
    None,
    Constraint(_accepts_n_jobs, f"a non-zero integer from -{MAX_N_JOBS:,} to {MAX_N_JOBS:,}"),
]
LAYER = [None, instance_of(str, "a submodule name")]
RANDOM_STATE = [
    None,
    integer(0, 2**32 - 1, description="an integer in [0, 2**32 - 1]"),
    instance_of(np.random.RandomState, "a numpy RandomState"),
]


def describe(accepted: list) -> str:
    """The words for a list of accepted kinds, in the table's order ("A, B or C")."""
    words = ["None" if kind is None else kind.description for kind in accepted]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def validate_params(values: Mapping, constraints: Mapping[str, list]) -> None:
    """Check each value against its parameter's accepted kinds, in the table's order.

    Parameters
    ----------
    values : mapping
        Parameter name to value. Names without a constraint are not checked.
    constraints : mapping
        Parameter name to a list of :class:`Constraint` (``None``: ``None``
        is accepted).

    Raises
    ------
    InvalidParameterError
        Naming the first parameter whose value no accepted kind takes.
    """
    for name, accepted in constraints.items():
        if name not in values:
            continue
        value = values[name]
        if not any(_takes(kind, value) for kind in accepted):
            details = [kind.explain(value) for kind in accepted if kind and kind.explain]
            detail = "".join(f"; {text}" for text in details if text)
            raise InvalidParameterError(
                f"{name} must be {describe(accepted)}, got {value!r}{detail}"
            )


def _takes(kind, value) -> bool:
    return value is None if kind is None else bool(kind.accepts(value))


def parameter_constraints(cls: type) -> dict[str, list]:
    """The merged ``_skactive_constraints`` of ``cls`` and its bases (subclasses win)."""
    merged: dict[str, list] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("_skactive_constraints", {}))
    return merged


def check_estimator_params(estimator) -> None:
    """Check ``estimator.get_params(deep=False)`` against its class's constraints.

    Raises
    ------
    InvalidParameterError
        Naming the first parameter whose value is refused.
    """
    validate_params(estimator.get_params(deep=False), parameter_constraints(type(estimator)))
