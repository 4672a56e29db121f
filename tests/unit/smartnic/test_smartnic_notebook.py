"""Notebook 08 runs headless (nbclient, isolated Jupyter dirs, this venv's kernel) and its check checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
NAME = "08-smartnic-offload.ipynb"
TEMPLATE = ("## Overview", "## Prerequisites", "## Imports", "## Exercise", "## Summary", "## What's next")


@pytest.fixture(scope="module")
def jupyter_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("jupyter08")
    spec = root / "data" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (labkit venv)", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in (("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                         ("LABKIT_STATE_DIR", "labkit-state")):
            mp.setenv(var, str(root / sub))
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")
        yield root


def run(**params) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / NAME, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()),
                                     metadata={"tags": ["injected-parameters"]})
    cell.id = "injected-parameters"
    nb.cells.insert(index + 1, cell)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def test_notebook_follows_the_template():
    nb = nbformat.read(NOTEBOOKS / NAME, as_version=4)
    nbformat.validate(nb)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c for c in nb.cells if c.cell_type == "code"]
    positions = [markdown.find(h) for h in TEMPLATE]
    assert -1 not in positions and positions == sorted(positions)
    assert "| Time |" in markdown and "| Backend |" in markdown and "<details><summary>Solution" in markdown
    assert "parameters" in code[0].metadata.get("tags", []) and 'BACKEND = "sim"' in code[0].source
    assert code[-1].source.strip() == "lab.stop()"
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs"
    assert max(len(c.source.splitlines()) for c in code) <= 10


@pytest.mark.slow
def test_notebook_runs_with_the_solution(jupyter_env):
    nb = run(BACKEND="sim", SOLVE=True)
    outputs = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "Exercise 8: passed" in outputs
    assert "application/vnd.jupyter.widget-view+json" in outputs
    assert "unsupported action" in outputs and "first packets of a connection" in outputs
    assert "fails: there is no br-int on the host" in outputs


@pytest.mark.slow
def test_the_check_fails_until_the_exercise_is_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run(BACKEND="sim", SOLVE=False)
    assert info.value.ename == "CheckFailed" and "Exercise 8" in str(info.value)
