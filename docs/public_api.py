"""Every public name of skactive, by module: what docs/api.rst must list.

Used by ``tests/test_docs.py`` (no public name may be missing from the API
reference) and handy when adding a section. A module's public names are its
``__all__``, or, without one, the classes and functions it defines whose
names do not start with an underscore.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import skactive


def public_modules() -> list[str]:
    """``skactive`` and every submodule whose dotted path has no private part."""
    names = [
        info.name
        for info in pkgutil.walk_packages(skactive.__path__, "skactive.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return ["skactive", *sorted(names)]


def public_names(module_name: str) -> list[str]:
    """The public names of one module (see the module docstring)."""
    module = importlib.import_module(module_name)
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return [n for n in declared if not n.startswith("__")]
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module_name
    )


def documented_objects() -> dict[str, object]:
    """``{"module.name": object}`` for every public name of every public module."""
    found = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            found[f"{module_name}.{name}"] = getattr(module, name)
    return found
