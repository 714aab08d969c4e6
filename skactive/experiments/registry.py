"""Short names of strategies, for the command line, the experiment runner and benchmarks.

``python -m skactive --strategies dfal,entropy`` and
``benchmarks/run_experiments.py --strategies ...`` name strategies here; the
names include the benchmark's control arms (``random_twins``,
``random_committee``, ``random_loss_net``, ...), which are settings of the
strategies in :mod:`skactive.strategies`, not strategies of their own.
"""

from __future__ import annotations

from skactive.committee import Committee
from skactive.nets import GenerativeAugmentationNet, LossPredictionNet
from skactive.strategies import (
    BADGE,
    BALD,
    BGADL,
    CEAL,
    DFAL,
    DRE,
    EGL,
    EMOC,
    VAAL,
    BALDWithVAETwins,
    BatchBALD,
    CoreSet,
    DiscriminativeAL,
    Diversified,
    EntropySampling,
    FarthestFirst,
    LearningLoss,
    LeastConfidence,
    MarginSampling,
    ProbCover,
    QueryByCommittee,
    RandomSampling,
    Schedule,
    ShiftedTwins,
    SuggestiveAnnotation,
    TypiClust,
)

__all__ = [
    "COMMITTEES",
    "GENERATIVE_AUGMENTATION",
    "INITIAL_STRATEGIES",
    "LOSS_PREDICTION",
    "RECOMMENDED_SWITCH",
    "SHORT_NAMES",
    "STRATEGIES",
    "estimator_for",
    "make_initial_strategy",
    "make_strategy",
    "with_embedding",
]

#: Short names used by the command line and the benchmarks.
STRATEGIES = {
    "random": RandomSampling,
    "entropy": EntropySampling,
    "margin": MarginSampling,
    "least_confidence": LeastConfidence,
    "dfal": DFAL,
    "bald": BALD,
    "batchbald": BatchBALD,
    "egl": EGL,
    "ceal": CEAL,
    "coreset": CoreSet,
    "qbc": QueryByCommittee,
    "suggestive": SuggestiveAnnotation,
    "emoc": EMOC,
    # A control: random picks, the model a 5-member committee like "qbc"'s, so
    # a comparison separates selection from the ensemble's better predictions.
    "random_committee": RandomSampling,
    "typiclust": TypiClust,
    "probcover": ProbCover,
    # A control: DFAL attacking exactly n random rows, i.e. random picks with
    # adversarial twins (see make_strategy).
    "random_twins": DFAL,
    # Controls for DFAL's twins: the paper's ablation, and random rows with
    # as many extra rows made by ordinary augmentation (random shifts).
    "dfal_no_twins": DFAL,
    "random_shifted": ShiftedTwins,
    "badge": BADGE,
    "farthest_first": FarthestFirst,
    "dal": DiscriminativeAL,
    "vaal": VAAL,
    "dre": DRE,
    "bald_vae_twins": BALDWithVAETwins,
    "learning_loss": LearningLoss,
    # A control for Learning Loss: random picks, the model the same
    # LossPredictionNet, so a comparison separates selection from the joint loss.
    "random_loss_net": RandomSampling,
    "bgadl": BGADL,
    # BGADL's control, the paper's BDA: random picks, the model the same
    # GenerativeAugmentationNet, so a comparison separates acquisition from augmentation.
    "random_generative": RandomSampling,
}

#: Every name make_strategy knows: the strategies above, "schedule" (the
#: recommended default for an unknown budget) and "diversified_dfal".
SHORT_NAMES = (*STRATEGIES, "schedule", "diversified_dfal")

#: Labelled-set size at which the recommended schedule switches from random
#: rows with twins to DFAL, measured on Fashion-MNIST / LeNet5 (docs/results.rst).
RECOMMENDED_SWITCH = 300

#: Settings the short names stand for, beyond the classes' defaults.
_SHORT_NAME_PARAMS = {
    "qbc": {"measure": "variation_ratio"},
    "dfal_no_twins": {"twins": False},
}

#: Short names whose strategy queries a committee: the command line and the
#: experiment runner wrap the network in ``Committee(net, **settings)``
#: (Beluch et al.: 5 seeded members; Suggestive Annotation: 4 bootstrap ones).
COMMITTEES = {
    "qbc": {"n_members": 5},
    "suggestive": {"n_members": 4, "bootstrap": True},
    "random_committee": {"n_members": 5},
}


#: Short names whose model is a LossPredictionNet (Learning Loss and its control).
LOSS_PREDICTION = ("learning_loss", "random_loss_net")

#: Short names whose model is a GenerativeAugmentationNet (BGADL and its BDA control).
GENERATIVE_AUGMENTATION = ("bgadl", "random_generative")


def make_strategy(name: str, *, query_size: int, candidates: int | None = None, **params):
    """The strategy a short name of :data:`STRATEGIES` stands for.

    Parameters
    ----------
    name : str
    query_size : int
        Rows queried per round: ``"random_twins"`` attacks exactly that many
        random rows, so it selects all of them with their twins.
        ``"schedule"`` is ``Schedule([(random_twins, RECOMMENDED_SWITCH),
        (dfal, None)])``; ``"diversified_dfal"`` is ``Diversified(dfal)``.
    candidates : int, default=None
        Candidate subset size for strategies that take one.
    **params
        Further parameters of the strategy.
    """
    if name == "schedule":
        early = make_strategy("random_twins", query_size=query_size)
        late = make_strategy("dfal", query_size=query_size, candidates=candidates)
        return Schedule([(early, RECOMMENDED_SWITCH), (late, None)], **params)
    if name == "diversified_dfal":
        inner = make_strategy("dfal", query_size=query_size, candidates=candidates)
        return Diversified(inner, **params)
    cls = STRATEGIES[name]
    settings = dict(_SHORT_NAME_PARAMS.get(name, {}))
    if "candidates" in cls().get_params():
        settings["candidates"] = query_size if name == "random_twins" else candidates
    settings.update(params)
    return cls(**settings)


def with_embedding(strategy, embedding):
    """``strategy`` set to rank on ``embedding`` where it takes one (unchanged otherwise).

    TypiClust, ProbCover, CoreSet and Diversified take ``embedding=``; for
    a :class:`~skactive.strategies.Schedule` every stage that takes one is
    set. ``embedding=None`` returns ``strategy`` as it is.
    """
    if embedding is None:
        return strategy
    if isinstance(strategy, Schedule):
        phases = [(with_embedding(stage, embedding), until) for stage, until in strategy.phases]
        return strategy.set_params(phases=phases)
    if "embedding" in strategy.get_params(deep=False):
        return strategy.set_params(embedding=embedding)
    return strategy


#: Strategies that can choose the initial labelled set, before any label exists.
INITIAL_STRATEGIES = ("random", "typiclust", "probcover")


def make_initial_strategy(name: str, *, embedding, candidates: int | None = None):
    """The strategy that chooses the initial labelled set, or None for a random draw.

    Parameters
    ----------
    name : {"random", "typiclust", "probcover"}
    embedding : callable
        What TypiClust and ProbCover rank on: a pretrained
        :class:`~skactive.embeddings.Embedding`, or
        :func:`~skactive.embeddings.flattened_rows` (the pixels).
    candidates : int, default=None
        Rank a random subset of this many pool rows (None: all).

    Returns
    -------
    strategy : QueryStrategy or None
        None for ``"random"``: the caller draws the rows from the seed
        (:func:`~skactive.simulation.draw_initial_set`).
    """
    if name not in INITIAL_STRATEGIES:
        raise ValueError(f"initial_strategy: unknown {name!r}; choose from {INITIAL_STRATEGIES}")
    if name == "random":
        return None
    return STRATEGIES[name](embedding=embedding, candidates=candidates)


def estimator_for(name: str, estimator):
    """The estimator the strategy called ``name`` queries: a committee of it, or itself.

    The names in :data:`LOSS_PREDICTION` turn a skorch net into a
    :class:`~skactive.nets.LossPredictionNet` with the same settings, and
    those in :data:`GENERATIVE_AUGMENTATION` into a
    :class:`~skactive.nets.GenerativeAugmentationNet` (its ``random_state``
    left None, so an :class:`~skactive.ActiveLearner` seeds it every refit).
    """

    if name in LOSS_PREDICTION:
        return LossPredictionNet(**estimator.get_params(deep=False))
    if name in GENERATIVE_AUGMENTATION:
        return GenerativeAugmentationNet(**estimator.get_params(deep=False))
    settings = COMMITTEES.get(name)
    return estimator if settings is None else Committee(estimator, **settings)
