"""The layers of docs/architecture.md, kept honest by import-linter (contracts in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_import_labkit_stays_light():
    code = ("import sys, labkit; heavy = [m for m in ('pandas', 'ipywidgets', 'cryptography', 'mininet', "
            "'labkit.backends.ovs', 'labkit.backends.kind', 'labkit.nsx', 'plotly') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    assert out == "", f"import labkit pulled in: {out}"


def test_capability_table_in_the_docs_is_the_classes():
    """docs/architecture.md carries the capability table generated from the backend classes."""
    import re

    from labkit.backends.registry import capability_table_markdown

    text = (ROOT / "docs" / "architecture.md").read_text()
    found = re.search(r"<!-- capability-table[^>]*-->\n(.*?)\n<!-- /capability-table -->", text, flags=re.S)
    assert found, "docs/architecture.md lost its capability-table markers"
    assert found.group(1).strip() == capability_table_markdown(), (
        "the capability table in docs/architecture.md is stale; regenerate it with\n"
        "python -c 'from labkit.backends.registry import capability_table_markdown as t; print(t())'")


def import_cycles(package: str = "labkit") -> list[list[str]]:
    """Strongly connected components of more than one module in ``package``'s import graph
    (every import counts: module level, in functions, under TYPE_CHECKING)."""
    import grimp

    graph = grimp.build_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(root: str) -> None:  # Tarjan, iterative: deep chains must not hit the recursion limit
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycle():
    cycles = import_cycles()
    assert not cycles, "import cycles in labkit (break each, e.g. pass what is needed as an argument):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)
