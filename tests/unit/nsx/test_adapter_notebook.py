"""Notebook 06 (NSX integration) runs headless and its checks really check.

The same machinery as tests/notebooks/test_notebooks.py (isolated Jupyter dirs, a python3 kernel
spec for this interpreter, parameters injected after the ``parameters`` cell), applied to 06:

* with ``SOLVE = True`` it runs top to bottom: register, inventory, NSX policy realized, rule
  statistics, overwrite on edit, traceflow, exercise, deregister;
* with ``SOLVE = False`` the exercise check fails (CheckFailed), so a green run means something;
* it follows the course template and is committed without outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
NOTEBOOK = "06-nsx-integration.ipynb"


@pytest.mark.slow
def test_notebook_06_runs_with_the_solution(jupyter_env):
    try:
        nb = run_notebook(NOTEBOOKS / NOTEBOOK, {"BACKEND": "sim", "SOLVE": True})
    except CellExecutionError as exc:
        pytest.fail(f"{NOTEBOOK} failed:\n{exc}", pytrace=False)
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "protect-x realized: passed" in text and "Exercise 6: passed" in text
    assert "application/vnd.jupyter.widget-view+json" in text  # the console and the matrix were shown
    assert "overwritten" in text and "SUCCESS" in text and "ANTREA_DFW" in text


@pytest.mark.slow
def test_notebook_06_check_fails_when_the_exercise_is_not_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run_notebook(NOTEBOOKS / NOTEBOOK, {"BACKEND": "sim", "SOLVE": False})
    assert info.value.ename == "CheckFailed" and "Exercise 6" in str(info.value)
