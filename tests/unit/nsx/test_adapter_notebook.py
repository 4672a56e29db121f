"""Notebook 06 (NSX integration) runs headless and its checks really check.

The same machinery as tests/notebooks/test_notebooks.py (isolated Jupyter dirs, a python3 kernel
spec for this interpreter, parameters injected after the ``parameters`` cell), applied to 06:

* with ``SOLVE = True`` it runs top to bottom: register, inventory, NSX policy realized, rule
  statistics, overwrite on edit, traceflow, exercise, deregister;
* with ``SOLVE = False`` the exercise check fails (CheckFailed), so a green run means something;
* it follows the course template and is committed without outputs.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

_spec = importlib.util.spec_from_file_location(
    "labkit_course_notebook_tests", Path(__file__).resolve().parents[2] / "notebooks" / "test_notebooks.py")
assert _spec is not None and _spec.loader is not None
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)

jupyter_env = course.jupyter_env  # the fixture: isolated Jupyter dirs + kernel spec for this venv
NOTEBOOK = "06-nsx-integration.ipynb"


def test_notebook_06_follows_the_course_template():
    course.test_notebook_follows_the_template(NOTEBOOK)
    course.test_notebook_is_committed_without_outputs_and_with_short_cells(NOTEBOOK)


@pytest.mark.slow
def test_notebook_06_runs_with_the_solution(jupyter_env):
    nb = course.load(NOTEBOOK, BACKEND="sim", SOLVE=True)
    try:
        course.execute(nb)
    except CellExecutionError as exc:
        pytest.fail(f"{NOTEBOOK} failed:\n{exc}", pytrace=False)
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "protect-x realized: passed" in text and "Exercise 6: passed" in text
    assert "application/vnd.jupyter.widget-view+json" in text  # the console and the matrix were shown
    assert "overwritten" in text and "SUCCESS" in text and "ANTREA_DFW" in text


@pytest.mark.slow
def test_notebook_06_check_fails_when_the_exercise_is_not_done(jupyter_env):
    nb = course.load(NOTEBOOK, BACKEND="sim", SOLVE=False)
    with pytest.raises(CellExecutionError) as info:
        course.execute(nb)
    assert info.value.ename == "CheckFailed" and "Exercise 6" in str(info.value)
