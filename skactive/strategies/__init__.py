"""Query strategies: which pool rows the oracle should label next."""

from skactive.strategies.random import RandomSampling
from skactive.strategies.uncertainty import EntropySampling, LeastConfidence, MarginSampling

__all__ = [
    "EntropySampling",
    "LeastConfidence",
    "MarginSampling",
    "RandomSampling",
]
