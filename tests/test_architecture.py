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
