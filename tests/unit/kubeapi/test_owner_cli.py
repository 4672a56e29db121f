"""``labkit up --kube-api``: a background owner holds the lab; kubectl and labkit change the same objects."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.owner import read_record, sweep
from labkit.testing import Kubectl

ROOT = Path(__file__).resolve().parents[3]
ACNP = ('{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterNetworkPolicy","metadata":{"name":"deny-x"},'
        '"spec":{"priority":5,"appliedTo":[{"namespaceSelector":{"matchLabels":{"ns":"x"}}}],'
        '"ingress":[{"action":"Drop","name":"all"}]}}')


@pytest.fixture()
def labkit(tmp_path):
    env = {**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "state")}

    def run(*args, stdin=None, ok=True):
        proc = subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, env=env,
                              input=stdin, timeout=120, cwd=ROOT)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc
    yield run
    for directory in (tmp_path / "state").glob("*"):
        run("down", "--name", directory.name, ok=False)


def gone(pid, timeout_s=15):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            return True
        time.sleep(0.1)
    return False


def test_kubectl_and_labkit_share_one_live_lab(labkit, kubectl_bin, tmp_path):
    up = labkit("up", "--name", "shared", "--profile", "workshop", "--kube-api").stdout
    kubeconfig = labkit("kubeconfig", "--name", "shared").stdout.strip()
    assert f"export KUBECONFIG={kubeconfig}" in up
    record = read_record(tmp_path / "state" / "shared")
    assert record.alive() and oct(os.stat(record.socket).st_mode)[-3:] == "600"
    kubectl = Kubectl(kubeconfig, tmp_path / "cache", kubectl_bin)
    kubectl("apply", "-f", "-", stdin=ACNP)
    matrix = json.loads(labkit("matrix", "--name", "shared", "-o", "json").stdout)
    x_b = matrix["destinations"].index("x/b")
    assert matrix["cells"][matrix["sources"].index("y/a")][x_b] == "drop"   # at once, no resync
    assert "deny-x" in labkit("get", "acnp", "--name", "shared").stdout
    labkit("label", "--name", "shared", "x/a", "tier=fe")
    assert kubectl("get", "pod", "a", "-n", "x", "-o", "jsonpath={.metadata.labels.tier}").stdout == "fe"
    labkit("delete", "--name", "shared", "acnp/deny-x")
    assert "No resources found" in kubectl("get", "acnp").stderr
    labkit("apply", "--name", "shared", "-f", "-", stdin=ACNP)
    assert kubectl("get", "acnp", "-o", "name").stdout.strip() == "clusternetworkpolicy.crd.antrea.io/deny-x"
    assert "kube_api:" in labkit("status", "--name", "shared").stdout
    lab_json = json.loads((tmp_path / "state" / "shared" / "lab.json").read_text())
    time.sleep(1.5)  # the owner saves lab.json after changes (watchdog period 1 s)
    lab_json = json.loads((tmp_path / "state" / "shared" / "lab.json").read_text())
    assert any(m["metadata"]["name"] == "deny-x" for m in lab_json["manifests"])
    labkit("down", "--name", "shared")
    assert gone(record.pid) and not (tmp_path / "state" / "shared").exists()
    assert kubectl("get", "pods", ok=False).returncode != 0  # the endpoint went with its owner


def test_a_dead_owner_is_reported_and_swept(labkit, tmp_path):
    labkit("up", "--name", "doomed", "--kube-api")
    record = read_record(tmp_path / "state" / "doomed")
    os.kill(record.pid, signal.SIGKILL)
    assert gone(record.pid)
    proc = labkit("matrix", "--name", "doomed", ok=False)
    assert proc.returncode == 1 and "is not running any more" in proc.stderr and "labkit down" in proc.stderr
    assert "Traceback" not in proc.stderr
    labkit("down", "--name", "doomed")
    labkit("up", "--name", "hung", "--kube-api")
    record = read_record(tmp_path / "state" / "hung")
    os.kill(record.pid, signal.SIGSTOP)  # a hung owner: its watchdog cannot notice the state going
    import shutil

    shutil.rmtree(tmp_path / "state" / "hung")
    assert sweep(tmp_path / "state") == [record.pid]
    assert gone(record.pid)


def test_kubeconfig_without_an_owner_says_how_to_get_one(labkit):
    labkit("up", "--name", "plain")
    proc = labkit("kubeconfig", "--name", "plain", ok=False)
    assert proc.returncode == 1 and "labkit up --name plain --kube-api" in proc.stderr
