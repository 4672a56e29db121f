"""notebooks/05-flow-visibility.ipynb runs headless (nbclient) and its checks really check.

Jupyter's dirs are isolated in tmp, with a ``python3`` kernel spec for this interpreter (the
project venv), so the kernel imports this checkout's labkit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "05-flow-visibility.ipynb"
HEADINGS = ("## Overview", "## Prerequisites", "## Imports", "## Exercise", "## Summary", "## What's next")


def run(solve: bool):
    return run_notebook(NOTEBOOK, {"BACKEND": "sim", "SOLVE": solve})


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
