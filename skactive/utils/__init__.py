"""Utilities for people writing strategies: the strategy conformance suite."""

from skactive.utils.estimator_checks import check_strategy, parametrize_with_strategy_checks

__all__ = ["check_strategy", "parametrize_with_strategy_checks"]
