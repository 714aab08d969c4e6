"""The conformance suite every query strategy must pass.

Like scikit-learn's ``check_estimator``, :func:`check_strategy` runs a
strategy through the contract of :class:`~skactive.QueryStrategy` on a small
fitted CNN (batch norm and dropout included) and on hostile pools, and
:func:`parametrize_with_strategy_checks` turns the same checks into pytest
cases. A check that does not apply to a strategy (it has no ``batch_size``,
it does not score rows) is skipped with the reason; a check a strategy is
known to fail is listed, with the reason, in the strategy's tags
(``StrategyTags.expected_failed_checks``, from ``__skactive_tags__``) or
passed as ``expected_failed_checks``. The suite reads a strategy only through
its public API and :func:`~skactive.base.get_strategy_tags`.

Examples
--------
>>> from skactive.strategies import MarginSampling
>>> from skactive.utils import check_strategy
>>> results = check_strategy(MarginSampling())  # doctest: +SKIP
>>> results["check_select_on_duplicate_rows"]  # doctest: +SKIP
'passed'
"""

from __future__ import annotations

import contextvars
import copy
import functools
import pickle
import unittest
import warnings
from collections.abc import Callable, Iterator

import joblib
import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

from skactive import _torch
from skactive.base import QueryStrategy, get_strategy_tags
from skactive.datasets import load_digits_images
from skactive.learner import ActiveLearner
from skactive.nets import GenerativeAugmentationNet, LossPredictionNet
from skactive.param_validation import parameter_constraints

__all__ = ["check_strategy", "parametrize_with_strategy_checks"]

_N_LABELED = 40
_N_POOL = 60
_BAD = "bogus-value"


class _ConformanceNet(nn.Module):
    """A small CNN with batch norm and dropout, for 1x8x8 images."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(4 * 8 * 8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _InjectedError(RuntimeError):
    """Raised by the network mid-scoring to test that errors leave no trace."""


class _FailingForward:
    """A picklable forward pre-hook that always raises (and counts its calls)."""

    def __init__(self):
        self.calls = 0

    def __getstate__(self):
        # The count is not part of the learner a check compares by its pickle.
        return {"calls": 0}

    def __call__(self, module, inputs):
        self.calls += 1
        raise _InjectedError("injected failure inside the network's forward pass")


#: The net class the running check fits (see :class:`_BoundCheck`).
_NET_CLASS: contextvars.ContextVar[type] = contextvars.ContextVar(
    "conformance_net", default=LossPredictionNet
)

#: Settings of each conformance net class beyond the shared ones.
_NET_SETTINGS = {
    LossPredictionNet: {"loss_dim": 8},
    GenerativeAugmentationNet: {"latent_dim": 4, "width": 4, "random_state": 0},
}


def _fitted():
    """(fitted learner, labelled rows, pool) of the running check's net; never mutated."""
    return _fitted_with(_NET_CLASS.get())


@functools.lru_cache(maxsize=2)
def _fitted_with(net_class):
    """(fitted learner, labelled rows, pool) shared by every check; never mutated.

    The net is a :class:`~skactive.nets.LossPredictionNet`, so strategies
    that read its loss head are checked too; to every other strategy it is
    an ordinary skorch classifier. A strategy that needs another net names
    its class in its tags' ``conformance_net`` (BGADL: a
    :class:`~skactive.nets.GenerativeAugmentationNet`).
    """

    X, y = load_digits_images()
    X_labeled, y_labeled = X[:_N_LABELED], y[:_N_LABELED]
    pool = X[_N_LABELED : _N_LABELED + _N_POOL]
    net = net_class(
        _ConformanceNet,
        **_NET_SETTINGS[net_class],
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=5,
        batch_size=16,
        train_split=None,
        verbose=0,
    )
    learner = ActiveLearner(net, random_state=0).fit(X_labeled, y_labeled)
    # Shared by every check: read-only, so no strategy can alter them for the next.
    X_labeled.flags.writeable = False
    pool.flags.writeable = False
    return learner, X_labeled, pool


def _net():
    return _fitted()[0].estimator_


def _select(strategy, pool, n, *, estimator=None, X_labeled=None):
    """``strategy.select`` on the shared net, quiet about candidates > pool."""
    learner, labeled, _ = _fitted()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"candidates=\d+ is larger than the pool")
        return strategy.select(
            learner.estimator_ if estimator is None else estimator,
            pool,
            n,
            X_labeled=labeled if X_labeled is None else X_labeled,
            y_labeled=np.searchsorted(learner.classes_, learner.y_labeled_),
        )


def _skip(reason: str):
    raise unittest.SkipTest(reason)


def _assert_distinct_indices(indices, n: int, n_pool: int, where: str) -> None:
    indices = np.asarray(indices)
    assert indices.shape == (n,), f"{where}: expected {n} indices, got shape {indices.shape}"
    assert indices.dtype.kind in "iu", f"{where}: indices have dtype {indices.dtype}"
    assert len(np.unique(indices)) == n, f"{where}: repeated indices {indices.tolist()}"
    assert indices.min() >= 0 and indices.max() < n_pool, (
        f"{where}: indices {indices.tolist()} outside a pool of {n_pool} rows"
    )


def _params_with(strategy, **params):
    names = strategy.get_params(deep=False)
    return {k: v for k, v in params.items() if k in names}


# -- the checks ----------------------------------------------------------------


def check_select_returns_n_distinct_indices(name: str, strategy: QueryStrategy) -> None:
    """``select`` returns ``n`` distinct in-range integers, also for ``n`` = the pool."""
    pool = _fitted()[2]
    for n, rows in ((5, pool), (12, pool[:12]), (1, pool[:1])):
        indices = _select(clone(strategy), rows, n)
        _assert_distinct_indices(indices, n, len(rows), f"{name} with n={n} of {len(rows)}")


def check_select_on_duplicate_rows(name: str, strategy: QueryStrategy) -> None:
    """Duplicate pool rows, and pool rows equal to labelled rows, still give distinct picks."""
    _, labeled, pool = _fitted()
    duplicated = np.concatenate([pool[:8]] * 3)
    indices = _select(clone(strategy), duplicated, 10)
    _assert_distinct_indices(indices, 10, len(duplicated), f"{name} on duplicate rows")
    same = labeled[:10]
    indices = _select(clone(strategy), same, 5, X_labeled=same)
    _assert_distinct_indices(indices, 5, len(same), f"{name} on a pool equal to the labelled set")


def check_select_on_constant_rows(name: str, strategy: QueryStrategy) -> None:
    """A pool whose rows are all identical (or all zero) gives distinct picks."""
    pool = _fitted()[2]
    for rows in (np.repeat(pool[:1], 12, axis=0), np.zeros_like(pool[:12])):
        indices = _select(clone(strategy), rows, 5)
        _assert_distinct_indices(indices, 5, len(rows), f"{name} on constant rows")


def check_pool_smaller_than_candidates(name: str, strategy: QueryStrategy) -> None:
    """``candidates`` larger than the pool warns and scores the whole pool."""
    if "candidates" not in strategy.get_params():
        _skip(f"{name} has no candidates parameter")
    pool = _fitted()[2][:15]
    chosen = clone(strategy).set_params(candidates=len(pool) + 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        indices = chosen.select(_net(), pool, 4, X_labeled=_fitted()[1])
    assert any("larger than the pool" in str(w.message) for w in caught), (
        f"{name}: no warning when candidates exceeds the pool"
    )
    _assert_distinct_indices(indices, 4, len(pool), f"{name} with candidates > pool")
    np.testing.assert_array_equal(chosen.candidates_, np.arange(len(pool)))


def check_scores_aligned_with_candidates(name: str, strategy: QueryStrategy) -> None:
    """``scores_`` has one finite-or-inf score per entry of ``candidates_``."""
    pool = _fitted()[2]
    chosen = clone(strategy).set_params(**_params_with(strategy, candidates=30, random_state=0))
    indices = _select(chosen, pool, 5)
    candidates = np.asarray(chosen.candidates_)
    assert len(np.unique(candidates)) == len(candidates), f"{name}: repeated candidates_"
    assert np.isin(indices, candidates).all(), f"{name}: picks outside candidates_"
    np.testing.assert_array_equal(chosen.indices_, indices)
    if "candidates" in strategy.get_params():
        assert len(candidates) == 30, f"{name}: {len(candidates)} candidates_, expected 30"
    if chosen.scores_ is not None:
        scores = np.asarray(chosen.scores_)
        assert scores.shape == candidates.shape, (
            f"{name}: scores_ has shape {scores.shape}, candidates_ {candidates.shape}"
        )
        assert not np.isnan(scores).any(), f"{name}: NaN in scores_"


def check_scores_follow_a_permuted_pool(name: str, strategy: QueryStrategy) -> None:
    """Permuting the pool permutes ``scores_`` with it (no shuffled scoring loader)."""
    pool = _fitted()[2]
    first = clone(strategy).set_params(**_params_with(strategy, random_state=0))
    _select(first, pool, 3)
    if first.scores_ is None:
        _skip(f"{name} does not score rows")
    order = np.random.RandomState(1).permutation(len(pool))
    second = clone(strategy).set_params(**_params_with(strategy, random_state=0))
    _select(second, pool[order], 3)
    np.testing.assert_allclose(
        second.scores_,
        np.asarray(first.scores_)[order],
        rtol=1e-4,
        atol=1e-6,
        err_msg=f"{name}: scores did not follow the permuted pool",
    )


def check_wrong_score_length_is_an_error(name: str, strategy: QueryStrategy) -> None:
    """A ``score_rows`` returning the wrong number of scores raises an error naming the strategy."""
    called = []

    def short_scores(self, model, X_chunk, chunk_index):
        called.append(True)
        return np.zeros(max(len(X_chunk) - 1, 0))

    broken_cls = type(type(strategy).__name__, (type(strategy),), {"_score_chunk": short_scores})
    broken = broken_cls(**strategy.get_params(deep=False))
    try:
        _select(broken, _fitted()[2], 3)
    except (RuntimeError, ValueError) as exc:
        assert type(strategy).__name__ in str(exc), f"{name}: the error does not name it: {exc}"
        return
    if not called:
        _skip(f"{name} does not score rows through score_rows")
    raise AssertionError(f"{name}: a score_rows returning too few scores went unnoticed")


def check_same_random_state_same_picks(name: str, strategy: QueryStrategy) -> None:
    """Two selects with the same ``random_state`` pick the same rows, scores included."""
    if "random_state" not in strategy.get_params():
        _skip(f"{name} has no random_state parameter")
    pool = _fitted()[2]
    params = _params_with(strategy, candidates=40, random_state=7)
    first, second = clone(strategy).set_params(**params), clone(strategy).set_params(**params)
    np.testing.assert_array_equal(_select(first, pool, 6), _select(second, pool, 6))
    if first.scores_ is not None:
        np.testing.assert_array_equal(first.scores_, second.scores_)


def check_picks_independent_of_batch_size(name: str, strategy: QueryStrategy) -> None:
    """``batch_size`` changes memory and speed, never the picks."""
    _check_picks_independent_of(name, strategy, "batch_size")


def check_picks_independent_of_chunk_size(name: str, strategy: QueryStrategy) -> None:
    """``chunk_size`` changes memory and how work is split, never the picks."""
    _check_picks_independent_of(name, strategy, "chunk_size")


def _check_picks_independent_of(name: str, strategy: QueryStrategy, param: str) -> None:
    if param not in strategy.get_params():
        _skip(f"{name} has no {param} parameter")
    pool = _fitted()[2]
    base = _params_with(strategy, random_state=0)
    reference = _select(clone(strategy).set_params(**base), pool, 6)
    small = clone(strategy).set_params(**base, **{param: 7})
    np.testing.assert_array_equal(_select(small, pool, 6), reference, err_msg=f"{param}=7")


def check_picks_independent_of_n_jobs(name: str, strategy: QueryStrategy) -> None:
    """``n_jobs`` with joblib's threading or process backend never changes the picks."""
    if "n_jobs" not in strategy.get_params():
        _skip(f"{name} has no n_jobs parameter")
    pool = _fitted()[2]
    # Several chunks, so that the workers share the pool.
    base = _params_with(strategy, random_state=0, chunk_size=16, batch_size=16)
    reference = _select(clone(strategy).set_params(**base), pool, 6)
    for backend in ("threading", "loky"):
        parallel = clone(strategy).set_params(**base, n_jobs=2)
        with joblib.parallel_backend(backend):
            picks = _select(parallel, pool, 6)
        np.testing.assert_array_equal(picks, reference, err_msg=f"n_jobs=2, {backend}")


def check_eval_mode_while_scoring_and_modes_restored(name: str, strategy: QueryStrategy) -> None:
    """Scoring sees batch norm in eval mode; every module's mode and buffer is restored."""
    net = copy.deepcopy(_net())
    module = net.module_
    module.train()
    module.head[0].eval()  # a mixed state, which must come back as it was
    modes = {m: m.training for m in module.modules()}
    buffers = {k: v.clone() for k, v in module.state_dict().items()}
    seen_training = []

    def record(mod, inputs):
        if mod.training and not isinstance(mod, _torch.DROPOUT_TYPES):
            seen_training.append(type(mod).__name__)

    handles = [m.register_forward_pre_hook(record) for m in module.modules()]
    try:
        _select(clone(strategy), _fitted()[2], 4, estimator=net)
    finally:
        for handle in handles:
            handle.remove()
    assert not seen_training, f"{name}: scored with {sorted(set(seen_training))} in train mode"
    changed = [m for m, training in modes.items() if m.training != training]
    assert not changed, f"{name}: did not restore the mode of {changed[:3]}"
    for key, value in module.state_dict().items():
        assert torch.equal(value, buffers[key]), f"{name}: changed {key} of the network"


def check_learner_unchanged_after_errors(name: str, strategy: QueryStrategy) -> None:
    """Whatever ``select`` raises, an ActiveLearner's pickle bytes stay the same."""
    learner = copy.deepcopy(_fitted()[0]).set_params(query_strategy=clone(strategy))
    pool = _fitted()[2]
    bad_calls = {
        "NaN pool": (np.where(np.arange(len(pool))[:, None, None, None] == 3, np.nan, pool), 2),
        "n larger than the pool": (pool[:3], 4),
        "empty pool": (pool[:0], 1),
        "wrong row shape": (pool[:, :, :7, :7], 2),
    }
    for what, (rows, n) in bad_calls.items():
        before = pickle.dumps(learner)
        try:
            learner.query(rows, n)
        except (ValueError, TypeError):
            pass
        else:
            raise AssertionError(f"{name}: query on a bad pool ({what}) did not raise")
        assert pickle.dumps(learner) == before, f"{name}: a failed query ({what}) changed it"

    failing = _FailingForward()
    handle = learner.estimator_.module_.register_forward_pre_hook(failing)
    try:
        modes = {m: m.training for m in learner.estimator_.module_.modules()}
        before = pickle.dumps(learner)
        try:
            learner.query(pool, 3)
        except _InjectedError:
            assert pickle.dumps(learner) == before, f"{name}: a failure mid-scoring changed it"
            restored = {m: m.training for m in learner.estimator_.module_.modules()}
            assert restored == modes, f"{name}: a failure mid-scoring left modules switched"
        else:
            # Only a strategy that never runs the network may get through.
            assert not failing.calls, (
                f"{name}: the network failed {failing.calls} times mid-scoring, yet the query "
                "returned: the error was swallowed"
            )
    finally:
        handle.remove()


def check_bad_parameters_rejected_in_select(name: str, strategy: QueryStrategy) -> None:
    """Nonsense in any parameter is accepted by ``__init__`` and refused by ``select``, by name."""
    cls = type(strategy)
    for param in strategy.get_params(deep=False):
        built = cls(**{**strategy.get_params(deep=False), param: _BAD})
        assert getattr(built, param) == _BAD, f"{name}.__init__ altered {param}"
        try:
            _select(built, _fitted()[2], 2)
        except (ValueError, TypeError) as exc:
            message = f"{name}: the error for {param}={_BAD!r} does not name it: {exc}"
            assert param in str(exc), message
        else:
            raise AssertionError(f"{name}: select accepted {param}={_BAD!r}")


def check_every_parameter_is_declared(name: str, strategy: QueryStrategy) -> None:
    """Every parameter has an entry in the class's ``_skactive_constraints`` table.

    The table (:mod:`skactive.param_validation`) is how ``check_params``
    knows what a parameter accepts; an undeclared parameter goes unchecked.
    """
    declared = parameter_constraints(type(strategy))
    missing = sorted(set(strategy.get_params(deep=False)) - set(declared))
    assert not missing, (
        f"{name}: parameters {missing} have no entry in _skactive_constraints, so nothing "
        "checks their values"
    )


def check_clone_and_params_round_trip(name: str, strategy: QueryStrategy) -> None:
    """``clone`` and ``get_params``/``set_params`` round trip; an unfitted clone has no state."""
    params = strategy.get_params(deep=False)
    copied = clone(strategy)
    assert joblib.hash(copied.get_params(deep=False)) == joblib.hash(params), (
        f"{name}: clone changed the parameters"
    )
    again = clone(strategy).set_params(**params)
    assert joblib.hash(again.get_params(deep=False)) == joblib.hash(params), (
        f"{name}: set_params(**get_params()) changed the parameters"
    )
    fitted_attrs = [a for a in vars(copied) if a.endswith("_") and not a.startswith("__")]
    assert not fitted_attrs, f"{name}: a fresh clone already has {fitted_attrs}"
    # The object select ran on, as scikit-learn's check_dont_overwrite_parameters.
    _select(copied, _fitted()[2], 2)
    assert joblib.hash(copied.get_params(deep=False)) == joblib.hash(params), (
        f"{name}: select changed its own parameters"
    )


def check_select_leaves_its_inputs_unchanged(name: str, strategy: QueryStrategy) -> None:
    """A successful ``select`` changes neither its inputs nor torch's global state.

    The estimator's parameters (a strategy must not set the net's ``lr`` or
    ``max_epochs``), the labelled rows and labels, the pool, torch's grad
    mode and its default dtype are all as they were before.
    """
    learner, labeled, pool = _fitted()
    net = copy.deepcopy(learner.estimator_)
    params = joblib.hash(net.get_params(deep=False))
    X_labeled, X_pool = labeled.copy(), pool.copy()
    y_labeled = np.searchsorted(learner.classes_, learner.y_labeled_)
    y_before = y_labeled.copy()
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"candidates=\d+ is larger than the pool")
        clone(strategy).select(net, X_pool, 4, X_labeled=X_labeled, y_labeled=y_labeled)
    assert joblib.hash(net.get_params(deep=False)) == params, (
        f"{name}: select changed the estimator's parameters"
    )
    np.testing.assert_array_equal(X_labeled, labeled, err_msg=f"{name}: changed X_labeled")
    np.testing.assert_array_equal(y_labeled, y_before, err_msg=f"{name}: changed y_labeled")
    np.testing.assert_array_equal(X_pool, pool, err_msg=f"{name}: changed the pool")
    assert torch.is_grad_enabled() == grad, f"{name}: left torch's grad mode switched"
    assert torch.get_default_dtype() == dtype, f"{name}: left torch's default dtype changed"


def check_select_on_unusual_memory_layouts(name: str, strategy: QueryStrategy) -> None:
    """Pools laid out unusually give the picks and the scores of their plain copies.

    Reversed and flipped (negative strides), Fortran-ordered, big-endian, a
    view into a larger array, and rows whose size-1 axes have strides numpy
    allows but torch reads (0, as ``X[:, None]`` makes): the same values,
    bit for bit the same answer.
    """
    pool = _fitted()[2]
    params = _params_with(strategy, random_state=0)
    odd = tuple(
        0 if size == 1 else stride for size, stride in zip(pool.shape, pool.strides, strict=True)
    )
    layouts = {
        "reversed": pool[::-1],
        "flipped": np.flip(pool, axis=-1),
        "Fortran-ordered": np.asfortranarray(pool),
        "big-endian": pool.astype(pool.dtype.newbyteorder(">")),
        "view into a larger": np.concatenate([pool, pool])[len(pool) :],
        "size-1-axes-strided": np.lib.stride_tricks.as_strided(pool, pool.shape, odd),
    }
    for what, view in layouts.items():
        chosen = clone(strategy).set_params(**params)
        picks = _select(chosen, view, 4)
        plain = clone(strategy).set_params(**params)
        expected = _select(plain, np.array(view), 4)
        _assert_distinct_indices(picks, 4, len(pool), f"{name} on a {what} pool")
        np.testing.assert_array_equal(picks, expected, err_msg=f"{name} on a {what} pool")
        if getattr(plain, "scores_", None) is not None:
            np.testing.assert_array_equal(
                chosen.scores_, plain.scores_, err_msg=f"{name}'s scores on a {what} pool"
            )


def check_unfitted_estimator(name: str, strategy: QueryStrategy) -> None:
    """``select`` with an unfitted network raises ``NotFittedError``."""
    unfitted = clone(_fitted()[0].estimator)
    try:
        _select(clone(strategy), _fitted()[2], 2, estimator=unfitted)
    except NotFittedError:
        return
    raise AssertionError(f"{name}: select accepted an unfitted estimator")


def check_campaign_through_active_learner(name: str, strategy: QueryStrategy) -> None:
    """Two rounds of query and teach through an ActiveLearner around a skorch CNN."""
    learner = copy.deepcopy(_fitted()[0]).set_params(query_strategy=clone(strategy))
    X, y = load_digits_images()
    pool, y_pool = X[_N_LABELED : _N_LABELED + _N_POOL], y[_N_LABELED : _N_LABELED + _N_POOL]
    n_labeled = len(learner.y_labeled_)
    for round_ in range(2):
        indices = learner.query(pool, 4)
        _assert_distinct_indices(indices, 4, len(pool), f"{name} round {round_}")
        learner.teach(pool[indices], y_pool[indices])
        pool, y_pool = np.delete(pool, indices, axis=0), np.delete(y_pool, indices)
    assert len(learner.y_labeled_) == n_labeled + 8, f"{name}: labels were lost"
    assert learner.n_iter_ == 2 and len(learner.history_) == 2


_CHECKS: tuple[Callable[[str, QueryStrategy], None], ...] = (
    # Early: a strategy that changes what it is given would spoil the later checks.
    check_select_leaves_its_inputs_unchanged,
    check_clone_and_params_round_trip,
    check_every_parameter_is_declared,
    check_bad_parameters_rejected_in_select,
    check_unfitted_estimator,
    check_select_returns_n_distinct_indices,
    check_select_on_duplicate_rows,
    check_select_on_constant_rows,
    check_select_on_unusual_memory_layouts,
    check_pool_smaller_than_candidates,
    check_scores_aligned_with_candidates,
    check_scores_follow_a_permuted_pool,
    check_wrong_score_length_is_an_error,
    check_same_random_state_same_picks,
    check_picks_independent_of_batch_size,
    check_picks_independent_of_chunk_size,
    check_picks_independent_of_n_jobs,
    check_eval_mode_while_scoring_and_modes_restored,
    check_learner_unchanged_after_errors,
    check_campaign_through_active_learner,
)


class _BoundCheck:
    """One check, bound to the strategy's name and run on the net class it needs."""

    def __init__(self, func: Callable, name: str, net_class: type):
        self.func, self.name, self.net_class = func, name, net_class

    def __call__(self, strategy: QueryStrategy) -> None:
        token = _NET_CLASS.set(self.net_class)
        try:
            self.func(self.name, strategy)
        finally:
            _NET_CLASS.reset(token)

    def __repr__(self) -> str:
        return self.func.__name__


def _yield_checks(
    strategy: QueryStrategy, expected_failed_checks: dict[str, str] | None
) -> Iterator[tuple[Callable, str | None]]:
    tags = get_strategy_tags(strategy)
    expected = {**tags.expected_failed_checks, **(expected_failed_checks or {})}
    unknown = set(expected) - {check.__name__ for check in _CHECKS}
    if unknown:
        raise ValueError(f"expected_failed_checks names unknown checks {sorted(unknown)}")
    net_class = tags.conformance_net or LossPredictionNet
    for check in _CHECKS:
        bound = _BoundCheck(check, type(strategy).__name__, net_class)
        yield bound, expected.get(check.__name__)


def check_strategy(
    strategy: QueryStrategy, *, expected_failed_checks: dict[str, str] | None = None
) -> dict[str, str]:
    """Run every conformance check on ``strategy``.

    Parameters
    ----------
    strategy : QueryStrategy
        An unfitted strategy; it is cloned, never modified.
    expected_failed_checks : dict, default=None
        ``{check name: reason}`` for checks the strategy is known to fail,
        added to those of the strategy's tags; they must
        fail (a pass is reported as an error, so the list stays true).

    Returns
    -------
    results : dict
        ``{check name: "passed" | "skipped: <reason>" | "expected failure: <reason>"}``.

    Raises
    ------
    AssertionError
        At the first check that fails unexpectedly, naming it.
    """
    if not isinstance(strategy, QueryStrategy):
        raise TypeError(f"strategy must be a QueryStrategy, got {type(strategy).__name__}")
    results = {}
    for check, reason in _yield_checks(strategy, expected_failed_checks):
        check_name = check.func.__name__
        try:
            check(clone(strategy))
        except unittest.SkipTest as skip:
            results[check_name] = f"skipped: {skip}"
            continue
        except Exception as exc:
            if reason is None:
                raise AssertionError(f"{check_name} failed: {exc}") from exc
            results[check_name] = f"expected failure: {reason}"
            continue
        if reason is not None:
            raise AssertionError(f"{check_name} passed but is listed as failing ({reason})")
        results[check_name] = "passed"
    return results


def parametrize_with_strategy_checks(strategies, *, expected_failed_checks: Callable | None = None):
    """A ``pytest.mark.parametrize`` over every check for every strategy.

    Parameters
    ----------
    strategies : list of QueryStrategy
    expected_failed_checks : callable, default=None
        ``strategy -> {check name: reason}`` (as in scikit-learn's
        ``parametrize_with_checks``); those checks are marked ``xfail``.

    Examples
    --------
    >>> from skactive.strategies import EntropySampling
    >>> @parametrize_with_strategy_checks([EntropySampling()])  # doctest: +SKIP
    ... def test_my_strategy(strategy, check):
    ...     check(strategy)
    """
    import pytest

    cases = []
    for strategy in strategies:
        failing = expected_failed_checks(strategy) if expected_failed_checks else None
        for check, reason in _yield_checks(strategy, failing):
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            case_id = f"{strategy!r}-{check.func.__name__}"
            cases.append(pytest.param(strategy, check, id=case_id, marks=marks))
    return pytest.mark.parametrize("strategy, check", cases)
