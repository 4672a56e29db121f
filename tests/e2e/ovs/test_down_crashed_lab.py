"""``labkit down --name X`` after X's process crashed (issue 14): it used to print "removed" and
leave X's namespaces, daemons and registry entry; now it sweeps X's leftovers as ``down --all``
would, and only X's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labkit.backends.ovs.sweep import REGISTRY_DIR
from ovs_support import assert_no_leaks, lab_namespaces, live_processes, require_ovs
from test_ovs_backend import kill_lab_process


def test_down_name_cleans_a_crashed_notebook_lab():
    require_ovs()
    # $LABKIT_STATE_DIR: a notebook's Lab keeps its state in <root>/<name>. Short, because OVS's
    # management sockets live under it and AF_UNIX paths are at most 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="lkdn"))
    name, other = f"dn{os.getpid() % 10000}", f"dm{os.getpid() % 10000}"
    kill_lab_process(name, root / name)
    kill_lab_process(other, root / other)
    try:
        assert lab_namespaces(name) and live_processes(str(root / name)) and (REGISTRY_DIR / f"{name}.json").exists()
        assert not (root / name / "lab.json").exists(), "a notebook's lab has no lab.json: only the CLI writes one"
        cli = subprocess.run([sys.executable, "-m", "labkit.cli", "down", "--name", name], capture_output=True,
                             text=True, timeout=120, env={**os.environ, "LABKIT_STATE_DIR": str(root)})
        assert cli.returncode == 0, cli.stderr
        assert "swept" in cli.stdout and f"lab {name!r} removed" in cli.stdout, cli.stdout
        assert_no_leaks(name, root / name)
        assert not (REGISTRY_DIR / f"{name}.json").exists() and not (root / name).exists()
        assert lab_namespaces(other), "another crashed lab is not touched by down --name"
    finally:
        subprocess.run([sys.executable, "-m", "labkit.cli", "down", "--name", other], capture_output=True, timeout=120,
                       env={**os.environ, "LABKIT_STATE_DIR": str(root)})
    assert_no_leaks(other, root / other)
    shutil.rmtree(root, ignore_errors=True)
