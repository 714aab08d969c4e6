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


def strategy_entries() -> list[str]:
    """The API reference's strategy section: each family's strategies, then its functions.

    Built from the package, so a new strategy module is documented without
    an edit here: its strategies by their exported path
    (``skactive.strategies.DFAL``), its other public names by the module's
    (``skactive.strategies.bald.mutual_information``).
    """
    import skactive.strategies as strategies

    exported = {getattr(strategies, name): name for name in strategies.__all__}
    families = [
        info.name
        for info in pkgutil.iter_modules(strategies.__path__)
        if not info.name.startswith("_")
    ]
    entries = [f"skactive.strategies.{name}" for name in strategies.__all__]
    for family in families:
        module_name = f"skactive.strategies.{family}"
        module = importlib.import_module(module_name)
        entries += [
            f"{module_name}.{name}"
            for name in public_names(module_name)
            if getattr(module, name) not in exported
        ]
    return entries


def write_strategy_section(path) -> None:
    """Write :func:`strategy_entries` as the autosummary that ``api.rst`` includes."""
    lines = ["", ".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
    text = "\n".join([*lines, *(f"   {entry}" for entry in strategy_entries()), ""])
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
