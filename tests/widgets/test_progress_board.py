"""The trainer's progress board: the widget (live refresh) and the trainer notebook, on real workspaces
that real notebook runs wrote into."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from labkit.course import CheckResult
from labkit.course.progress import record_check
from labkit.course.workspace import init_workspace
from labkit.testing import run_notebook
from labkit.widgets import ProgressBoard

TRAINER = Path(__file__).resolve().parents[2] / "notebooks" / "trainer" / "progress-board.ipynb"


@pytest.fixture
def classroom(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_PROGRESS", raising=False)
    spaces = {}
    for who in ("alice", "bob"):
        spaces[who] = tmp_path / "homes" / who / "labkit-course"
        init_workspace(spaces[who], learner=who)
    return tmp_path, spaces


def test_the_board_refreshes_by_itself(classroom, monkeypatch):
    root, spaces = classroom
    board = ProgressBoard(str(root / "homes" / "*" / "labkit-course"), refresh_s=0.2)
    try:
        assert board.frame.learner.nunique() == 2 and "data-state='passed'" not in board.board.value
        monkeypatch.setenv("LABKIT_USER", "alice")
        record_check(CheckResult("Exercise 0", True), workspace=spaces["alice"], notebook="00-start-here")
        deadline = time.monotonic() + 10
        while "data-state='passed'" not in board.board.value and time.monotonic() < deadline:
            time.sleep(0.1)
        assert board.board.value.count("data-state='passed'") == 1
        row = board.frame[(board.frame.learner == "alice") & (board.frame.exercise == "Exercise 0")].iloc[0]
        assert row.state == "passed" and row.attempts == 1
        init_workspace(root / "homes" / "carol" / "labkit-course", learner="carol")  # a late learner
        deadline = time.monotonic() + 10
        while board.frame.learner.nunique() < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(board.frame.learner.unique()) == ["alice", "bob", "carol"]
        assert "3 workspace(s)" in board.status.value
    finally:
        board.close()
    assert not board._thread.is_alive() or (board._thread.join(2) or not board._thread.is_alive())


@pytest.mark.slow
def test_the_trainer_notebook_shows_the_class(classroom, jupyter_env, monkeypatch):
    root, spaces = classroom
    monkeypatch.setenv("LABKIT_USER", "bob")
    for passed in (False, True):
        record_check(CheckResult("Exercise 2", passed), workspace=spaces["bob"], notebook="02-antrea-native-policies")
    nb = run_notebook(TRAINER, {"WORKSPACES": [str(root / "homes" / "*" / "labkit-course")], "REFRESH_S": 0})
    outputs = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.outputs])
    assert "application/vnd.jupyter.widget-view+json" in outputs
    widget_state = json.dumps(nb.metadata.get("widgets", {}))  # what the board drew (nbclient keeps widget state)
    assert "2 workspace(s)" in widget_state and "data-state='passed'" in widget_state
    assert "Exercise 2" in outputs and "alice" in outputs and "bob" in outputs  # the table and the pandas cells
