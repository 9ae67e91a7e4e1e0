"""Which way the imports run: the layers of the README's layout table, held by reading every module's imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import mockserver

REPO = Path(__file__).resolve().parent.parent
# Bottom up; a package may import those below it, never one above.
LAYERS = ("sparkspec", "mockserver", "contract_tests", "benchmarks", "tests")
# The layers inside the mock, bottom up (the README's second table); the first is the domain: no HTTP, no OpenAPI.
MOCK_LAYERS = (
    (
        "clock",
        "tasks",
        "store",
        "scenarios",
        "outcome_queue",
        "task_service",
        "video_recipe",
        "pictures",
        "footage",
        "webhook_events",
        "webhook_wire",
    ),
    ("bodies", "problems"),
    (
        "journal",
        "state_file",
        "settings",
        "child_process",
        "render_worker",
        "render_queue",
        "video_cache",
        "webhook_endpoints",
        "webhook_ledger",
        "shared_webhooks",
    ),
    ("contract",),
    (
        "frontdoor",
        "errors",
        "presenter",
        "faults",
        "downloads",
        "routes",
        "admin",
        "http_protocol",
        "webhook_delivery",
        "webhook_process",
        "webhook_link",
        "webhooks",
        "webhook_admin",
    ),
    ("app", "spark_mock", "launcher", "pytest_plugin", "webhook_receiver", "__init__", "__main__"),
)
MOCK_LAYER = {
    "mockserver" if name == "__init__" else f"mockserver.{name}": number
    for number, names in enumerate(MOCK_LAYERS)
    for name in names
}
DOMAIN = frozenset(f"mockserver.{name}" for name in MOCK_LAYERS[0])
NOT_IN_DOMAIN = ("starlette", "openapi_core", "uvicorn", "httpx", "jsonschema", "jsonschema_rs")


def sources(root: Path = REPO) -> dict[str, str]:
    """Every module of the toolkit, by its dotted name."""
    found = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path.read_text(encoding="utf-8")
    return found


def imports(source: str) -> Iterator[tuple[str, tuple[str, ...], bool]]:
    """Each import of a module: what it imports from, the names, and whether it runs at import time."""
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        at_import = id(node) in top_level
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), at_import
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, tuple(alias.name for alias in node.names), at_import


def problems(modules: Mapping[str, str], public: frozenset[str]) -> list[str]:
    """Every import that runs the wrong way, and every circle of imports made at import time."""
    found = []
    graph: dict[str, set[str]] = {}
    for name, source in modules.items():
        layer = LAYERS.index(name.split(".")[0])
        for target, names, at_import in imports(source):
            top = target.split(".")[0]
            if top in LAYERS and LAYERS.index(top) > layer:
                found.append(f"{name} imports {target}, a layer above it")
            private = target != "mockserver" or not set(names) <= public
            if name.startswith("contract_tests") and top == "mockserver" and private:
                found.append(f"{name} imports {target} {list(names)}: only mockserver's public names may be used")
            if name in DOMAIN and top in NOT_IN_DOMAIN:
                found.append(f"{name}, in the domain, imports {target}")
            if top == "mockserver" and name in MOCK_LAYER and MOCK_LAYER.get(target, -1) > MOCK_LAYER[name]:
                found.append(f"{name} imports {target}, a layer of the mock above it")
            if at_import and top in LAYERS:
                candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
                graph.setdefault(name, set()).update(c for c in candidates if c in modules and c != name)
    found += [f"a circle of imports: {' -> '.join(circle)}" for circle in _circles(graph)]
    return found


def _circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    circles, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            circles.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for following in sorted(graph.get(node, ())):
            visit(following, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return circles


def test_the_imports_run_down_the_layers() -> None:
    modules = sources()
    assert problems(modules, frozenset(mockserver.__all__)) == []
    unplaced = [name for name in modules if name.split(".")[0] == "mockserver" and name not in MOCK_LAYER]
    assert unplaced == [], "each module of the mock belongs in a layer of MOCK_LAYERS (and of the README's table)"


def test_each_kind_of_wrong_import_is_caught() -> None:
    modules = {
        "sparkspec.openapi": "import yaml\nfrom mockserver.app import create_app\n",
        "mockserver.tasks": "from starlette.types import Scope\nfrom mockserver.routes import CREATE\n",
        "mockserver.routes": "from mockserver.tasks import Task\n",
        "mockserver.journal": "from mockserver.contract import Contract\n",
        "mockserver.a": "from mockserver import b\n",
        "mockserver.b": "from mockserver.a import x\n",
        "contract_tests.drift": "from mockserver import create_app\nfrom mockserver.tasks import state_at\n",
        "contract_tests.run": "from mockserver import launch, Lanes\n",
    }
    found = problems(modules, frozenset({"create_app", "launch"}))
    assert "sparkspec.openapi imports mockserver.app, a layer above it" in found
    assert "mockserver.tasks, in the domain, imports starlette.types" in found
    assert "mockserver.tasks imports mockserver.routes, a layer of the mock above it" in found
    assert any(f.startswith("contract_tests.drift imports mockserver.tasks") for f in found)
    assert any(f.startswith("contract_tests.run imports mockserver ['launch', 'Lanes']") for f in found)
    assert "mockserver.journal imports mockserver.contract, a layer of the mock above it" in found
    assert any("a circle of imports: mockserver.a -> mockserver.b -> mockserver.a" in f for f in found)
    assert any("mockserver.tasks -> mockserver.routes -> mockserver.tasks" in f for f in found)
    assert not any(f.startswith("contract_tests.drift imports mockserver ['create_app']") for f in found)
