"""notebooks/05-flow-visibility.ipynb runs headless (nbclient) and its checks really check.

Jupyter's dirs are isolated in tmp, with a ``python3`` kernel spec for this interpreter (the
project venv), so the kernel imports this checkout's labkit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "05-flow-visibility.ipynb"
HEADINGS = ("## Overview", "## Prerequisites", "## Imports", "## Exercise", "## Summary", "## What's next")


@pytest.fixture(scope="module")
def jupyter_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("jupyter-flows")
    spec = root / "data" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (labkit venv)", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        for name, sub in (("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config"),
                          ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                          ("LABKIT_STATE_DIR", "labkit-state")):
            mp.setenv(name, str(root / sub))
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")
        yield root


def run(solve: bool) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell(f'BACKEND = "sim"\nSOLVE = {solve}', metadata={"tags": ["injected-parameters"]})
    cell.id = "injected-parameters"
    nb.cells.insert(index + 1, cell)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return nb


def test_notebook_follows_the_course_template():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# 05 ")
    positions = [markdown.find(h) for h in HEADINGS]
    assert -1 not in positions and positions == sorted(positions)
    assert "| Time |" in markdown and "| Backend |" in markdown and "<details><summary>Solution" in markdown
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and code.index(params[0]) == 0
    assert 'BACKEND = "sim"' in params[0].source and "SOLVE = False" in params[0].source
    assert code[-1].source.strip() == "lab.stop()"
    assert any("Lab(backend=BACKEND" in c.source for c in code) and any("check_" in c.source for c in code)
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs"
    lengths = [len(c.source.splitlines()) for c in code]
    assert max(lengths) <= 10 and sum(n <= 6 for n in lengths) >= 0.7 * len(lengths)


def test_notebook_runs_with_the_solution(jupyter_env):
    nb = run(solve=True)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps(outputs)
    assert text.count("passed") >= 3  # the recommendation check, and both exercise checks
    assert "application/vnd.jupyter.widget-view+json" in text  # the flow table and figures
    assert "default-deny" in text and "recommend-k8s-np-default-deny" in text


def test_the_exercise_check_fails_until_it_is_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run(solve=False)
    assert info.value.ename == "CheckFailed" and "Exercise 5, rejected probes" in str(info.value)
