"""skactive: scikit-learn compatible active learning for deep networks."""

from skactive._version import __version__
from skactive.base import (
    MetaStrategy,
    QueryStrategy,
    StrategyTags,
    TrainingExtras,
    get_strategy_tags,
)
from skactive.committee import Committee
from skactive.config import config_context, get_config, set_config
from skactive.learner import ActiveLearner

__all__ = [
    "ActiveLearner",
    "Committee",
    "MetaStrategy",
    "QueryStrategy",
    "StrategyTags",
    "TrainingExtras",
    "__version__",
    "config_context",
    "get_config",
    "get_strategy_tags",
    "set_config",
]
