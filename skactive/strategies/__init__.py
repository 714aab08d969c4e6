"""Query strategies: which pool rows the oracle should label next."""

from skactive.strategies.adversarial import DFAL
from skactive.strategies.bayesian import BALD
from skactive.strategies.cold_start import ProbCover, TypiClust
from skactive.strategies.committee import QueryByCommittee
from skactive.strategies.coreset import CoreSet
from skactive.strategies.gradient import EGL
from skactive.strategies.output_change import EMOC
from skactive.strategies.pseudo_label import CEAL
from skactive.strategies.random import RandomSampling
from skactive.strategies.schedule import Schedule
from skactive.strategies.suggestive import SuggestiveAnnotation
from skactive.strategies.uncertainty import EntropySampling, LeastConfidence, MarginSampling

#: Short names used by the command line and the benchmarks.
STRATEGIES = {
    "random": RandomSampling,
    "entropy": EntropySampling,
    "margin": MarginSampling,
    "least_confidence": LeastConfidence,
    "dfal": DFAL,
    "bald": BALD,
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
}

#: Short names whose strategy queries a committee: the command line and the
#: experiment runner wrap the network in ``Committee(net, **settings)``
#: (Beluch et al.: 5 seeded members; Suggestive Annotation: 4 bootstrap ones).
COMMITTEES = {
    "qbc": {"n_members": 5},
    "suggestive": {"n_members": 4, "bootstrap": True},
    "random_committee": {"n_members": 5},
}


def estimator_for(name: str, estimator):
    """The estimator the strategy called ``name`` queries: a committee of it, or itself."""
    from skactive.committee import Committee

    settings = COMMITTEES.get(name)
    return estimator if settings is None else Committee(estimator, **settings)


__all__ = [
    "BALD",
    "CEAL",
    "COMMITTEES",
    "DFAL",
    "EGL",
    "EMOC",
    "STRATEGIES",
    "CoreSet",
    "EntropySampling",
    "LeastConfidence",
    "MarginSampling",
    "ProbCover",
    "QueryByCommittee",
    "RandomSampling",
    "Schedule",
    "SuggestiveAnnotation",
    "TypiClust",
    "estimator_for",
]
