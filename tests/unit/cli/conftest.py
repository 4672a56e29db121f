"""The ``labkit`` fixture: run the command as a real process against a lab state private to the test."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def labkit(tmp_path):
    """``labkit(*args, stdin=None, ok=True)``: the finished process; ``ok`` asserts exit code 0."""
    env = {**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "state")}

    def run(*args, stdin=None, ok=True):
        proc = subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, env=env,
                              input=stdin, timeout=120, cwd=ROOT)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc
    return run
