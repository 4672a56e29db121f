"""The shape of labkit.flows: no import cycles between its modules, no module using another's
private names, and a public surface (``labkit.flows.__all__``) that resolves lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

import labkit.flows

FLOWS = Path(labkit.flows.__file__).parent


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of ``graph`` (node -> successors)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_within_labkit_flows() -> None:
    g = grimp.build_graph("labkit", cache_dir=None)
    modules = {m for m in g.modules if m == "labkit.flows" or m.startswith("labkit.flows.")}
    graph = {m: {n for n in g.find_modules_directly_imported_by(m) if n in modules} for m in modules}
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == [], f"import cycles in labkit.flows: {cycles}"


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_modules_use_no_other_modules_private_names() -> None:
    """No ``from .x import _y``, and no ``obj._y`` but on ``self``/``cls``: a module reaches
    another's state through its public interface (fastdecode through SessionState's methods)."""
    offences = []
    for path in sorted(FLOWS.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                offences += [f"{path.name}:{node.lineno}: imports {a.name} from {node.module}"
                             for a in node.names if private(a.name)]
            elif isinstance(node, ast.Attribute) and private(node.attr) and not (
                    isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                offences.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offences == []


def test_public_surface_resolves() -> None:
    assert labkit.flows.__all__ == sorted(set(labkit.flows.__all__))
    for name in labkit.flows.__all__:
        value = getattr(labkit.flows, name)
        assert getattr(value, "__module__", "labkit.flows").startswith("labkit.flows") or name.isupper(), name
    assert set(labkit.flows.__all__) <= set(dir(labkit.flows))
    from labkit.flows.traffic import synthesize_traffic

    assert labkit.flows.synthesize_traffic is synthesize_traffic
    try:
        labkit.flows.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_importing_the_package_imports_no_module_of_it() -> None:
    code = ("import sys, labkit.flows\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('labkit.flows.') or m in ('pandas', 'socket'))\n"
            "print(','.join(loaded))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
