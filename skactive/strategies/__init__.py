"""Query strategies: which pool rows the oracle should label next.

Each module of this package is one strategy family. Its strategies (the
concrete, public :class:`~skactive.QueryStrategy` subclasses it defines) are
found and exported here, so a new strategy is its module and its test:
``skactive.strategies.__all__``, the conformance suite and the API reference
all read this list.
"""

import importlib
import inspect
import pkgutil

from skactive.base import QueryStrategy


def _strategies_in(module) -> dict:
    return {
        name: value
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, QueryStrategy)
        and value.__module__ == module.__name__
        and not name.startswith("_")
        and not inspect.isabstract(value)
    }


def _discover() -> dict:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        found |= _strategies_in(importlib.import_module(f"{__name__}.{info.name}"))
    return found


_STRATEGIES = _discover()
globals().update(_STRATEGIES)
__all__ = sorted(_STRATEGIES)
