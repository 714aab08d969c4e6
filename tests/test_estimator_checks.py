"""The conformance suite over every exported strategy, and proof that it bites."""

import inspect
from typing import ClassVar

import numpy as np
import pytest
import torch
from sklearn.utils import check_random_state

from skactive import MetaStrategy, QueryStrategy, _torch, get_strategy_tags, strategies
from skactive.base import STRATEGY
from skactive.experiments.registry import STRATEGIES
from skactive.param_validation import real
from skactive.strategies import (
    BALD,
    BGADL,
    DFAL,
    EGL,
    SEALS,
    VAAL,
    BALDWithVAETwins,
    CoreSet,
    DiscriminativeAL,
    Diversified,
    EntropySampling,
    MarginSampling,
    ProbCover,
    Schedule,
    ShiftedTwins,
    TypiClust,
)
from skactive.utils import check_strategy, parametrize_with_strategy_checks


def _needs_arguments(cls) -> bool:
    """Whether ``cls()`` is impossible: a parameter without a default."""
    return any(
        p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(cls).parameters.values()
    )


#: Exported strategies checked with the settings below only: slow defaults for the
#: suite, or a constructor that needs another strategy (``Schedule``, ``SEALS``...).
TUNED = {"BALD", "BGADL", "CoreSet", "DiscriminativeAL", "VAAL", "BALDWithVAETwins"}

ALL_STRATEGIES = [
    # Built from the package's exports: a new strategy is in the suite as soon as it is exported.
    *(
        getattr(strategies, name)()
        for name in sorted(strategies.__all__)
        if name not in TUNED and not _needs_arguments(getattr(strategies, name))
    ),
    BALD(n_samples=3),
    BGADL(n_samples=3),
    # The suite's labelled and pool rows are alike: no MLP reaches 98% quickly.
    DiscriminativeAL(max_epochs=5, n_subqueries=3),
    VAAL(n_iterations=5),
    BALDWithVAETwins(n_samples=3, n_iterations=5),
    CoreSet(),
    CoreSet(normalize=True, layer="features"),
    CoreSet(method="mip", time_limit=0.5, max_bisections=3),
    DFAL(norm=np.inf, max_iter=20),
    EGL(parameters="last_layer"),
    ProbCover(delta=0.3),
    # The suite's labelled set holds 40 rows: one schedule in each phase.
    Schedule([(TypiClust(), 30), (MarginSampling(), None)]),
    Schedule([(TypiClust(), 50), (DFAL(), None)]),
    ShiftedTwins(MarginSampling()),
    Diversified(DFAL(max_iter=20), factor=3),
    Diversified(EntropySampling(), method="kmeans++"),
    Diversified(ShiftedTwins(MarginSampling()), factor=2),
    SEALS(EntropySampling(), n_neighbors=5),
    SEALS(DFAL(max_iter=20), n_neighbors=3, index="sklearn"),
]


def test_every_exported_strategy_is_in_the_conformance_suite():
    exported = {getattr(strategies, name) for name in strategies.__all__}
    assert {type(s) for s in ALL_STRATEGIES} == exported


def test_every_short_name_of_the_harness_names_an_exported_strategy():
    # Short names belong to the harness (skactive.experiments): a new strategy
    # needs none, but none may name a class the package does not export.
    exported = {getattr(strategies, name) for name in strategies.__all__}
    assert set(STRATEGIES.values()) <= exported
    wrappers = {cls for cls in exported if _needs_arguments(cls)}
    assert wrappers == {Schedule, Diversified, SEALS}  # each takes the strategies it wraps


@parametrize_with_strategy_checks(ALL_STRATEGIES)
def test_strategy_conformance(strategy, check):
    check(strategy)


class _Duplicates(QueryStrategy):
    """Broken on purpose: always the first row, n times."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def rank_candidates(self, model, X_pool, candidates, n, rng, **labeled):
        return np.zeros(n, dtype=np.intp), None


class _LeavesTrainMode(QueryStrategy):
    """Broken on purpose: scores with the network switched to train mode."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def prepare(self, estimator):
        from skactive import _torch

        return _torch.find_network(estimator, what="test")

    def _scoring_context(self, network):
        network.module.train()
        from contextlib import nullcontext

        return nullcontext()

    def score_rows(self, network, X_chunk):
        from skactive import _torch

        return _torch.predict_logits(network, X_chunk).max(axis=1)


class _ValidatesInInit(QueryStrategy):
    """Broken on purpose: checks its parameter in __init__ and alters it."""

    _skactive_constraints: ClassVar[dict] = {"threshold": [real(0.0, 1.0)]}

    def __init__(self, threshold=0.5, random_state=None):
        self.threshold = float(threshold)
        self.random_state = random_state

    def score_rows(self, model, X_chunk):
        return np.zeros(len(X_chunk))


class _Undeclared(QueryStrategy):
    """Broken on purpose: a parameter missing from the constraints table goes unchecked."""

    def __init__(self, threshold=0.5, random_state=None):
        self.threshold = threshold
        self.random_state = random_state

    def score_rows(self, model, X_chunk):
        return np.zeros(len(X_chunk))


class _WrongLength(QueryStrategy):
    """Broken on purpose: one score too few per chunk."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def score_rows(self, model, X_chunk):
        return np.zeros(len(X_chunk) - 1)


class _Entropy(QueryStrategy):
    """A correct strategy, the base of the broken ones below."""

    def __init__(self, threshold=0.5, random_state=None):
        self.threshold = threshold
        self.random_state = random_state

    _skactive_constraints: ClassVar[dict] = {"threshold": [real(0.0, 1.0)]}

    def prepare(self, estimator):
        return _torch.find_network(estimator, what="test")

    def score_rows(self, network, X_chunk):
        logits = _torch.predict_logits(network, X_chunk)
        log_proba = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        return -(np.exp(log_proba) * log_proba).sum(axis=1)


class _ChangesItsParameters(_Entropy):
    """Broken on purpose: select rewrites its own parameter."""

    def select(self, estimator, X_pool, n, **labeled):
        self.threshold = 0.25
        return super().select(estimator, X_pool, n, **labeled)


class _TunesTheNet(_Entropy):
    """Broken on purpose: select sets the estimator's max_epochs."""

    def select(self, estimator, X_pool, n, **labeled):
        estimator.set_params(max_epochs=1)
        return super().select(estimator, X_pool, n, **labeled)


class _NormalisesInPlace(_Entropy):
    """Broken on purpose: scales the labelled rows in place when it can."""

    def select(self, estimator, X_pool, n, *, X_labeled=None, y_labeled=None):
        if X_labeled is not None and X_labeled.flags.writeable:
            X_labeled /= 2
        return super().select(estimator, X_pool, n, X_labeled=X_labeled, y_labeled=y_labeled)


class _LeavesGradOff(_Entropy):
    """Broken on purpose: switches autograd off for good."""

    def select(self, estimator, X_pool, n, **labeled):
        torch.set_grad_enabled(False)
        return super().select(estimator, X_pool, n, **labeled)


class _LeavesFloat64(_Entropy):
    """Broken on purpose: changes torch's default dtype and leaves it."""

    def select(self, estimator, X_pool, n, **labeled):
        torch.set_default_dtype(torch.float64)
        return super().select(estimator, X_pool, n, **labeled)


class _SwallowsErrors(_Entropy):
    """Broken on purpose: a failing forward pass gives zero scores instead of an error."""

    def score_rows(self, model, X_chunk):
        try:
            return super().score_rows(model, X_chunk)
        except RuntimeError:
            return np.zeros(len(X_chunk))


@pytest.fixture
def restore_torch_state():
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    yield
    torch.set_grad_enabled(grad)
    torch.set_default_dtype(dtype)


@pytest.mark.parametrize(
    "strategy, message",
    [
        (_Entropy(), None),
        (_ChangesItsParameters(), "select changed its own parameters"),
        (_TunesTheNet(), "select changed the estimator's parameters"),
        (_NormalisesInPlace(), "changed X_labeled"),
        (_LeavesGradOff(), "left torch's grad mode switched"),
        (_LeavesFloat64(), "left torch's default dtype changed"),
        (_SwallowsErrors(), "the error was swallowed"),
    ],
)
def test_the_suite_catches_strategies_that_change_what_they_are_given(
    strategy, message, restore_torch_state
):
    if message is None:  # the unbroken base passes, so each failure below is the breakage
        check_strategy(strategy)
        return
    with pytest.raises(AssertionError, match=message):
        check_strategy(strategy)


@pytest.mark.parametrize(
    "strategy, message",
    [
        (_Duplicates(), "_Duplicates returned repeated or out-of-range positions"),
        (_LeavesTrainMode(), "check_eval_mode_while_scoring_and_modes_restored failed"),
        (_ValidatesInInit(), "check_bad_parameters_rejected_in_select failed"),
        (_WrongLength(), "_WrongLength: scoring returned 59 values for a chunk of 60 rows"),
    ],
)
def test_the_suite_catches_broken_strategies(strategy, message):
    with pytest.raises(AssertionError, match=message):
        check_strategy(strategy)


def test_wrong_score_length_names_the_strategy():
    from skactive.utils.estimator_checks import _fitted

    learner, _, pool = _fitted()
    with pytest.raises(RuntimeError, match=r"_WrongLength: scoring returned 59 values for a chunk"):
        _WrongLength().select(learner.estimator_, pool, 2)


def test_check_strategy_reports_skips_and_expected_failures():
    results = check_strategy(STRATEGIES["random"]())
    assert results["check_picks_independent_of_n_jobs"].startswith("skipped")
    assert results["check_select_on_duplicate_rows"] == "passed"
    with pytest.raises(AssertionError, match="passed but is listed as failing"):
        check_strategy(
            STRATEGIES["random"](),
            expected_failed_checks={"check_select_on_duplicate_rows": "pretend"},
        )
    with pytest.raises(ValueError, match="unknown checks"):
        check_strategy(STRATEGIES["random"](), expected_failed_checks={"check_nope": "x"})


def test_bald_lists_its_expected_failures():
    results = check_strategy(BALD(n_samples=3))
    assert results["check_picks_independent_of_batch_size"].startswith("expected failure")
    assert results["check_picks_independent_of_chunk_size"].startswith("expected failure")
    assert results["check_scores_follow_a_permuted_pool"].startswith("expected failure")
    assert results["check_picks_independent_of_n_jobs"] == "passed"
    assert sum(r.startswith("expected failure") for r in results.values()) == 3


class _EveryOther(MetaStrategy):
    """A third party's wrapper: the inner strategy ranks 2n rows, every other one is kept."""

    _skactive_constraints: ClassVar[dict] = {"strategy": [STRATEGY]}

    def __init__(self, strategy, *, random_state=None):
        self.strategy = strategy
        self.random_state = random_state

    def select(self, estimator, X_pool, n, *, X_labeled=None, y_labeled=None):
        self.check_params()
        inner = self.seeded_clone(self.strategy, check_random_state(self.random_state))
        # Twice n when the pool has them; otherwise n, which the inner strategy validates.
        wanted = 2 * n if 0 < 2 * n <= len(X_pool) else n
        ranked = inner.rank(estimator, X_pool, wanted, X_labeled=X_labeled, y_labeled=y_labeled)
        kept = np.concatenate([ranked[::2], ranked[1::2]])[:n]
        extras = inner.extras_for(estimator, X_pool, kept, X_labeled=X_labeled)
        self.strategy_ = inner
        self.take_over(inner, indices=kept, extras=extras)
        return kept.copy()


def test_a_wrapper_written_on_meta_strategy_passes_the_conformance_suite():
    wrapper = _EveryOther(DFAL(max_iter=20), random_state=0)
    results = check_strategy(wrapper)  # raises on any failure
    assert sum(outcome == "passed" for outcome in results.values()) > 10
    wrapped = get_strategy_tags(_EveryOther(BALD(n_samples=3)))
    assert wrapped.expected_failed_checks == get_strategy_tags(BALD()).expected_failed_checks
    assert wrapped.wraps_strategies and not get_strategy_tags(BALD()).wraps_strategies
    with pytest.raises(ValueError, match="strategy"):
        _EveryOther("entropy").check_params()


@pytest.mark.parametrize("criterion", ["entropy", "margin", "least_confidence"])
def test_the_tags_direction_is_the_direction_a_strategy_picks_in(criterion, net, digits_split):
    from skactive.strategies import CEAL

    # The known answer: the first pick has the best score in the tags' direction. CEAL's
    # class flag said "greater is better" for every criterion before its tags followed it.
    _, _, X_pool, *_ = digits_split
    for strategy in (CEAL(criterion=criterion), MarginSampling(), EntropySampling(), DFAL()):
        picked = strategy.select(net, X_pool[:60], 1)[0]
        scores = strategy.scores_
        best = scores.max() if get_strategy_tags(strategy).greater_is_better else scores.min()
        assert scores[list(strategy.candidates_).index(picked)] == best, strategy


def test_tags_say_which_strategies_need_a_model():
    from skactive.embeddings import flattened_rows
    from skactive.strategies import RandomSampling

    assert not get_strategy_tags(RandomSampling()).requires_estimator
    assert get_strategy_tags(TypiClust()).requires_estimator
    assert not get_strategy_tags(TypiClust(embedding=flattened_rows)).requires_estimator
    assert get_strategy_tags(Schedule([(TypiClust(), None)])).wraps_strategies
