"""Query strategies: which pool rows the oracle should label next."""

from skactive.strategies.adversarial import DFAL
from skactive.strategies.bayesian import BALD
from skactive.strategies.committee import QueryByCommittee
from skactive.strategies.coreset import CoreSet
from skactive.strategies.gradient import EGL
from skactive.strategies.output_change import EMOC
from skactive.strategies.pseudo_label import CEAL
from skactive.strategies.random import RandomSampling
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
}

__all__ = [
    "BALD",
    "CEAL",
    "DFAL",
    "EGL",
    "EMOC",
    "STRATEGIES",
    "CoreSet",
    "EntropySampling",
    "LeastConfidence",
    "MarginSampling",
    "QueryByCommittee",
    "RandomSampling",
    "SuggestiveAnnotation",
]
