"""skactive: scikit-learn compatible active learning for deep networks."""

from skactive.base import QueryStrategy, TrainingExtras
from skactive.committee import Committee
from skactive.learner import ActiveLearner

__version__ = "0.1.0"

__all__ = ["ActiveLearner", "Committee", "QueryStrategy", "TrainingExtras", "__version__"]
