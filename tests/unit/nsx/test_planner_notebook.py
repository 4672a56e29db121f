"""Notebook 09 (flows -> NSX micro-segmentation) runs headless and its checks really check.

The same machinery as tests/notebooks/test_notebooks.py, applied to 09:

* with ``SOLVE = True`` it runs top to bottom: flows into NSX, plan, preview, push, the planned
  policy verified, the probes seen blocked by it, a new version's connection blocked and seen,
  then allowed by a re-plan that adds two rules;
* with ``SOLVE = False`` the exercise check fails (CheckFailed) on exactly that connection.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "09-flows-to-nsx-segmentation.ipynb"


@pytest.mark.slow
def test_notebook_09_runs_with_the_solution(jupyter_env):
    try:
        nb = run_notebook(NOTEBOOK, {"BACKEND": "sim", "SOLVE": True})
    except CellExecutionError as exc:
        pytest.fail(f"{NOTEBOOK.name} failed:\n{exc}", pytrace=False)
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "planned policy (TCP/8080): passed" in text and "Exercise 9 (TCP/6379): passed" in text
    assert "Preview: ok" in text and "realization SUCCESS" in text and "default-drop" in text
    assert "application/vnd.jupyter.widget-view+json" in text  # the console was shown
    assert "allow-backend-api-to-data-redis-egress" in text  # the re-plan's diff


@pytest.mark.slow
def test_notebook_09_check_fails_when_the_exercise_is_not_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run_notebook(NOTEBOOK, {"BACKEND": "sim", "SOLVE": False})
    assert info.value.ename == "CheckFailed" and "Exercise 9 (TCP/6379)" in str(info.value)
    assert "data/redis is drop, should be allow" in str(info.value)
