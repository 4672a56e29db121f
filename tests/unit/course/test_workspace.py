"""Learner workspaces (``labkit course init``): a copy of the course that updates never eat.

Each nbgitpuller case (docs/topic/automatic-merging.md) is one test, on a real copy of the course.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from labkit.course.workspace import (course_files, fingerprint, init_workspace, is_workspace, nbgitpuller_url,
                                     read_manifest)
from labkit.errors import LabkitError, NotFoundError

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"


@pytest.fixture
def course(tmp_path) -> Path:
    """A course directory the test may change, as a trainer publishing a new version would."""
    root = tmp_path / "course"
    shutil.copytree(NOTEBOOKS, root)
    return root


def edit_source(path: Path, cell_id: str, text: str) -> None:
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if c.id == cell_id).source = text
    nbformat.write(nb, path)


def test_init_copies_the_course_and_the_files_it_reads(course, tmp_path):
    (course / "trainer").mkdir(exist_ok=True)
    (course / "trainer" / "board.ipynb").write_text("{}")
    (course / ".ipynb_checkpoints").mkdir()
    (course / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    ws = tmp_path / "alice"
    report = init_workspace(ws, course=course, learner="alice")
    assert report.created and is_workspace(ws)
    assert (ws / "00-start-here.ipynb").read_bytes() == (course / "00-start-here.ipynb").read_bytes()
    assert (ws / "policies" / "00-default-deny-x.yaml").exists() and (ws / "solutions" / "03-blocked-by.txt").exists()
    assert not (ws / "trainer").exists() and not (ws / ".ipynb_checkpoints").exists()
    manifest = read_manifest(ws)
    assert manifest["learner"] == "alice" and set(manifest["files"]) == set(course_files(course))
    count = len(list(course.glob("[0-9][0-9]-*.ipynb")))
    assert count >= 10 and f"{count} notebooks" in str(report)


def test_running_cells_is_not_touching_and_a_fix_reaches_the_learner(course, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, course=course, learner="a")
    ran = nbformat.read(ws / "02-antrea-native-policies.ipynb", as_version=4)  # outputs, as after Run All
    ran.cells[4].outputs = [nbformat.v4.new_output("stream", text="hello")]
    ran.cells[4].execution_count = 3
    nbformat.write(ran, ws / "02-antrea-native-policies.ipynb")
    edit_source(course / "02-antrea-native-policies.ipynb", "s02-07", "lab.get('tiers')  # fixed upstream")
    report = init_workspace(ws, course=course)
    assert report.updated == ["02-antrea-native-policies.ipynb"] and not report.kept
    assert "fixed upstream" in (ws / "02-antrea-native-policies.ipynb").read_text()


def test_the_learners_changes_are_kept_and_reset_takes_the_course_version(course, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, course=course, learner="a")
    edit_source(ws / "01-kubernetes-networkpolicy.ipynb", "s01-23", "session.apply('my answer')")  # the learner
    edit_source(course / "01-kubernetes-networkpolicy.ipynb", "s01-08", "lab.explain('y/a', 'x/b')  # new")
    report = init_workspace(ws, course=course)
    assert report.kept == ["01-kubernetes-networkpolicy.ipynb"] and not report.updated
    assert "my answer" in (ws / "01-kubernetes-networkpolicy.ipynb").read_text()
    assert "--reset 01-kubernetes-networkpolicy.ipynb" in str(report)
    assert init_workspace(ws, course=course).kept == ["01-kubernetes-networkpolicy.ipynb"]  # still theirs

    report = init_workspace(ws, course=course, reset=["01"])
    assert report.reset == ["01-kubernetes-networkpolicy.ipynb"]
    text = (ws / "01-kubernetes-networkpolicy.ipynb").read_text()
    assert "# new" in text and "my answer" not in text
    (backup,) = report.backups
    assert "my answer" in (ws / backup).read_text() and backup.startswith(".labkit/backups/")
    assert init_workspace(ws, course=course).lines()[1:] == ["  up to date"]


def test_a_deleted_file_comes_back_and_new_course_files_are_added(course, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, course=course, learner="a")
    (ws / "03-tiers-and-troubleshooting.ipynb").unlink()
    (course / "policies" / "09-new.yaml").write_text("# new upstream file\n")
    report = init_workspace(ws, course=course)
    assert report.restored == ["03-tiers-and-troubleshooting.ipynb"]
    assert report.added == ["policies/09-new.yaml"] and (ws / "policies" / "09-new.yaml").exists()


def test_the_learners_own_file_of_a_new_course_name_is_renamed_as_nbgitpuller_does(course, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, course=course, learner="a")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# mine")]), ws / "notes.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# the course's")]),
                   course / "notes.ipynb")
    report = init_workspace(ws, course=course)
    ((old, moved),) = report.renamed
    assert old == "notes.ipynb" and moved.startswith("notes__") and moved.endswith(".ipynb")
    assert len(moved) == len("notes__20261207092613.ipynb")
    assert "# mine" in (ws / moved).read_text() and "# mine" not in (ws / "notes.ipynb").read_text()


def test_files_gone_from_the_course_are_removed_only_if_untouched(course, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, course=course, learner="a")
    (ws / "solutions" / "03-exception.yaml").write_text("# my notes\n")
    (course / "solutions" / "03-exception.yaml").unlink()
    (course / "solutions" / "03-blocked-by.txt").unlink()
    report = init_workspace(ws, course=course)
    assert report.removed == ["solutions/03-blocked-by.txt"]
    assert (ws / "solutions" / "03-exception.yaml").read_text() == "# my notes\n"
    assert "solutions/03-exception.yaml" not in read_manifest(ws)["files"]


def test_init_refuses_what_would_lose_work_or_pollute_the_checkout(course, tmp_path):
    with pytest.raises(LabkitError, match="inside the course"):
        init_workspace(course / "ws", course=course)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    shutil.copy(course / "00-start-here.ipynb", stranger)
    with pytest.raises(LabkitError, match="not empty and not a labkit workspace"):
        init_workspace(stranger, course=course)
    ws = tmp_path / "ws"
    init_workspace(ws, course=course)
    with pytest.raises(NotFoundError, match="course notebooks: 00-start-here"):
        init_workspace(ws, course=course, reset=["99"])
    with pytest.raises(NotFoundError, match="several"):
        init_workspace(ws, course=course, reset=["0"])


def test_fingerprint_ignores_outputs_but_not_sources(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "a.ipynb")
    before = fingerprint(tmp_path / "a.ipynb")
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]
    nb.metadata["widgets"] = {"state": {}}
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert fingerprint(tmp_path / "a.ipynb") == before
    nb.cells[0].source = "x = 2"
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert fingerprint(tmp_path / "a.ipynb") != before


def test_nbgitpuller_link():
    url = nbgitpuller_url("https://hub.example.org/", "https://git.example.org/labkit.git", branch="v1",
                          notebook="notebooks/02-antrea-native-policies.ipynb", targetpath="course")
    assert url == ("https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A//git.example.org/labkit.git"
                   "&branch=v1&targetpath=course&urlpath=lab/tree/course/notebooks/02-antrea-native-policies.ipynb")
    with pytest.raises(LabkitError) as info:
        nbgitpuller_url("hub.example.org", "a b", branch="x..y", notebook="../x.py")
    assert all(opt in str(info.value) for opt in ("--hub", "--repo", "--branch", "--notebook"))
