"""Notebook 09 (flows -> NSX micro-segmentation) runs headless and its checks really check.

The same machinery as tests/notebooks/test_notebooks.py, applied to 09:

* with ``SOLVE = True`` it runs top to bottom (flows into NSX, plan, preview, push, the planned
  policy verified, a new version's connection blocked, then allowed by a re-plan): that run, and
  what it must show, is tests/notebooks/test_notebooks.py's, shared with the whole course;
* with ``SOLVE = False`` the exercise check fails (CheckFailed, in a grading run) on exactly that connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "09-flows-to-nsx-segmentation.ipynb"


@pytest.mark.slow
def test_notebook_09_check_fails_when_the_exercise_is_not_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run_notebook(NOTEBOOK, {"BACKEND": "sim", "SOLVE": False})
    assert info.value.ename == "CheckFailed" and "Exercise 9" in str(info.value) and "TCP/6379" in str(info.value)
    assert "data/redis is drop, should be allow" in str(info.value)
