"""Lab names unique per learner and notebook; the check log and the trainer's board."""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import Lab
from labkit.course import CheckResult, lab_name, learner_name
from labkit.course.checks import conclude
from labkit.course.progress import (board_html, board_table, notebook_exercises, progress_frame, read_records,
                                    record_check)
from labkit.course.workspace import init_workspace
from labkit.errors import NotFoundError

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
BASES = ["start-here", "netpol", "antrea", "trouble", "shop", "flows", "nsx", "encryption", "smartnic"]
LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
learners = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)


# ---------------------------------------------------------------------------- lab names


def test_readable_names_for_ordinary_learners():
    assert lab_name("netpol", "alice") == "netpol-alice"
    assert lab_name("start-here", "bob") == "start-here-bob"
    hashed = lab_name("start-here", "trainer")  # does not fit: base truncated, hashed tail
    assert LAB_NAME.match(hashed) and hashed.startswith("start-her-") and hashed[10].isdigit()
    assert lab_name("netpol", "Alice") != lab_name("netpol", "alice")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(BASES), learners)
def test_every_name_is_a_valid_lab_name_and_stable(base, learner):
    name = lab_name(base, learner)
    assert LAB_NAME.match(name), name
    assert name == lab_name(base, learner)
    Lab(name=name, start=False)  # the Lab accepts it


@settings(max_examples=300, deadline=None)
@given(st.lists(learners, min_size=2, max_size=30, unique=True), st.sampled_from(BASES))
def test_distinct_learners_get_distinct_names(many, base):
    names = [lab_name(base, who) for who in many]
    assert len(set(names)) == len(names), dict(zip(many, names))


def test_distinct_notebooks_get_distinct_names_for_one_learner():
    for who in ("alice", "trainer", "a.very.long-name@example.org", "0day"):
        names = [lab_name(base, who) for base in BASES]
        assert len(set(names)) == len(names), names


def test_the_learner_comes_from_the_hub_or_labkit(monkeypatch):
    monkeypatch.delenv("LABKIT_USER", raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", "carol")
    assert learner_name() == "carol"
    monkeypatch.setenv("LABKIT_USER", "dave")
    assert learner_name() == "dave" and lab_name("nsx") == "nsx-dave"


def test_bad_bases_are_refused():
    for base in ("", "Netpol", "a_b", "x" * 11, "-x", "x-"):
        with pytest.raises(ValueError, match="lab name base"):
            lab_name(base, "alice")


# ---------------------------------------------------------------------------- the check log


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    ws = tmp_path / "alice"
    init_workspace(ws, learner="alice")
    monkeypatch.delenv("LABKIT_PROGRESS", raising=False)
    monkeypatch.delenv("LABKIT_GRADING", raising=False)
    monkeypatch.setenv("LABKIT_USER", "alice")
    return ws


def test_a_check_in_a_workspace_is_recorded_with_its_notebook(workspace, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(workspace / "02-antrea-native-policies.ipynb"))
    monkeypatch.chdir(workspace.parent)  # found through the notebook's path, not the cwd
    conclude(CheckResult("Exercise 2", False, problems=["x"]))
    conclude(CheckResult("Exercise 2", True))
    records = read_records(workspace)
    assert [(r["notebook"], r["exercise"], r["passed"], r["learner"]) for r in records] == [
        ("02-antrea-native-policies", "Exercise 2", False, "alice"),
        ("02-antrea-native-policies", "Exercise 2", True, "alice")]


def test_nothing_is_recorded_outside_a_workspace_or_when_switched_off(workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert record_check(CheckResult("Exercise 0", True)) is None
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("LABKIT_PROGRESS", "off")
    assert record_check(CheckResult("Exercise 0", True)) is None
    assert read_records(workspace) == []


def test_concurrent_kernels_never_interleave_records(workspace, monkeypatch):
    monkeypatch.chdir(workspace)

    def writer(n: int) -> None:
        for i in range(200):
            record_check(CheckResult(f"Exercise {n}", i % 2 == 0, summary="x" * 500), notebook="01-x.ipynb")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (workspace / ".labkit" / "progress.jsonl").read_text().splitlines()
    assert len(lines) == 800 and all(json.loads(line)["notebook"] == "01-x" for line in lines)


def test_the_exercises_come_from_the_notebooks_check_cells():
    assert notebook_exercises(NOTEBOOKS / "01-kubernetes-networkpolicy.ipynb") == ["Exercise 1, TCP/80",
                                                                                   "Exercise 1, TCP/81"]
    assert notebook_exercises(NOTEBOOKS / "05-flow-visibility.ipynb") == [
        "Recommended K8s policies", "Exercise 5, least privilege", "Exercise 5, rejected probes"]
    for notebook in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        assert notebook_exercises(notebook), f"{notebook.name}: no check with a title"


def test_the_board_has_a_row_per_learner_and_exercise(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_PROGRESS", raising=False)
    spaces = {}
    for who in ("alice", "bob"):
        spaces[who] = tmp_path / who
        init_workspace(spaces[who], learner=who)
    monkeypatch.setenv("LABKIT_USER", "alice")
    for passed in (False, False, True):
        record_check(CheckResult("Exercise 2", passed), workspace=spaces["alice"], notebook="02-antrea-native-policies")
    monkeypatch.setenv("LABKIT_USER", "bob")
    record_check(CheckResult("Exercise 2", False), workspace=spaces["bob"], notebook="02-antrea-native-policies")
    frame = progress_frame(spaces.values())
    per_learner = frame.groupby("learner").size()
    assert per_learner["alice"] == per_learner["bob"] == 18  # every check of the ten notebooks (00-09)
    ex2 = frame[frame.exercise == "Exercise 2"].set_index("learner")
    assert ex2.loc["alice", "state"] == "passed" and ex2.loc["alice", "attempts"] == 3
    assert ex2.loc["alice", "passed_at"] and ex2.loc["alice", "passed_at"] >= ex2.loc["alice", "first_attempt"]
    assert ex2.loc["bob", "state"] == "not yet" and ex2.loc["bob", "attempts"] == 1 and not ex2.loc["bob", "passed_at"]
    assert set(frame[frame.exercise == "Exercise 0"].state) == {"not tried"}
    table = board_table(frame)
    assert table.splitlines()[0].split()[:4] == ["LEARNER", "NOTEBOOK", "EXERCISE", "STATE"]
    html = board_html(frame)
    assert html.count("data-state='passed'") == 1 and html.count("data-state='not yet'") == 1
    with pytest.raises(NotFoundError, match="not a labkit workspace"):
        progress_frame([tmp_path / "nobody"])


def test_a_torn_last_line_is_skipped(workspace):
    record_check(CheckResult("Exercise 0", True), workspace=workspace, notebook="00-start-here")
    with (workspace / ".labkit" / "progress.jsonl").open("a") as f:
        f.write('{"time": "2026-')
    assert len(read_records(workspace)) == 1


def test_a_copied_workspace_keeps_its_learner(workspace, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(workspace, copy)
    assert set(progress_frame([copy]).learner) == {"alice"}
