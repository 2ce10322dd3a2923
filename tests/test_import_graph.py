"""Our packages import one another one way: no module cycle, no package cycle, and the layers DESIGN §2 sets.

The graph is read from the source with ``ast``: every import, at the top of a module or inside a function
(a deferred import still ties the two modules together, and is how a cycle usually hides).
"""

from __future__ import annotations

import ast
import textwrap

from tests.conftest import ROOT

PACKAGES = ("infra", "bootstrap", "migrate", "monitoring")
#: Packages that must not import another at all, and why.
LAYERS = {
    ("bootstrap", "infra"): "bootstrap takes plain values (bootstrap/app_boot.py), built by infra/boot.py",
    ("migrate", "infra"): "migrate runs on an operator's laptop and the cutover runner, without infra (DESIGN §2)",
}


def project_sources() -> dict[str, str]:
    """Dotted module name → source, for every module of ``PACKAGES``."""
    sources = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            sources[name] = path.read_text(encoding="utf-8")
    return sources


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module → the modules of ``sources`` it imports (a name below a module, e.g. ``infra.engine.aws.vpc``,
    counts as that module)."""

    def known(name: str) -> str | None:
        while name and name not in sources:
            name = name.rpartition(".")[0]
        return name or None

    def absolute(module: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        # A package's own ``from . import x`` is relative to itself, a module's to its package.
        is_package = any(other.startswith(module + ".") for other in sources)
        parts = module.split(".")[: None if is_package else -1]
        anchor = parts[: len(parts) - node.level + 1]
        return ".".join([*anchor, *([node.module] if node.module else [])])

    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = absolute(module, node)
                targets |= {known(f"{base}.{alias.name}") for alias in node.names}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of two or more nodes (Tarjan), as a path a → … → a."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = {stack.pop()}
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(graph, group) for group in groups]


def _path_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for target in sorted(graph[path[-1]] & group):
            if target == start:
                return [*path, start]
            if target not in path:
                paths.append([*path, target])
    raise AssertionError(f"no cycle through {sorted(group)}")


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    top = {module: module.split(".")[0] for module in graph}
    packages: dict[str, set[str]] = {package: set() for package in set(top.values())}
    for module, targets in graph.items():
        packages[top[module]] |= {top[target] for target in targets} - {top[module]}
    return packages


def offences(graph: dict[str, set[str]]) -> list[str]:
    """Every import across a layer of ``LAYERS``: 'module imports target: why not'."""
    return [
        f"{module} imports {target}: {LAYERS[(module.split('.')[0], target.split('.')[0])]}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if (module.split(".")[0], target.split(".")[0]) in LAYERS
    ]


def test_no_module_imports_itself_back():
    graph = import_graph(project_sources())
    found = cycles(graph)
    assert not found, "import cycles (move what both need into a module each imports):\n" + "\n".join(
        " -> ".join(cycle) for cycle in found
    )


def test_packages_depend_one_way():
    graph = import_graph(project_sources())
    assert not offences(graph), "\n".join(offences(graph))
    found = cycles(package_graph(graph))
    assert not found, "package cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)
    # The graph is the project's: infra builds on the three others, which stand on their own.
    assert package_graph(graph)["infra"] >= {"bootstrap", "monitoring"}


def test_the_checks_can_fail():
    # GIVEN the tangles this test exists for (a command module importing its registrar back inside a
    # function, bootstrap importing infra's config) THEN each is reported, by name.
    sources = {
        "infra": "",
        "infra.config": "from bootstrap.app_settings import SETTING_NAME\n",
        "infra.cli": "from infra.review.cli import graph\n",
        "infra.review": "",
        "infra.review.cli": textwrap.dedent(
            """
            def graph():
                from ..cli import _load
            """
        ),
        "bootstrap": "",
        "bootstrap.app_settings": "",
        "bootstrap.user_data": "from infra.config import EnvironmentConfig\n",
    }
    graph = import_graph(sources)
    assert graph["infra.review.cli"] == {"infra.cli"}
    assert cycles(graph) == [["infra.cli", "infra.review.cli", "infra.cli"]]
    assert offences(graph) == [f"bootstrap.user_data imports infra.config: {LAYERS['bootstrap', 'infra']}"]
    assert cycles(package_graph(graph)) == [["bootstrap", "infra", "bootstrap"]]
