"""Issue 6's fault test: kill the NSX mock (SIGKILL, a real separate process) in the middle of an
adapter sync, start it again on the same state directory and port: the adapter recovers on its next
pass, and nothing acknowledged is lost or duplicated. Also: secrets never reach the logs.

The adapter must resync after restarts of either side (issue 6; docs/nsx-adapter.md). labkit's
adapter records its last reported inventory only once a push fully succeeded, so an interrupted
push is redone as the same diff; the mock stores a CREATE of an object it already holds as a
replacement, so re-sent batches neither fail nor duplicate anything.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from labkit import Lab
from labkit.nsx import NSXAdapter, NSXClient
from labkit.nsx.manager.errors import NSXUnreachable
from labkit.nsx.manager.server import DEFAULT_ADMIN_PASSWORD

from .conftest import GROUPS, POLICIES, cond

FABRIC = "/api/v1/fabric"
G = "/infra/domains/default/groups/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MockProcess:
    """``labkit nsx serve`` in its own process (so it can be SIGKILLed), on a fixed port."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir, self.port = state_dir, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> MockProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.nsx.manager.server", "--state-dir", str(self.state_dir), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        for line in self.proc.stdout:  # "press Ctrl-C to stop" once it serves
            if "press Ctrl-C" in line:
                return self
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"the NSX mock did not start (exit {self.proc.poll()})")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.state_dir / "ca.crt"


@pytest.fixture
def mock(tmp_path: Path):
    process = MockProcess(tmp_path / "nsx", _free_port()).start()
    try:
        yield process
    finally:
        process.stop()


def _inventory(admin: NSXClient, cluster_id: str) -> dict[str, list[str]]:
    mine = {"container_cluster_id": cluster_id}
    ns = {p["id"]: p["display_name"] for p in admin.list_all(f"{FABRIC}/container-projects", **mine)}
    pods = admin.list_all(f"{FABRIC}/container-application-instances", **mine)
    return {"namespaces": sorted(ns.values()),
            "pods": sorted(f"{ns[p['container_project_id']]}/{p['display_name']}" for p in pods),
            "labels": sorted(f"{ns[p['container_project_id']]}/{p['display_name']}:{t['scope']}={t['tag']}"
                             for p in pods for t in p.get("tags", []))}


def _lab_inventory(lab: Lab) -> dict[str, list[str]]:
    return {"namespaces": sorted(n.name for n in lab.state.namespaces),
            "pods": sorted(p.key for p in lab.state.pods),
            "labels": sorted(f"{p.key}:dis:k8s:{k}={v}" for p in lab.state.pods for k, v in p.labels.items())}


def test_mock_killed_mid_sync_then_restarted_the_adapter_recovers(mock: MockProcess, tmp_path: Path):
    with Lab(profile="workshop", name="faults", state_dir=tmp_path / "lab") as lab:
        admin = NSXClient(mock.url, username="admin", password=DEFAULT_ADMIN_PASSWORD, ca_path=mock.ca_path)
        adapter = NSXAdapter(lab, admin, ca_path=mock.ca_path, cert_dir=tmp_path / "cert", key_type="ec",
                             batch_size=2)
        try:
            cluster_id = adapter.register()
            for ns in "xy":
                admin.patch(f"{GROUPS}/ns-{ns}", {"group_type": ["ANTREA"], "expression": [cond("Namespace", "Name", ns)]})
            admin.patch(f"{POLICIES}/protect-x", {"category": "Application", "scope": [adapter.ccp_path], "rules": [
                {"id": "allow-y", "source_groups": [G + "ns-y"], "scope": [G + "ns-x"], "action": "ALLOW",
                 "direction": "IN"},
                {"id": "drop-rest", "scope": [G + "ns-x"], "action": "DROP", "direction": "IN"}]})
            # The lab changes: 6 new pods, 3 relabelled, 1 deleted: 10 updates, 5 batches of 2.
            lab.apply([{"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"n{i}", "namespace": "z", "labels": {"pod": f"n{i}"}},
                        "spec": {"containers": [{"name": "c", "image": "agnhost"}]}} for i in range(6)])
            for key in ("x/a", "y/a", "z/a"):
                lab.label(key, tier="web")
            lab.delete("pod/y/c")

            batches: list[int] = []
            real_post = NSXClient.post

            def kill_after_two_batches(client: NSXClient, path: str, body: Any = None, **query: Any) -> Any:
                answer = real_post(client, path, body, **query)
                if "/inventory/container/" in path:
                    batches.append(len(body["container_inventory_objects"]))
                    if len(batches) == 2:
                        mock.kill()  # the mock acknowledged 2 batches, then dies mid-sync
                return answer

            NSXClient.post = kill_after_two_batches  # type: ignore[method-assign]
            try:
                with pytest.raises(NSXUnreachable, match="unreachable"):
                    adapter.sync()
            finally:
                NSXClient.post = real_post  # type: ignore[method-assign]
            assert batches == [2, 2]

            mock.start()  # same state directory, same port: what was acknowledged is there
            report = adapter.sync()
            assert report.inventory_updates >= 6  # the rest of the diff (possibly resending acknowledged ones)
            assert _inventory(admin, cluster_id) == _lab_inventory(lab)  # nothing lost, nothing duplicated
            # the policy realized before the kill is still there and realized
            status = admin.get("/policy/api/v1/infra/realized-state/status",
                               intent_path="/infra/domains/default/security-policies/protect-x")
            assert status["consolidated_status"]["consolidated_status"] == "SUCCESS"
            assert lab.reachability(port=80)["z/a", "x/a"] == "drop"
            # and the adapter keeps working: one more change goes through
            lab.label("z/n0", tier="db")
            assert adapter.sync().inventory_updates == 1
            assert _inventory(admin, cluster_id) == _lab_inventory(lab)
        finally:
            adapter.close()
            admin.close()


def test_secrets_never_reach_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    from labkit.nsx import NSXManagerServer

    caplog.set_level(logging.DEBUG)
    with Lab(profile="workshop", name="secrets", state_dir=tmp_path / "lab") as lab, \
            NSXManagerServer(tmp_path / "nsx", admin_password="S3cret-Passw0rd!") as nsx:
        admin = nsx.client()
        with NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=tmp_path / "cert", key_type="ec") as adapter:
            adapter.register()
            adapter.sync()
        with pytest.raises(Exception):
            nsx.client(password="Wr0ng-Passw0rd!").get("/api/v1/node")
        key_pem = next((tmp_path / "cert").glob("*.key")).read_text()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # the mock and the adapter did log (DEBUG)
    for secret in ("S3cret-Passw0rd!", "Wr0ng-Passw0rd!", "Authorization", "Basic ",
                   key_pem.splitlines()[1]):
        assert secret not in logged, f"{secret[:12]}... appears in the logs"
    assert os.environ.get("LABKIT_NSX_ADMIN_PASSWORD") != "S3cret-Passw0rd!"
