"""Notebook 08 runs headless (nbclient, isolated Jupyter dirs, this venv's kernel) and its check checks."""

from __future__ import annotations

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
def test_the_check_fails_until_the_exercise_is_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run(BACKEND="sim", SOLVE=False)
    assert info.value.ename == "CheckFailed" and "Exercise 8" in str(info.value)
