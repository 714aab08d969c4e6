"""Query strategies: which pool rows the oracle should label next."""

from skactive.strategies.random import RandomSampling
from skactive.strategies.uncertainty import EntropySampling, LeastConfidence, MarginSampling

#: Short names used by the command line and the benchmarks.
STRATEGIES = {
    "random": RandomSampling,
    "entropy": EntropySampling,
    "margin": MarginSampling,
    "least_confidence": LeastConfidence,
}

__all__ = [
    "STRATEGIES",
    "EntropySampling",
    "LeastConfidence",
    "MarginSampling",
    "RandomSampling",
]
