"""The import rule: entry points → handlers → wiring → features → explain → slack | store | zuora → core."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Features in the order they may import each other: a feature imports only features before it.
FEATURES = (
    "failures",
    "audit",
    "resend",
    "outages",
    "digest",
    "alerts",
    "watches",
    "home",
    "links",
)
#: Shared layers: each may import core, never another shared layer.
SHARED = ("slack", "store", "zuora")
ENTRY_MODULES = {"__main__", "app", "wsgi", "clock", "log_config", "cli", "sandbox"}
#: The wiring handlers receive: Deps and the Settings that compose every area's settings.
WIRING_MODULES = {"deps", "settings"}


def rank(module: str) -> tuple[int, str]:
    """The layer of a module as (height, unit): a module may import units of lower height, or its own."""
    parts = module.split(".")
    if parts[0] == "handlers":
        return 50, "handlers"
    top = parts[1] if len(parts) > 1 else "core"  # `bot` itself: an empty package
    if top in ENTRY_MODULES:
        return 60, "entry"
    if top in WIRING_MODULES:
        return 45, "wiring"
    if top in FEATURES:
        return 30 + FEATURES.index(top), top
    if top == "explain":
        return 20, "explain"
    if top in SHARED:
        return 10, top
    if top == "core":
        return 0, "core"
    raise AssertionError(f"{module} belongs to no layer: place it in the map above")


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of `bot` and `handlers`, dotted, with its file."""
    for package in ("bot", "handlers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def imports_of(module: str, path: Path) -> set[str]:
    """The project modules `module` imports anywhere in its file (function-level imports included)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    known = dict(modules())
    return {name for name in found if name in known and name != module}


def test_imports_only_point_down() -> None:
    upward = []
    for module, path in modules():
        height, unit = rank(module)
        for target in imports_of(module, path):
            target_height, target_unit = rank(target)
            if target_unit == unit:
                continue
            if target_height >= height or (height == 10 and target_height == 10):
                upward.append(f"{module} → {target}")
    assert upward == []


def test_no_import_cycles() -> None:
    graph = {module: imports_of(module, path) for module, path in modules()}
    # a package's __init__ importing its own modules is not a cycle between modules
    for module in graph:
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_every_module_has_a_layer() -> None:
    assert [module for module, _ in modules() if rank(module)[0] < 0] == []
