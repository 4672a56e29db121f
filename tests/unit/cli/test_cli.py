"""The labkit command, run as a real process, against a lab whose state persists between commands."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture()
def labkit(tmp_path):
    env = {**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "state")}

    def run(*args, stdin=None, ok=True):
        proc = subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True,
                              env=env, input=stdin, timeout=60)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc
    return run


def test_lifecycle_apply_matrix_explain_down(labkit, tmp_path):
    assert "9 pods" in labkit("up", "--profile", "workshop").stdout
    assert "already exists" in labkit("up", "--profile", "workshop", ok=False).stderr
    assert "netpol/x/deny-all created" in labkit("apply", "-f", "policies/deny-all.yaml").stdout
    matrix = labkit("matrix", "--port", "80", "-o", "json").stdout
    data = json.loads(matrix)
    row = data["cells"][data["sources"].index("y/a")]
    assert row[data["destinations"].index("x/a")] == "drop"
    assert row[data["destinations"].index("y/b")] == "allow"
    explain = json.loads(labkit("explain", "y/a", "x/b", "-o", "json").stdout)
    assert explain["verdict"] == "drop" and explain["ingress"]["stage"] == "k8s"
    assert "K8sNetworkPolicy:x/deny-all" in explain["ingress"]["isolated_by"]
    pods = labkit("get", "pods").stdout
    assert "10.244.1.2" in pods and "pod=a" in pods
    assert "deny-all" in labkit("get", "netpol").stdout
    assert "securityops" in labkit("get", "tiers").stdout
    assert "netpol/x/deny-all deleted" in labkit("delete", "netpol/x/deny-all").stdout
    assert "0 drop" in labkit("matrix").stdout
    assert "removed" in labkit("down").stdout
    assert "no lab" in labkit("status", ok=False).stderr


def test_bad_manifest_reports_every_problem_and_applies_nothing(labkit):
    labkit("up", "--profile", "workshop")
    bad = """apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: bad}
spec:
  priority: 1
  tier: baseline
  appliedTo: [{podSelector: {}}]
  ingress:
  - action: Pass
    ports: [{port: 90, endPort: 80}]
"""
    proc = labkit("apply", "-f", "-", stdin=bad, ok=False)
    assert proc.returncode == 1
    assert "2 problems; nothing was applied" in proc.stderr
    assert "<string>:9" in proc.stderr and "spec.ingress[0].action" in proc.stderr
    assert "spec.ingress[0].ports[0].endPort" in proc.stderr
    assert "No resources found." in labkit("get", "acnp").stdout
    assert "2 problems" in labkit("validate", "-f", "-", stdin=bad, ok=False).stderr


def test_label_changes_matrix(labkit):
    labkit("up", "--profile", "workshop")
    labkit("apply", "-f", "-", stdin="""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: drop-quarantined}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {quarantine: "true"}}}]
  ingress: [{action: Reject}]
""")
    assert "0 reject" in labkit("matrix").stdout
    labkit("label", "x/a", "quarantine=true")
    assert "8 reject" in labkit("matrix").stdout
    labkit("label", "x/a", "quarantine-")
    assert "0 reject" in labkit("matrix").stdout


def test_help_texts_explain_themselves(labkit):
    top = labkit("--help").stdout
    for command in ("up", "down", "apply", "delete", "get", "matrix", "explain", "validate", "status", "doctor", "lint"):
        assert command in top
        assert "usage: labkit " + command in labkit(command, "--help").stdout
    assert "sim" in labkit("doctor").stdout
