"""Query-by-committee: disagreement measures on a stack of posterior samples.

A stack holds class probabilities of shape (n_members, n_rows, n_classes):
from the members of a :class:`~skactive.Committee`, of any fitted
scikit-learn ensemble with ``estimators_``, or from Monte-Carlo dropout
passes of one net. Every measure below is a function of that stack.

References: H. S. Seung, M. Opper and H. Sompolinsky, "Query by
committee", COLT 1992; B. Settles, "Active Learning Literature Survey",
2009, section 3.2; W. H. Beluch, T. Genewein, A. Nürnberger and J. M.
Köhler, "The power of ensembles for active learning in image
classification", CVPR 2018.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from scipy.special import xlogy

from skactive._posterior import posterior_source
from skactive._validation import MAX_SEED, draw_seed
from skactive.base import QueryStrategy, StrategyTags
from skactive.param_validation import integer, options


def _check_stack(proba_samples) -> np.ndarray:
    stack = np.asarray(proba_samples, dtype=np.float64)
    if stack.ndim != 3:
        raise ValueError(
            f"proba_samples must have shape (n_members, n_rows, n_classes), got shape {stack.shape}"
        )
    return stack


def _entropy(proba: np.ndarray) -> np.ndarray:
    return -xlogy(proba, proba).sum(axis=-1)


def _votes(stack: np.ndarray) -> np.ndarray:
    """Fraction of members voting for each class, shape (n_rows, n_classes)."""
    n_members, _, n_classes = stack.shape
    winners = stack.argmax(axis=2)  # ties go to the first class, as np.argmax does
    counts = np.stack([(winners == k).sum(axis=0) for k in range(n_classes)], axis=1)
    return counts / n_members


def vote_entropy(proba_samples) -> np.ndarray:
    """Entropy (nats) of the members' hard votes: ``-sum_y V(y)/C log(V(y)/C)``."""
    return _entropy(_votes(_check_stack(proba_samples)))


def consensus_entropy(proba_samples) -> np.ndarray:
    """Entropy (nats) of the members' mean distribution (the "soft vote")."""
    return _entropy(_check_stack(proba_samples).mean(axis=0))


def _kl_to_consensus(stack: np.ndarray) -> np.ndarray:
    """KL(P_c || P_C) for every member and row, shape (n_members, n_rows)."""
    consensus = stack.mean(axis=0, keepdims=True)
    # xlogy gives 0 log 0 = 0; where P_c > 0, the consensus is > 0 too.
    kl = (xlogy(stack, stack) - xlogy(stack, consensus)).sum(axis=2)
    return np.maximum(kl, 0.0)


def kl_mean(proba_samples) -> np.ndarray:
    """Mean KL divergence of each member to the consensus (Settles; scikit-activeml)."""
    return _kl_to_consensus(_check_stack(proba_samples)).mean(axis=0)


def kl_max(proba_samples) -> np.ndarray:
    """Largest KL divergence of a member to the consensus (modAL's "max disagreement")."""
    return _kl_to_consensus(_check_stack(proba_samples)).max(axis=0)


def variation_ratio(proba_samples) -> np.ndarray:
    """``1 - f_mode / C``: the share of members not voting for the modal class (Beluch)."""
    return 1.0 - _votes(_check_stack(proba_samples)).max(axis=1)


def mutual_information(proba_samples) -> np.ndarray:
    """BALD: ``H[mean_c P_c] - mean_c H[P_c]`` in nats (``0 log 0 = 0``), never negative.

    Mathematically equal to :func:`kl_mean`; computed here from entropies.
    """
    stack = _check_stack(proba_samples)
    return np.maximum(_entropy(stack.mean(axis=0)) - _entropy(stack).mean(axis=0), 0.0)


#: Why strategies sampling Monte-Carlo dropout fail two conformance checks by
#: nature (on a committee they pass both).
MC_DROPOUT_EXPECTED_FAILURES = {
    "check_picks_independent_of_batch_size": (
        "Monte-Carlo dropout masks are drawn per forward batch: another batch_size "
        "draws other masks, like another seed"
    ),
    "check_picks_independent_of_chunk_size": (
        "Monte-Carlo dropout masks are seeded per chunk (so that workers agree): another "
        "chunk_size draws other masks, like another seed"
    ),
    "check_scores_follow_a_permuted_pool": (
        "a row's dropout masks depend on its position in the batch, so a permuted "
        "pool gives each row other (equally valid) samples"
    ),
}

MEASURES = {
    "vote_entropy": vote_entropy,
    "consensus_entropy": consensus_entropy,
    "kl_mean": kl_mean,
    "kl_max": kl_max,
    "variation_ratio": variation_ratio,
    "bald": mutual_information,
}


@dataclass(frozen=True)
class _SeededSource:
    """A posterior source and the seed its chunks' dropout masks derive from."""

    source: object
    mask_seed: int


# One stochastic pass cannot disagree with itself: every score would be 0.
N_SAMPLES = integer(2, description="at least 2 (one pass cannot disagree with itself)")


class PosteriorSampling(QueryStrategy):
    """Scores rows by a measure of their stack of posterior samples."""

    _skactive_constraints: ClassVar[dict[str, list]] = {"n_samples": [N_SAMPLES, None]}

    @abstractmethod
    def _measure_function(self):
        """The measure of a stack of posterior samples, one score per row."""

    def prepare(self, estimator):
        source = posterior_source(estimator, n_samples=self.n_samples, what=type(self).__name__)
        if source.is_stochastic:
            source.batch_size = self.batch_size
        return source

    def _scoring_context(self, seeded):
        return seeded.source.context()

    def rank_candidates(self, source, X_pool, candidates, n, rng, **labeled):
        seeded = _SeededSource(source, draw_seed(rng))
        return super().rank_candidates(seeded, X_pool, candidates, n, rng, **labeled)

    def _score_chunk(self, seeded, X_chunk, chunk_index):
        source, seed = seeded.source, None
        if source.is_stochastic:
            # Masks seeded per chunk: the same scores whichever worker runs it.
            state = np.random.SeedSequence([seeded.mask_seed, chunk_index]).generate_state(1)[0]
            seed = int(state) % MAX_SEED
        return self._measure_function()(source(X_chunk, seed))


class QueryByCommittee(PosteriorSampling):
    """Select the rows on which a committee disagrees most.

    The committee is the estimator's: the members of a
    :class:`~skactive.Committee` (alone or inside an
    :class:`~skactive.ActiveLearner`), the members of any fitted
    scikit-learn ensemble exposing ``estimators_`` (``RandomForestClassifier``,
    ``BaggingClassifier``, ``VotingClassifier(voting="soft")``; members
    trained on encoded labels are aligned to the ensemble's classes), or
    ``n_samples`` Monte-Carlo dropout passes of a single skorch net (batch
    norm left in eval mode). With ``P_c`` member ``c``'s distribution,
    ``P_C`` their mean and ``V(y)`` the members voting for ``y``:

    * ``"vote_entropy"``: ``-sum_y V(y)/C log(V(y)/C)`` (hard votes, nats);
    * ``"consensus_entropy"``: ``-sum_y P_C(y) log P_C(y)``;
    * ``"kl_mean"``: ``mean_c KL(P_c || P_C)`` (Settles; McCallum & Nigam);
    * ``"kl_max"``: ``max_c KL(P_c || P_C)`` (modAL's "max disagreement");
    * ``"variation_ratio"``: ``1 - max_y V(y) / C`` (Beluch et al., 2018);
    * ``"bald"``: ``H[P_C] - mean_c H[P_c]`` (equal to ``"kl_mean"``).

    Larger is more informative for every measure.

    Parameters
    ----------
    measure : str, default="vote_entropy"
        One of the measures above.
    n_samples : int, default=None
        Monte-Carlo dropout passes when the estimator is a single net (at
        least 2; None: 10). Ignored for committees and ensembles.
    candidates : int, default=None
        Score only a random subset of this many pool rows (None: all).
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows per forward pass (None: 128 on CPU, 1024 on a GPU). The dropout
        masks are drawn per pass and seeded per chunk, so another
        ``batch_size`` or ``chunk_size`` gives other (equally valid) samples,
        as a different seed would; ``n_jobs`` and joblib backends give
        identical scores.
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib.
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset, tie-breaking and the dropout masks.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        The measure of every candidate.
    """

    # The suite's fixture is a single dropout net, whose samples are random.
    def __skactive_tags__(self) -> StrategyTags:
        return replace(
            super().__skactive_tags__(), expected_failed_checks=MC_DROPOUT_EXPECTED_FAILURES
        )

    _skactive_constraints: ClassVar[dict[str, list]] = {"measure": [options(*sorted(MEASURES))]}

    def __init__(
        self,
        measure: str = "vote_entropy",
        *,
        n_samples: int | None = None,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.measure = measure
        self.n_samples = n_samples
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _measure_function(self):
        return MEASURES[self.measure]
