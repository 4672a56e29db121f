"""Notebook 07 with its real-capture cells switched on (root): real WireGuard, IPsec and clear tunnels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.encryption.testbed import available

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_notebook_07_captures_real_traffic(tmp_path, monkeypatch):
    ok, why = available("wireGuard")
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and real WireGuard cannot run: {why}")
        pytest.skip(f"real WireGuard unavailable: {why}")
    spec = tmp_path / "data" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                                           "{connection_file}"], "language": "python",
                                                  "display_name": "labkit venv"}))
    for var, sub in (("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("LABKIT_STATE_DIR", "state")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    nb = nbformat.read(NOTEBOOKS / "07-encryption.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    # BACKEND stays "sim" for the lab (the ovs backend is built elsewhere); the capture cells run for real
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell("SOLVE = True\nREAL_CAPTURE = True"))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "wireguard-go (stand-in for the kernel module)" in text and "Handshake Initiation" in text
    assert "skipped" not in text
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    # the kernel (now shut down) named its namespaces lkenc-<its pid>-...: none may outlive it
    assert not [line for line in listed.splitlines() if line.startswith("lkenc-")
                and not _owner_alive(line.split()[0])], "a notebook run left namespaces behind"


def _owner_alive(ns: str) -> bool:
    pid = ns.removeprefix("lkenc-").split("-", 1)[0]
    return pid.isdigit() and Path(f"/proc/{pid}").exists()
