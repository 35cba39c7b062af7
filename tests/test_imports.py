"""How the deployables hang together, read from the source: no import circle anywhere (every import
counts, a deferred one inside a function too), and the admin site imports nothing of the function
app (what the two share is the `switchboard` package)."""
from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

# import root -> the packages under it (function_app/ is the Functions app's root: core, branches, ...)
PACKAGES = {ROOT: ("switchboard", "nlu", "admin_site", "inference_container", "training_jobs", "devstack"),
            ROOT / "function_app": ("core", "branches", "blueprints")}
FUNCTION_APP = ("core", "branches", "blueprints", "function_app")


def modules() -> dict[str, Path]:
    found = {}
    for root, packages in PACKAGES.items():
        for package in packages:
            for path in (root / package).rglob("*.py"):
                name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
                found[name] = path
    return found


def imported(name: str, path: Path) -> set[str]:
    """Every module `path` imports, as written (absolute or relative), a name imported from a package
    counted as its submodule when it is one."""
    names = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(filter(None, [base, node.module]))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def graph() -> dict[str, set[str]]:
    known = modules()
    edges = {}
    for name, path in known.items():
        targets = set()
        for target in imported(name, path):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_import_circle_in_the_tree():
    edges = graph()
    assert len(edges) > 100  # it read the tree
    assert cycles(edges) == []


def test_the_check_finds_a_circle():
    edges = graph()
    edges["switchboard.errors"] = edges["switchboard.errors"] | {"switchboard.envelope"}  # envelope imports errors
    assert ["switchboard.envelope", "switchboard.errors"] in cycles(edges)


def test_the_admin_site_imports_nothing_of_the_function_app():
    edges = graph()
    reaching = {name: sorted(t for t in targets if t.split(".")[0] in FUNCTION_APP)
                for name, targets in edges.items() if name.startswith("admin_site")}
    assert {name: found for name, found in reaching.items() if found} == {}
    assert "switchboard.turns" in edges["admin_site.turnlog"] | edges["admin_site.rollups"]  # what it uses instead
