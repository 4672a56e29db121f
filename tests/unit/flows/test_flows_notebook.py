"""notebooks/05-flow-visibility.ipynb runs headless (nbclient) and its checks really check.

Jupyter's dirs are isolated in tmp, with a ``python3`` kernel spec for this interpreter (the
project venv), so the kernel imports this checkout's labkit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "05-flow-visibility.ipynb"
HEADINGS = ("## Overview", "## Prerequisites", "## Imports", "## Exercise", "## Summary", "## What's next")


def run(solve: bool):
    return run_notebook(NOTEBOOK, {"BACKEND": "sim", "SOLVE": solve})


def test_the_exercise_check_fails_until_it_is_done(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        run(solve=False)
    assert info.value.ename == "CheckFailed" and "Exercise 5, rejected probes" in str(info.value)
