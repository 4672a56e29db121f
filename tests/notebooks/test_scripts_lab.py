"""``bash scripts/lab``, the README's one command, as a trainer runs it (issue 14, item 5): it makes
the learner's workspace, starts JupyterLab on it (as root with --allow-root, and says so), prints
the URL with its token, and a second launch skips pip (nothing changed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent  # this venv: scripts/lab reuses it (LABKIT_VENV)

pytestmark = pytest.mark.slow


def launch(tmp_path: Path) -> tuple[subprocess.Popen, str, list[str]]:
    env = {**os.environ, "LABKIT_VENV": str(VENV), "LABKIT_WORKSPACE": str(tmp_path / "ws"),
           "HOME": str(tmp_path / "home"), "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "jdata"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrun")}
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "lab"), "--no-browser"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip())
        found = re.search(r"labkit: open (http://127\.0\.0\.1:\d+/lab\?token=[0-9a-f]+)", line)
        if found:
            return proc, found.group(1), lines
    proc.kill()
    raise AssertionError("no URL printed:\n" + "\n".join(lines))


def serves(url: str, timeout_s: float = 60) -> requests.Response:
    base, token = url.split("/lab?token=")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            r = requests.get(f"{base}/api/contents", params={"token": token}, timeout=5)
            if r.status_code == 200:
                return r
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} does not answer")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # bash exec'd jupyter: this pid is the server
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_scripts_lab_serves_the_workspace_and_starts_fast_the_second_time(tmp_path):
    proc, url, lines = launch(tmp_path)
    try:
        listing = serves(url).json()
        names = {item["name"] for item in listing["content"]}
        assert "00-start-here.ipynb" in names and "policies" in names, names  # the workspace, not notebooks/
        assert (tmp_path / "ws" / ".labkit" / "workspace.json").exists()
        if os.geteuid() == 0:
            assert any("running as root: adding --allow-root" in line for line in lines), lines
        assert requests.get(url.split("/lab?")[0] + "/api/contents", timeout=5).status_code == 403, "no token, no lab"
    finally:
        stop(proc)
    (tmp_path / "ws" / "00-start-here.ipynb").write_text((tmp_path / "ws" / "00-start-here.ipynb").read_text()
                                                         .replace("Start here", "Start here (my notes)"))
    proc, url, lines = launch(tmp_path)
    try:
        serves(url)
        assert any("is up to date (pyproject.toml unchanged" in line for line in lines), lines
        assert not any("installing labkit" in line for line in lines), lines
        assert any("up to date" in line or "kept your changes" in line for line in lines)
        assert "(my notes)" in (tmp_path / "ws" / "00-start-here.ipynb").read_text(), "the learner's work is kept"
    finally:
        stop(proc)
