"""The public surface (docs/architecture.md, "Public surface"): notebooks and the docs' examples
import only names that a public package lists in ``__all__``; product code never imports
``labkit.testing``; every public package's ``__all__`` names what it has."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ("labkit", "labkit.widgets", "labkit.flows", "labkit.nsx", "labkit.encryption", "labkit.smartnic",
          "labkit.testing", "labkit.backends.kind", "labkit.course")  # kind: prefetch and preflight for offline classrooms


def notebook_sources() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                out.append((f"{path.name} cell {i}", "".join(cell["source"])))
    return out


def doc_sources() -> list[tuple[str, str]]:
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for n, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)):
            out.append((f"{path.relative_to(ROOT)} example {n}", block))
    return out


def imports(source: str) -> list[tuple[str, list[str]]]:
    """(module, names) of every labkit import; IPython lines (!cmd, %magic) are left out."""
    code = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:  # an example with "..." placeholders: fall back to the import lines alone
        lines = [line for line in code.splitlines() if re.match(r"\s*(from|import) labkit", line)]
        tree = ast.parse("\n".join(line.strip() for line in lines))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("labkit")]
    return found


@pytest.mark.parametrize("where,source", notebook_sources() + doc_sources(), ids=lambda v: v if " " in v else "")
def test_examples_import_only_public_names(where, source):
    for module, names in imports(source):
        assert module in PUBLIC, f"{where}: imports {module}, which is internal; public: {', '.join(PUBLIC)}"
        exported = set(importlib.import_module(module).__all__)
        private = [n for n in names if n not in exported]
        assert not private, f"{where}: {', '.join(private)} not in {module}.__all__"


@pytest.mark.parametrize("package", PUBLIC)
def test_public_packages_have_what_all_names(package):
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name, None) is not None or importlib.import_module(f"{package}.{name}"), name


def test_product_code_never_imports_testing():
    import grimp

    graph = grimp.build_graph("labkit")
    importers = graph.find_modules_that_directly_import("labkit.testing")
    assert not importers, f"product code imports labkit.testing: {sorted(importers)}"
