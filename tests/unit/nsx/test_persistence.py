"""State survives a restart; the `labkit nsx serve` entry point runs and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from labkit.nsx.manager import NSXManagerServer
from labkit.nsx.manager.server import DEFAULT_ADMIN_PASSWORD

from .conftest import CCPS, GROUPS, POLICIES, antrea_group, cond

ROOT = Path(__file__).resolve().parents[3]


def test_restart_on_the_same_state_dir_keeps_objects_and_identities(tmp_path):
    state = tmp_path / "nsx"
    with NSXManagerServer(state) as first:
        admin = first.client()
        cert = first.issue_client_cert("lab-cluster-1", key_type="ec")
        admin.create_principal_identity("lab-cluster-1", cert.cert_pem)
        pi = first.client(cert_path=cert.cert_path, key_path=cert.key_path)
        node_id = pi.register_cluster("lab-cluster-1", cert.cert_pem)["node_id"]
        admin.patch(f"{GROUPS}/web", antrea_group(cond("Pod", "Tag", "app|web")))
        rule_id = admin.patch(f"{POLICIES}/p", {"rules": [{"id": "r"}]})["rules"][0]["rule_id"]
        ca_pem = first.ca_path.read_text()
    with NSXManagerServer(state) as second:
        assert second.ca_path.read_text() == ca_pem
        admin = second.client()
        assert admin.get(f"{GROUPS}/web")["_revision"] == 0
        assert admin.get(f"{POLICIES}/p")["rules"][0]["rule_id"] == rule_id
        pi = second.client(cert_path=cert.cert_path, key_path=cert.key_path)
        assert pi.get(f"{CCPS}/lab-cluster-1")["node_id"] == node_id
        # rule ids keep counting from where they were
        assert admin.patch(f"{POLICIES}/p", {"rules": [{"id": "r2"}]})["rules"][1]["rule_id"] > rule_id


def test_stop_is_idempotent_and_closes_keep_alive_connections(tmp_path):
    server = NSXManagerServer(tmp_path).start()
    with requests.Session() as session:
        session.trust_env = False
        session.get(f"{server.url}/api/v1/node", auth=("admin", DEFAULT_ADMIN_PASSWORD),
                    verify=str(server.ca_path))
        server.stop()
    server.stop()
    assert not server.running


def test_serve_cli_prints_where_and_stops_on_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from labkit.nsx.manager.server import serve; sys.exit(serve(sys.argv[1:]))",
         "serve", "--state-dir", str(tmp_path / "state"), "--admin-password", "Secret1!Secret1!"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        lines = []
        while not any(line.startswith("press Ctrl-C") for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        url = lines[0].split()[-1]
        assert url.startswith("https://127.0.0.1:")
        assert any("admin / Secret1!Secret1!" in line for line in lines)
        ca = tmp_path / "state" / "ca.crt"
        r = requests.get(f"{url}/api/v1/node/version", auth=("admin", "Secret1!Secret1!"), verify=str(ca))
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
