"""``labkit notebooks run``, as a trainer or CI runs it: a real process, real kernels, real notebooks.

Runtime: about 12 s (three runs of one or two small notebooks; each kernel starts in ~1.5 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def labkit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)


def write_notebook(path: Path, *sources: str, parameters: str = 'BACKEND = "sim"\nSOLVE = False') -> Path:
    cells = [nbformat.v4.new_markdown_cell("# A notebook written by the test"),
             nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_start_here_on_sim_passes_and_writes_the_executed_copy_and_summary(tmp_path):
    out = tmp_path / "out"
    proc = labkit("notebooks", "run", "--solve", "--output-dir", str(out), "notebooks/00-start-here.ipynb")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "00-start-here.ipynb  pass" in proc.stdout and "1/1 passed on backend sim (SOLVE=True)" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True and summary["backend"] == "sim" and summary["solve"] is True
    (run,) = summary["notebooks"]
    assert run["status"] == "pass" and run["failed_cell"] is None and 0 < run["seconds"] < 120
    executed = nbformat.read(out / "00-start-here.ipynb", as_version=4)
    injected = next(c for c in executed.cells if c.get("id") == "injected-parameters")
    assert "BACKEND = 'sim'" in injected.source and "SOLVE = True" in injected.source
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    outputs = json.dumps([o for c in code for o in c.outputs])
    assert "Exercise 0" in outputs and "passed" in outputs  # the check cell's verdict, in the copy
    assert "application/vnd.jupyter.widget-view+json" in outputs  # the matrix and the editor were displayed


def test_a_failing_notebook_exits_1_and_the_summary_names_the_failing_cell(tmp_path):
    """The failing notebook's check really fails (a policy denies what the check expects allowed);
    the run goes on with the next notebook and reports both."""
    broken = write_notebook(
        tmp_path / "01-broken.ipynb",
        "from labkit import Lab\nfrom labkit.widgets import check_reachability",
        'lab = Lab(backend=BACKEND, profile="workshop", name="cli-broken")',
        'lab.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",\n'
        '           "metadata": {"name": "deny-all", "namespace": "x"},\n'
        '           "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})',
        'check_reachability(lab, """\n      x/a\n y/a   .\n""", port=80, title="y/a reaches x/a")',
        'print("after the failure")')
    fine = write_notebook(tmp_path / "02-fine.ipynb", "print(BACKEND, SOLVE)")
    out = tmp_path / "out"
    proc = labkit("notebooks", "run", "--solve", "--output-dir", str(out), str(broken), str(fine))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "01-broken.ipynb" in proc.stdout and "FAIL" in proc.stdout
    assert "cell 6: check_reachability(lab" in proc.stdout  # position in the source notebook, first line
    assert "CheckFailed" in proc.stdout and "y/a->x/a is drop, should be allow" in proc.stdout
    assert "1/2 passed" in proc.stdout

    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is False and summary["counts"] == {"pass": 1, "fail": 1}
    bad, good = summary["notebooks"]
    assert bad["status"] == "FAIL" and bad["failed_cell"] == 6
    assert bad["failed_source"].startswith("check_reachability(lab")
    assert bad["error"].startswith("CheckFailed") and "should be allow" in bad["error"]
    assert good["status"] == "pass"

    executed = nbformat.read(out / "01-broken.ipynb", as_version=4)  # the copy shows where it stopped
    failing = next(c for c in executed.cells if c.get("outputs") and c.outputs[-1].output_type == "error")
    assert failing.source.startswith("check_reachability")
    assert executed.cells[-1].execution_count is None, "cells after the failure did not run"
    assert "sim True" not in json.dumps(executed.cells[-1].get("outputs", []))
    fine_copy = nbformat.read(out / "02-fine.ipynb", as_version=4)
    assert "sim True" in json.dumps(fine_copy.cells[-1].outputs)  # parameters injected

    # Without --solve the same run is a learner's: the check says "not yet", every cell runs, exit 0,
    # and summary.json lists the check's state.
    proc = labkit("notebooks", "run", "--output-dir", str(out), str(broken), str(fine))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2/2 passed" in proc.stdout and "0/1 checks passed" in proc.stdout
    assert "not yet (the exercises are left to the learner without --solve): 01-broken: y/a reaches x/a" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    bad, good = summary["notebooks"]
    assert bad["status"] == "pass" and bad["checks"][0]["exercise"] == "y/a reaches x/a"
    assert bad["checks"][0]["state"] == "not yet" and bad["checks"][0]["problems"] == ["y/a->x/a is drop, should be allow"]
    assert good["checks"] == []
    executed = nbformat.read(out / "01-broken.ipynb", as_version=4)
    assert "after the failure" in json.dumps(executed.cells[-1].outputs), "the cell after the check ran"
    assert "Kernel is running over TCP" not in proc.stderr  # kernels talk over Unix sockets


def test_bad_paths_are_all_reported_and_nothing_runs(tmp_path):
    (tmp_path / "notes.txt").write_text("not a notebook")
    proc = labkit("notebooks", "run", "--output-dir", str(tmp_path / "out"), str(tmp_path / "missing.ipynb"),
                  str(tmp_path / "notes.txt"))
    assert proc.returncode == 1
    assert "missing.ipynb: no such file" in proc.stderr and "notes.txt: not a notebook" in proc.stderr
    assert not (tmp_path / "out").exists()
