"""Notebook 06 (NSX integration) runs headless and its checks really check.

The same machinery as tests/notebooks/test_notebooks.py (isolated Jupyter dirs, a python3 kernel
spec for this interpreter, parameters injected after the ``parameters`` cell), applied to 06:

* with ``SOLVE = True`` it runs top to bottom (register, inventory, NSX policy realized, rule
  statistics, overwrite on edit, traceflow, exercise, deregister): tests/notebooks/test_notebooks.py
  runs it, with what it must show;
* with ``SOLVE = False`` the exercise check fails (CheckFailed), so a green run means something;
* it follows the course template and is committed without outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
NOTEBOOK = "06-nsx-integration.ipynb"


@pytest.mark.slow
def test_notebook_06_check_fails_when_the_exercise_is_not_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run_notebook(NOTEBOOKS / NOTEBOOK, {"BACKEND": "sim", "SOLVE": False})
    assert info.value.ename == "CheckFailed" and "Exercise 6" in str(info.value)
