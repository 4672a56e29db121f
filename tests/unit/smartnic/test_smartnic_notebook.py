"""Notebook 08 runs headless (nbclient, isolated Jupyter dirs, this venv's kernel) and its check checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
NAME = "08-smartnic-offload.ipynb"
TEMPLATE = ("## Overview", "## Prerequisites", "## Imports", "## Exercise", "## Summary", "## What's next")


def run(**params):
    return run_notebook(NOTEBOOKS / NAME, params)


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
