"""The package's structure: imports flow one way and no private name crosses a module.

An AST walk over every module of ``skactive`` (function-level imports
included) finds the import graph; the tests keep it acyclic, keep every
underscore name (``_helper``, ``module._helper``) inside the module that
defines it, and keep imports inside their layer order.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skactive"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str, path: Path, modules: dict) -> list[tuple[str, str | None, int]]:
    """(imported skactive module, imported name or None, line) for every import."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name in modules]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node, path.name == "__init__.py")
            if source not in modules:
                continue
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if target in modules:  # a submodule
                    found.append((target, None, node.lineno))
                else:
                    found.append((source, alias.name, node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {target for target, _, _ in _imports(name, path, modules) if target != name}
        for name, path in modules.items()
    }


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def private_imports() -> list[str]:
    """``from skactive.x import _name`` and ``x._name`` across modules."""
    modules = _modules()
    problems = []
    for name, path in modules.items():
        aliases = {}
        for target, imported, line in _imports(name, path, modules):
            if imported is not None and imported.startswith("_") and not imported.startswith("__"):
                problems.append(f"{name}:{line} imports {target}.{imported}")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(name, node, path.name == "__init__.py")
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and aliases[node.value.id] != name
            ):
                problems.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return problems


def private_method_uses() -> list[str]:
    """``obj._method(...)`` where ``_method`` is defined by a class of another module.

    ``self``, ``cls`` and ``super()`` may call their own private methods;
    another object's private methods are not a module's business.
    """
    modules = _modules()
    owners: dict[str, set[str]] = {}
    trees = {name: ast.parse(path.read_text()) for name, path in modules.items()}
    for name, tree in trees.items():
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for item in cls.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    owners.setdefault(item.name, set()).add(name)
    problems = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method, target = node.func.attr, node.func.value
            if not method.startswith("_") or method.startswith("__"):
                continue
            if isinstance(target, ast.Name) and target.id in ("self", "cls"):
                continue
            if isinstance(target, ast.Call) and getattr(target.func, "id", None) == "super":
                continue
            defined = owners.get(method, set())
            if defined and name not in defined:
                problems.append(f"{name}:{node.lineno} calls {method} of {sorted(defined)}")
    return problems


def test_no_module_calls_another_modules_private_methods():
    problems = private_method_uses()
    assert not problems, "\n".join(problems)


#: The layers, bottom up: a module imports only from its own layer or below.
#: The names are the section titles of docs/developer.rst, whose tables list
#: each layer's modules (checked below).
LAYERS = {
    "Helpers": [
        "skactive._version",
        "skactive._files",
        "skactive._chunking",
        "skactive._validation",
        "skactive.param_validation",
        "skactive.config",
        "skactive._unlabeled",
        "skactive.preprocessing",
        "skactive.models",
        "skactive.datasets",
    ],
    "The torch adapter": [
        "skactive._wrappers",
        "skactive._speedups",
        "skactive._threads",
        "skactive._torch",
        "skactive._estimators",
        "skactive._inference",
    ],
    "Shared machinery": ["skactive.attacks", "skactive.generative", "skactive.augmentation"],
    "Estimators": [
        "skactive.committee",
        "skactive._posterior",
        "skactive.nets",
        "skactive.pretraining",
        "skactive.embeddings",
        "skactive.semi_supervised",
        "skactive.fixmatch",
    ],
    "The core protocol": ["skactive.base"],
    "Strategies": ["skactive.strategies", "skactive.strategies.*"],
    "The learner": [
        "skactive._campaign",
        "skactive._record",
        "skactive._fitting",
        "skactive.learner",
        "skactive",
    ],
    "Tools": [
        "skactive.metrics",
        "skactive.stopping",
        "skactive.persistence",
        "skactive.model_selection",
        "skactive.simulation",
        "skactive.utils",
        "skactive.utils.estimator_checks",
    ],
    "Labelling with Label Studio": [
        "skactive.label_studio",
        "skactive.label_studio.config",
        "skactive.label_studio.credentials",
        "skactive.label_studio.annotations",
        "skactive.label_studio.tasks",
        "skactive.label_studio.ledger",
        "skactive.label_studio.ranking",
        "skactive.label_studio.backend",
        "skactive.label_studio.app",
        "skactive.label_studio.poller",
    ],
    "Experiment harness and command line": [
        "skactive.experiments",
        "skactive.experiments.*",
        "skactive.label_studio.cli",
        "skactive.__main__",
    ],
}


def layer_of(module: str) -> int:
    for level, members in enumerate(LAYERS.values()):
        for member in members:
            if module == member or (member.endswith(".*") and module.startswith(member[:-1])):
                return level
    raise KeyError(module)


def test_every_module_has_a_layer_and_imports_flow_down():
    graph = import_graph()
    unplaced = sorted(m for m in graph if _layer_or_none(m) is None)
    assert not unplaced, f"place these modules in LAYERS: {unplaced}"
    upward = [
        f"{source} ({list(LAYERS)[layer_of(source)]}) imports {target} "
        f"({list(LAYERS)[layer_of(target)]})"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(source)
    ]
    assert not upward, "\n".join(upward)


def _layer_or_none(module: str):
    try:
        return layer_of(module)
    except KeyError:
        return None


def test_the_import_graph_has_no_cycle():
    cycles = import_cycles(import_graph())
    assert not cycles, f"import cycles (function-level imports included): {cycles}"


def test_no_private_name_crosses_a_module():
    problems = private_imports()
    assert not problems, "\n".join(problems)


def test_the_cycle_check_finds_a_hand_made_cycle():
    # The cycle check above must be able to fail.
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []
    assert "skactive.learner" in import_graph()


if __name__ == "__main__":  # pragma: no cover - a report for the redesign
    graph = import_graph()
    print("cycles:", import_cycles(graph))
    print("private:", len(private_imports()))
    print("\n".join(private_imports()))
    print("\n".join(private_method_uses()))
    pytest.main([__file__])


def developer_map() -> dict[str, list[str]]:
    """``{section title: modules its tables list}`` from docs/developer.rst."""
    lines = (PACKAGE.parent / "docs" / "developer.rst").read_text().splitlines()
    sections, title = {}, None
    for line, underline in zip(lines, [*lines[1:], ""], strict=True):
        if underline and set(underline) == {"-"} and len(underline) == len(line):
            title = line
            sections[title] = []
        elif title is not None:
            for path in re.findall(r"``(skactive/[\w/]+\.py)``", line):
                module = path.removesuffix(".py").replace("/", ".")
                sections[title].append(module.removesuffix(".__init__"))
    return {title: modules for title, modules in sections.items() if modules}


def test_the_developer_map_is_the_layers_table():
    """docs/developer.rst states the layers: same titles, same order, each module where it is."""
    documented = developer_map()
    layered = [title for title in documented if title in LAYERS]
    assert layered == [title for title in LAYERS if title in documented]
    misplaced = [
        f"{module} is under {title!r} but in layer {list(LAYERS)[layer_of(module)]!r}"
        for title, modules in documented.items()
        for module in modules
        if title in LAYERS and list(LAYERS)[layer_of(module)] != title
    ]
    assert not misplaced, "\n".join(misplaced)
    listed = {module for modules in documented.values() for module in modules}
    missing = [
        name
        for name, path in _modules().items()
        if path.name != "__init__.py"
        and not name.startswith("skactive.strategies.")
        and name not in listed
    ]
    assert not missing, f"docs/developer.rst does not say where these live: {missing}"


def device_decisions() -> list[str]:
    """Places outside the torch adapter that pick a device or a default batch size."""
    found = []
    for module, path in sorted(_modules().items()):
        if module == "skactive._torch":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "default_batch_size":
                found.append(f"{module}:{node.lineno} calls default_batch_size")
            # chunk_slices(n, 256): a chunk or batch size picked on the spot.
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "chunk_slices"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
            ):
                found.append(f"{module}:{node.lineno} slices by a literal {node.args[1].value}")
            # batch_size or 1024: a default batch size outside the adapter.
            if (
                isinstance(node, ast.BoolOp)
                and isinstance(node.op, ast.Or)
                and "batch" in ast.unparse(node.values[0])
                and isinstance(node.values[-1], ast.Constant)
            ):
                found.append(f"{module}:{node.lineno} defaults a batch size")
            # next(m.parameters()).device: reading a module's device by hand.
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("device", "dtype")
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "next"
            ):
                found.append(f"{module}:{node.lineno} reads a parameter's {node.attr}")
    return found


def test_devices_and_batch_sizes_are_decided_in_the_torch_adapter_only():
    assert not device_decisions(), "\n".join(device_decisions())


def test_the_batch_size_check_sees_a_literal(tmp_path, monkeypatch):
    # The check above must be able to fail, on each pattern it claims to see.
    module = PACKAGE / "strategies" / "dfal.py"
    source = "def f(X, batch_size):\n    chunk_slices(len(X), 256)\n    return batch_size or 1024\n"
    monkeypatch.setattr(Path, "read_text", lambda self: source if self == module else _READ(self))
    found = [line for line in device_decisions() if line.startswith("skactive.strategies.dfal")]
    assert found == [
        "skactive.strategies.dfal:2 slices by a literal 256",
        "skactive.strategies.dfal:3 defaults a batch size",
    ]


_READ = Path.read_text


def private_state_of_strategies() -> list[str]:
    """``self._name = ...`` in a strategy: data carried between steps in hidden attributes."""
    found = []
    for module, path in sorted(_modules().items()):
        if not (module.startswith("skactive.strategies") or module == "skactive.base"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and target.attr.startswith("_")
                ):
                    found.append(f"{module}:{node.lineno} sets self.{target.attr}")
    return found


def test_strategies_pass_data_between_their_steps_as_values():
    """Steps get what they need as arguments (or a prepared value), never a private attribute."""
    assert not private_state_of_strategies(), "\n".join(private_state_of_strategies())


def test_the_labelling_service_does_not_load_the_experiment_harness():
    graph = import_graph()
    harness = {m for m in graph if m.startswith("skactive.experiments")} | {"skactive.simulation"}
    reached, todo = set(), [m for m in graph if m.startswith("skactive.label_studio")]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph.get(module, ()))
    assert not reached & harness, sorted(reached & harness)


#: Hard dependencies (setup.cfg's install_requires), by import name.
HARD_DEPENDENCIES = {"numpy", "scipy", "sklearn", "torch", "skorch", "ortools", "joblib", "tqdm"}
HARD_DEPENDENCIES |= {"threadpoolctl"}
HARD_DEPENDENCIES |= {"matplotlib"}
#: Imported inside the one function that needs them, on purpose: matplotlib's
#: backend must not be chosen at ``import skactive`` (a user's notebook keeps
#: its own), and OR-Tools loads a large native library for CoreSet's MIP only.
IMPORTED_WHERE_USED = {"matplotlib", "ortools"}


def function_level_imports() -> list[str]:
    """Imports of hard dependencies inside functions, outside ``IMPORTED_WHERE_USED``."""
    found = []
    for module, path in sorted(_modules().items()):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in HARD_DEPENDENCIES - IMPORTED_WHERE_USED:
                        found.append(f"{module}:{node.lineno} imports {name} in {function.name}")
    return found


def test_hard_dependencies_are_imported_at_the_top_of_a_module():
    """docs/developer.rst: function-level imports are for optional dependencies."""
    assert not function_level_imports(), "\n".join(function_level_imports())
