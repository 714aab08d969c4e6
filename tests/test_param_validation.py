"""The one parameter-validation mechanism: constraints, tables and their messages."""

import inspect
import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator

import skactive
from skactive import ActiveLearner, Committee
from skactive.nets import AdversarialTrainingNet, LossPredictionNet
from skactive.param_validation import (
    BATCH_SIZE,
    BOOLEAN,
    N_JOBS,
    RANDOM_STATE,
    Constraint,
    InvalidParameterError,
    check_estimator_params,
    integer,
    options,
    parameter_constraints,
    real,
    validate_params,
)
from skactive.semi_supervised import LabelPropagationNet
from skactive.stopping import (
    AllOf,
    AnyOf,
    ConfidenceOnStopSet,
    MaxUncertainty,
    OverallUncertainty,
    StabilizingPredictions,
)
from skactive.strategies import VAAL, CoreSet
from skactive.utils import check_strategy


def _message(value, accepted) -> str:
    with pytest.raises(InvalidParameterError) as caught:
        validate_params({"p": value}, {"p": accepted})
    return str(caught.value)


@pytest.mark.parametrize(
    "accepted, good, bad",
    [
        ([integer(1)], [1, np.int64(7)], [0, 1.0, True, "1", None]),
        ([integer(0)], [0, 3], [-1, False]),
        ([real(0.0, low_open=True)], [0.5, 3, np.float32(2)], [0, -1.0, np.inf, np.nan, True]),
        ([real(0.0, 1.0)], [0.0, 1.0, 0.5], [1.01, -0.1, False]),
        ([options("a", "b")], ["a", "b"], ["c", ["a"], np.array(["a", "b"])]),
        ([options(2, np.inf)], [2, 2.0, np.inf], [1, True, "2"]),
        ([BOOLEAN], [True, False, np.bool_(True)], [0, 1, "True", None]),
        (BATCH_SIZE, [None, 1, 256], [0, 2.5, True]),
        (N_JOBS, [None, -1, 4], [0, 1.5, False]),
        (RANDOM_STATE, [None, 0, 2**32 - 1, np.random.RandomState(0)], [-1, 2**32, 1.5]),
    ],
)
def test_constraints_accept_and_refuse(accepted, good, bad):
    for value in good:
        validate_params({"p": value}, {"p": accepted})
    for value in bad:
        assert _message(value, accepted).startswith("p must be ")


def test_a_bool_is_never_a_number():
    # The inconsistency this mechanism replaced: CoreSet took time_limit=True, VAAL refused
    # learning_rate=True.
    for strategy in (CoreSet(time_limit=True), VAAL(learning_rate=True)):
        with pytest.raises(InvalidParameterError, match="must be a positive number, got True"):
            strategy.check_params()


def test_messages_name_the_parameter_list_the_kinds_and_show_the_value():
    assert _message(0, [integer(1), None]) == "p must be a positive integer or None, got 0"
    assert _message(-1, RANDOM_STATE) == (
        "p must be None, an integer in [0, 2**32 - 1] or a numpy RandomState, got -1"
    )
    assert _message("x", [real(0.0, 1.0, low_open=True)]) == "p must be a number in (0, 1], got 'x'"


def test_explain_adds_what_exactly_is_wrong():
    kind = Constraint(lambda v: v == "ok", "'ok'", explain=lambda v: f"{v!r} is not ok")
    assert _message("no", [kind]) == "p must be 'ok', got 'no'; 'no' is not ok"


def test_the_error_is_both_a_value_error_and_a_type_error():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_names_without_a_value_or_without_a_constraint_are_not_checked():
    validate_params({"q": "anything"}, {"p": [integer(1)]})
    validate_params({}, {"p": [integer(1)]})


class _Base(BaseEstimator):
    _skactive_constraints: ClassVar[dict] = {"a": [integer(1)], "b": [integer(1)]}

    def __init__(self, a=1, b=1):
        self.a, self.b = a, b


class _Child(_Base):
    _skactive_constraints: ClassVar[dict] = {"b": [integer(0)]}


def test_tables_merge_along_the_class_hierarchy_subclasses_winning():
    merged = parameter_constraints(_Child)
    assert merged["a"] is _Base._skactive_constraints["a"]
    assert merged["b"] is _Child._skactive_constraints["b"]
    check_estimator_params(_Child(b=0))
    with pytest.raises(InvalidParameterError, match="a must be a positive integer"):
        check_estimator_params(_Child(a=0))


ESTIMATORS = [
    ActiveLearner,
    Committee,
    AdversarialTrainingNet,
    LossPredictionNet,
    LabelPropagationNet,
    StabilizingPredictions,
    MaxUncertainty,
    OverallUncertainty,
    ConfidenceOnStopSet,
    AnyOf,
    AllOf,
]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_estimator_declares_each_of_its_own_parameters(cls):
    """Strategies are held to this by the conformance suite; the estimators here."""
    own = [
        name
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name not in ("self", "args", "kwargs", "module", "criterion", "train_split")
        and p.kind is not p.VAR_KEYWORD
    ]
    if cls is Committee:
        own.remove("classes")  # checked against the labels in fit
    if cls is ActiveLearner:
        own.remove("classes")
    missing = sorted(set(own) - set(parameter_constraints(cls)))
    assert not missing, f"{cls.__name__}: {missing} undeclared"


def test_strategy_parameters_that_share_a_name_share_one_constraint():
    """batch_size, candidates, n_jobs, random_state and layer mean one thing everywhere."""
    shared = {"batch_size", "candidates", "n_jobs", "random_state", "layer"}
    base = parameter_constraints(skactive.QueryStrategy)
    for name in skactive.strategies.__all__:
        cls = getattr(skactive.strategies, name)
        if not (isinstance(cls, type) and issubclass(cls, skactive.QueryStrategy)):
            continue
        table = parameter_constraints(cls)
        for param in shared & set(inspect.signature(cls.__init__).parameters):
            assert table[param] is base[param], f"{name}.{param} redefines a shared parameter"


DOC = Path(__file__).resolve().parents[1] / "docs/user_guide/parameters.rst"


def test_the_parameters_page_documents_each_shared_name_and_its_example_runs(monkeypatch):
    text = DOC.read_text()
    for name in ("candidates", "batch_size", "n_jobs", "random_state", "layer", "query_size"):
        assert f"``{name}``" in text, name
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text).group(1)
    namespace: dict = {"__name__": __name__}
    exec(compile(re.sub(r"^    ", "", block, flags=re.M), str(DOC), "exec"), namespace)
    assert namespace["message"] == "level must be a number in [0, 1], got 2"
    # Importable by name, so that the suite can pickle a learner holding it.
    monkeypatch.setitem(globals(), "Threshold", namespace["Threshold"])
    strategy = namespace["Threshold"](random_state=0)
    assert check_strategy(strategy)["check_every_parameter_is_declared"] == "passed"


def _constrained_classes():
    import importlib
    import inspect
    import pkgutil

    import skactive

    found = {}
    for module in pkgutil.walk_packages(skactive.__path__, "skactive."):
        if module.name.startswith("skactive.label_studio"):
            continue  # an optional extra; its classes are not scikit-learn estimators
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if cls.__module__.startswith("skactive") and "_skactive_constraints" in vars(cls):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_scikit_learns_own_validation_accepts_every_skactive_estimator():
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils._param_validation import validate_parameter_constraints

    from skactive import ActiveLearner
    from skactive.strategies import DFAL, EntropySampling, Schedule

    classes = _constrained_classes()
    assert len(classes) > 30
    for name, cls in classes.items():
        # What BaseEstimator._validate_params and _fit_context read: a table scikit-learn
        # understands (skactive's own constraints live under another name).
        validate_parameter_constraints(cls._parameter_constraints, {}, caller_name=name)
    for estimator in (
        ActiveLearner(LogisticRegression()),
        EntropySampling(),
        DFAL(),
        Schedule([(0, EntropySampling())]),
    ):
        estimator._validate_params()  # raised "Unknown constraint type" before


def test_argument_types_come_from_the_constraints_and_exit_2_naming_the_flag(capsys):
    import argparse

    from skactive.param_validation import argument_type, integer, real

    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=argument_type(integer(1)))
    parser.add_argument("--rate", type=argument_type(real(0, low_open=True), float))
    args = parser.parse_args(["--clusters", "3", "--rate", "0.5"])
    assert (args.clusters, args.rate) == (3, 0.5)
    for argv, message in (
        (["--clusters", "0"], "argument --clusters: expected a positive integer, got '0'"),
        (["--clusters", "2.5"], "argument --clusters: expected a positive integer"),
        (["--rate", "nan"], "argument --rate: expected"),
        (["--rate", "inf"], "argument --rate: expected"),
    ):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(argv)
        assert stop.value.code == 2
        assert message in capsys.readouterr().err
