"""Every course notebook runs headless (nbclient) and its check cells really check.

* each notebook executes top to bottom with ``SOLVE = True`` (the reference solutions applied)
  on ``LABKIT_NOTEBOOK_BACKEND`` (default ``sim``); any error fails the test;
* the same check cells fail when the lab misbehaves (a backend that enforces nothing) and when the
  exercise is not done, so a green run means something — in a grading run; in a learner's kernel
  (no ``LABKIT_GRADING``) the same notebooks run to their last cell and say "not yet";
* the committed notebooks follow the course template and carry no outputs.

Jupyter's config/data/runtime dirs are isolated in the test's tmp dir, with a ``python3`` kernel
spec pointing at this interpreter (the project venv).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from labkit.testing import NotebookFailure, run_notebook, run_notebooks_at_once

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]-*.ipynb"))
BACKEND = os.environ.get("LABKIT_NOTEBOOK_BACKEND", "sim")
CELL_TIMEOUT_S = 120

# A backend that enforces nothing: every probe succeeds (OVS without flows, a CNI without policy).
SABOTAGE = """
import numpy as np
from labkit.backends import sim as _sim
_real = _sim.SimBackend.reachability
def _enforce_nothing(self, *args, **kwargs):
    m = _real(self, *args, **kwargs)
    m.codes = np.zeros_like(m.codes)
    return m
_sim.SimBackend.reachability = _enforce_nothing
"""


def load_and_run(name: str, extra: str = "", grading: bool = True, **params) -> nbformat.NotebookNode:
    """Run a course notebook with parameters injected after its ``parameters`` cell."""
    return run_notebook(NOTEBOOKS_DIR / name, params, extra, timeout_s=CELL_TIMEOUT_S, grading=grading)


def test_there_is_a_course():
    assert NOTEBOOKS == ["00-start-here.ipynb", "01-kubernetes-networkpolicy.ipynb",
                         "02-antrea-native-policies.ipynb", "03-tiers-and-troubleshooting.ipynb",
                         "04-shop-microsegmentation.ipynb", "05-flow-visibility.ipynb", "06-nsx-integration.ipynb",
                         "07-encryption.ipynb", "08-smartnic-offload.ipynb", "09-flows-to-nsx-segmentation.ipynb"]


# What each notebook shows only when its topic really ran (on sim: the engine, emulated captures,
# the modelled offload, the NSX mock), beyond the "passed" every check cell prints.
SHOWS = {
    "05-flow-visibility.ipynb": ["default-deny", "recommend-k8s-np-default-deny"],
    "06-nsx-integration.ipynb": ["protect-x realized: passed", "Exercise 6: passed", "overwritten", "SUCCESS",
                                 "ANTREA_DFW"],
    "07-encryption.ipynb": ["Exercise 7: passed", "Transport Data", "ESP", "GET / HTTP/1.1"],
    "08-smartnic-offload.ipynb": ["Exercise 8: passed", "unsupported action", "first packets of a connection",
                                  "fails: there is no br-int on the host"],
    "09-flows-to-nsx-segmentation.ipynb": ["planned policy: passed", "Exercise 9: passed", "TCP/8080", "Preview: ok",
                                           "realization SUCCESS", "default-drop",
                                           "allow-backend-api-to-data-redis-egress"],  # the re-plan's diff
}
# Notebooks with several checks: each prints its "passed" (05: the recommendation and both exercises).
PASSES = {"05-flow-visibility.ipynb": 3}


@pytest.fixture(scope="module")
def solved_course(jupyter_env):
    """Every notebook executed with its solutions: {name: notebook or NotebookFailure}.

    One after the other in this process: on sim a run is CPU-bound (about 3 s), so running two at
    once in their own processes gained nothing on two cores and cost each a fresh interpreter."""
    return run_notebooks_at_once([NOTEBOOKS_DIR / name for name in NOTEBOOKS], {"BACKEND": BACKEND, "SOLVE": True},
                                 at_once=1, timeout_s=CELL_TIMEOUT_S)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_with_the_solutions(name, solved_course):
    nb = solved_course[name]
    if isinstance(nb, NotebookFailure):
        pytest.fail(f"{name} failed on backend {BACKEND}:\n{nb}", pytrace=False)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps(outputs)
    assert text.count("passed") >= PASSES.get(name, 1)  # the check cells said so
    assert "application/vnd.jupyter.widget-view+json" in text  # widgets were displayed
    if BACKEND == "sim":
        missing = [shown for shown in SHOWS.get(name, []) if shown not in text]
        assert not missing, f"{name} did not show {missing}"


@pytest.mark.slow
def test_checks_fail_when_the_lab_enforces_nothing(jupyter_env):
    with pytest.raises(CellExecutionError) as info:
        load_and_run("01-kubernetes-networkpolicy.ipynb", extra=SABOTAGE, BACKEND="sim", SOLVE=True)
    assert info.value.ename == "CheckFailed"
    assert "Exercise 1, TCP/80" in str(info.value) and "should be drop" in str(info.value)


@pytest.mark.slow
def test_checks_fail_when_the_exercise_is_not_done(jupyter_env):
    # at_once=2: the notebook runs in a process of its own (the way the ovs course test runs three),
    # which must hand back the failing check as nbclient reported it
    failed = run_notebooks_at_once([NOTEBOOKS_DIR / "00-start-here.ipynb"], {"BACKEND": "sim", "SOLVE": False},
                                   at_once=2, timeout_s=CELL_TIMEOUT_S)["00-start-here.ipynb"]
    assert isinstance(failed, NotebookFailure), "the unsolved exercise passed"
    assert failed.ename == "CheckFailed" and "Exercise 0" in failed.text


@pytest.mark.slow
def test_a_learners_run_all_reaches_the_last_cell_and_says_not_yet(jupyter_env):
    """Issue 14: "Run All" used to stop at 03's first check, so 5 of its 14 code cells (the 3.2
    editor among them) and lab.stop() never ran. Without grading, every cell runs."""
    from labkit.course.runner import checks_of

    nb = load_and_run("03-tiers-and-troubleshooting.ipynb", grading=False, BACKEND="sim", SOLVE=False)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert code[-1].source.strip() == "lab.stop()"
    assert any("labkit-yaml" in json.dumps(c.outputs) or "widget-view" in json.dumps(c.outputs)
               for c in code if "PolicyEditor(" in c.source), "the 3.2 editor was displayed"
    states = {c["exercise"]: c["state"] for c in checks_of(nb)}
    assert states == {"Exercise 3.1": "not yet", "Exercise 3.2, TCP/80": "not yet", "Exercise 3.2, TCP/81": "passed"}
    text = json.dumps([o for c in code for o in c.outputs])
    assert "Exercise 3.1: not yet" in text and "your answer is empty" in text


# ---------------------------------------------------------------------------- the template

TEMPLATE_HEADINGS = ("## Overview", "## Prerequisites", "## Imports", "## Exercise", "## Summary", "## What's next")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_follows_the_template(name):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nbformat.validate(nb)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    positions = [markdown.find(h) for h in TEMPLATE_HEADINGS]
    assert -1 not in positions and positions == sorted(positions), f"{name}: headings {TEMPLATE_HEADINGS}"
    assert "| Time |" in markdown and "| Backend |" in markdown
    if name != "00-start-here.ipynb":
        assert "<details><summary>Solution" in markdown
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'BACKEND = "sim"' in params[0].source and "SOLVE = False" in params[0].source
    assert code.index(params[0]) == 0, "the parameter cell comes first"
    assert code[-1].source.strip() == "lab.stop()", "every notebook stops its lab"
    assert any("Lab(backend=BACKEND" in c.source for c in code)
    assert any("check_" in c.source for c in code), "at least one auto-check cell"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs_and_with_short_cells(name):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name}: strip the outputs"
    lengths = [len(c.source.splitlines()) for c in code]
    # 1-9 lines; a check cell holding a truth table may reach 10.
    assert max(lengths) <= 10, f"{name}: a code cell has {max(lengths)} lines"
    assert sum(n <= 6 for n in lengths) >= 0.7 * len(lengths)
