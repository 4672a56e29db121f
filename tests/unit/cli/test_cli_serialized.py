"""Two ``labkit`` commands on one lab take turns (each loads lab.json, changes the lab and saves it):
run at once, both changes survive. Without the per-lab command lock the second save overwrote the
first (a lost update) on sim, and two ovs rebuilds collided in ovsdb-tool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p{i}, namespace: x}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
"""


def test_concurrent_applies_on_one_lab_lose_nothing(labkit, tmp_path):
    labkit("up", "--profile", "workshop")
    env = {**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "state")}
    procs = [subprocess.Popen([sys.executable, "-m", "labkit.cli", "apply", "-f", "-"], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(8)]
    for i, proc in enumerate(procs):
        proc.stdin.write(POLICY.format(i=i))
        proc.stdin.close()
    results = [(proc.wait(120), proc.stderr.read()) for proc in procs]
    assert [code for code, _ in results] == [0] * 8, results
    saved = json.loads((tmp_path / "state" / "lab" / "lab.json").read_text())
    names = {m["metadata"]["name"] for m in saved["manifests"] if m.get("kind") == "NetworkPolicy"}
    assert names == {f"p{i}" for i in range(8)}  # without the lock, 1 to 5 of 8 survived
    assert any("waiting for another labkit command on lab 'lab'" in err for _, err in results), results
    assert "p7" in labkit("get", "netpol", "-n", "x").stdout
