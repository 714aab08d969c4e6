"""The strategies package exports what its modules define, and only that."""

import inspect
import types
from abc import abstractmethod

import skactive.strategies as strategies
from skactive.base import QueryStrategy
from skactive.strategies import _strategies_in
from skactive.strategies.query_by_committee import PosteriorSampling
from skactive.strategies.uncertainty import EntropySampling


def _module_with(**classes):
    module = types.ModuleType("somewhere.new_family")
    for name, cls in classes.items():
        cls.__module__ = module.__name__
        setattr(module, name, cls)
    return module


def test_a_new_module_exports_its_concrete_public_strategies():
    class NewStrategy(QueryStrategy):
        def score_rows(self, model, X_chunk):
            return X_chunk.sum(axis=1)

    class AbstractFamily(QueryStrategy):
        @abstractmethod
        def measure(self): ...

    class _Helper(QueryStrategy):
        pass

    module = _module_with(NewStrategy=NewStrategy, AbstractFamily=AbstractFamily, _Helper=_Helper)
    module.EntropySampling = EntropySampling  # imported from elsewhere: not this module's
    module.helper_function = len
    assert _strategies_in(module) == {"NewStrategy": NewStrategy}


def test_the_package_exports_every_concrete_strategy_of_its_modules():
    assert strategies.__all__ == sorted(strategies.__all__)
    assert "PosteriorSampling" not in strategies.__all__
    assert inspect.isabstract(PosteriorSampling)
    for name in strategies.__all__:
        cls = getattr(strategies, name)
        assert issubclass(cls, QueryStrategy) and not inspect.isabstract(cls)
        assert cls.__module__.startswith("skactive.strategies.")
    assert {"DFAL", "BALD", "SEALS", "TypiClust", "RandomSampling"} <= set(strategies.__all__)
