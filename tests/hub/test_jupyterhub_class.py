"""A class on JupyterHub (issue 14, item 4), end to end: the hub of ``deploy/jupyterhub/`` on
127.0.0.1 and random free ports, three learners and a trainer.

The three arrive together: their servers spawn at once, each on their own workspace (``labkit
course init`` before the spawn), and the three run notebook 02 at the same time, each in a kernel
of their server, cell by cell as Run All does, and only alice solves it;
every cell runs in all three (checks report, they do not halt). The trainer logs in through the
form, opens the trainer page (a hub-managed service, behind the hub's OAuth) and the board shows
exactly that: alice passed Exercise 2 at her first attempt, bob and carol have it "not yet"; a
learner is refused the page. Then the hub stops and takes every process it started with it.

Runtime: about 40 s one learner after the other (hub start ~3 s, three spawns, three kernels running
notebook 02), about 30 s as they run here, together.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub_support import Hub, missing

pytestmark = pytest.mark.slow


@pytest.fixture
def hub(tmp_path):
    why = missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the JupyterHub test cannot run on CI: {why}")
        pytest.skip(why)
    class_hub = Hub(tmp_path / "hub", learners=["alice", "bob", "carol"]).start()
    try:
        yield class_hub
    finally:
        took = class_hub.stop()
        print(f"hub stopped in {took:.1f} s")
    assert class_hub.leftover_pids == [], f"the hub left processes behind: {class_hub.leftover_pids}"


def test_three_learners_run_notebook_02_and_the_trainer_sees_exactly_that(hub):
    # The class arrives at once: three servers spawned together, then the three run 02 together.
    with ThreadPoolExecutor(max_workers=len(hub.learners)) as pool:
        for name, seconds in zip(hub.learners, pool.map(hub.spawn, hub.learners)):
            print(f"{name}'s server ready in {seconds:.1f} s")
            workspace = hub.directory / "homes" / name / "labkit-course"
            assert (workspace / "02-antrea-native-policies.ipynb").exists() and (workspace / ".labkit").is_dir()

        def run(name: str):
            return hub.run_notebook(name, "02-antrea-native-policies.ipynb",
                                    {"SOLVE": True} if name == "alice" else None, then="print(lab.name)")

        runs = dict(zip(hub.learners, pool.map(run, hub.learners)))
    for name, run_ in runs.items():
        print(f"{name}: notebook 02 in {run_.seconds:.1f} s")
    notebook = json.loads((hub.directory / "homes" / "bob" / "labkit-course" / "02-antrea-native-policies.ipynb").read_text())
    code_cells = sum(1 for cell in notebook["cells"] if cell["cell_type"] == "code")
    for name, run in runs.items():
        assert not run.errors, f"{name}: {run.errors}"
        assert run.executed == code_cells + (name == "alice") + 1, f"{name}: every code cell ran (and alice's SOLVE cell)"
    assert "Exercise 2: passed" in runs["alice"].text()
    for name in ("bob", "carol"):
        assert "Exercise 2: not yet" in runs[name].text() and "Exercise 2: passed" not in runs[name].text()
    # Lab names are the learners' own (notebooks call lab_name("antrea")): no clash on one machine.
    assert [o["text"] for o in runs["bob"].outputs if o.get("name") == "stdout"][-1] == "antrea-bob\n"
    assert [o["text"] for o in runs["alice"].outputs if o.get("name") == "stdout"][-1] == "antrea-alice\n"

    trainer = hub.login("trainer", hub.trainer_password)
    page = trainer.get(f"{hub.url}/services/trainer-board/", timeout=30)
    assert page.status_code == 200 and "labkit-board" in page.text and "signed in as trainer" in page.text
    rows = trainer.get(f"{hub.url}/services/trainer-board/progress.json", timeout=30).json()
    board = {(r["learner"], r["notebook"], r["exercise"]): r for r in rows}
    assert {learner for learner, _, _ in board} == {"alice", "bob", "carol"}
    exercise = "02-antrea-native-policies", "Exercise 2"
    assert (board[("alice", *exercise)]["state"], board[("alice", *exercise)]["attempts"]) == ("passed", 1)
    for name in ("bob", "carol"):
        assert (board[(name, *exercise)]["state"], board[(name, *exercise)]["attempts"]) == ("not yet", 1)
    others = [r for key, r in board.items() if key[1:] != exercise]
    assert others and all(r["state"] == "not tried" and r["attempts"] == 0 for r in others), "nothing else ran"
    assert page.text.count("data-state='passed'") == 1 and page.text.count("data-state='not yet'") == 2

    alice = hub.login("alice", hub.password)
    assert alice.get(f"{hub.url}/services/trainer-board/", timeout=30).status_code == 403
    with pytest.raises(PermissionError):
        hub.login("trainer", hub.password)  # the learners' password does not open the trainer's account
    with pytest.raises(PermissionError):
        hub.login("mallory", hub.password)  # not on the roster
