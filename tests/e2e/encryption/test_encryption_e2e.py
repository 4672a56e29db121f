"""Real encryption between network namespaces: what crosses the underlay, and nothing left behind.

Two node namespaces joined by a veth "underlay" (10.250.0.1 <-> 10.250.0.2, addresses that exist only
inside them), a pod namespace behind each, an HTTP GET pod1 -> pod2 while tshark captures the
underlay. Needs root, tshark, and per mode wireguard-go or strongSwan; without them the tests skip
and say what is missing; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labkit.encryption import capture_table, dissect, read_pcap
from labkit.encryption.testbed import UNDERLAY, Testbed, available
from labkit.encryption.wireguard import NodeEndpoint, WireGuardMesh
from labkit.errors import CommandError

pytestmark = [pytest.mark.root]


def require(mode: str) -> None:
    ok, why = available(mode)
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and real {mode} cannot run: {why}")
        pytest.skip(f"real {mode} unavailable: {why}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1].split()[0] != "Z"


def assert_nothing_left(namespaces: list[str], pids: list[int], ifnames: list[str] = ()) -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert not [ns for ns in namespaces if ns in listed.split()], "namespaces left behind"
    assert not [pid for pid in pids if _alive(pid)], "processes left behind"
    assert not [n for n in ifnames if Path(f"/var/run/wireguard/{n}.sock").exists()], "UAPI sockets left behind"
    running = subprocess.run(["pgrep", "-af", "wireguard-go"], capture_output=True, text=True, check=False).stdout
    assert not [n for n in ifnames if n in running], "wireguard-go left running"


def _run_http(bed: Testbed, name: str):
    bed.serve_http()
    with bed.capture(name) as cap:
        body = bed.http_get()
    assert bed.secret in body, "the GET did not go through"
    return cap


def test_wireguard_underlay_carries_only_wireguard_between_node_ips():
    require("wireGuard")
    with Testbed("wireGuard") as bed:
        namespaces, pids = list(bed.ns.values()), list(bed.mesh.pids.values())
        ifnames = list(bed.mesh.interfaces.values())
        assert len(pids) == 2 and all(len(n) <= 15 for n in ifnames)
        cap = _run_http(bed, "wg")
        raw = cap.raw()
        assert bed.secret.encode() not in raw and b"GET /secret.txt" not in raw
        records = read_pcap(cap.path)[1]
        assert len(records) >= 6
        for rec in records:
            d = dissect(rec.data)
            assert d.names == ["eth", "ip", "udp", "wg"], d.names
            ip, udp = d.layers[1].fields, d.layers[2].fields
            assert {ip["src"], ip["dst"]} == set(UNDERLAY) and udp["sport"] == udp["dport"] == 51820
        info = " ".join(capture_table(cap.path)["info"])
        assert "Handshake Initiation" in info and "Transport Data" in info
        peers = bed.mesh.show()
        assert set(peers.allowed_ips) == {"10.251.1.0/24", "10.251.2.0/24"} and (peers.rx_bytes > 0).all()
    assert_nothing_left(namespaces, pids, ifnames)


def test_clear_tunnel_baseline_shows_the_http_text():
    require("none")
    with Testbed("none") as bed:
        namespaces = list(bed.ns.values())
        cap = _run_http(bed, "clear")
        assert bed.secret.encode() in cap.raw()
        table = capture_table(cap.path)
        assert "GET /secret.txt HTTP/1.1" in " ".join(table["info"])
        assert {"10.251.1.2", "10.251.2.2"} <= set(table.src)
        tunnel = {"geneve": "geneve", "vxlan": "vxlan"}[bed.tunnel_type]
        assert all(tunnel in layers for layers in table.layers)
    assert_nothing_left(namespaces, [])


def test_ipsec_underlay_carries_only_esp():
    require("ipsec")
    with Testbed("ipsec") as bed:
        namespaces, pids = list(bed.ns.values()), list(bed.mesh.pids.values())
        cap = _run_http(bed, "esp")
        assert bed.secret.encode() not in cap.raw()
        for rec in read_pcap(cap.path)[1]:
            d = dissect(rec.data)
            assert d.names == ["eth", "ip", "udp", "esp"], d.names  # RFC 3948 ESP-in-UDP (kernel-libipsec)
            assert d.layers[2].fields["dport"] == 4500
        sas = bed.mesh.show()
        assert set(sas.child_state) == {"INSTALLED"} and set(sas.cipher) == {"AES_GCM_16-256"}
    assert_nothing_left(namespaces, pids)


def test_a_failed_mesh_start_cleans_up_what_it_started():
    require("wireGuard")
    bed = Testbed("none").start()  # namespaces only; the mesh below is ours
    try:
        nodes = [NodeEndpoint("good", bed.ns["n1"], UNDERLAY[0], "10.251.1.0/24"),
                 NodeEndpoint("bad", "lkenc-does-not-exist", UNDERLAY[1], "10.251.2.0/24")]
        mesh = WireGuardMesh(nodes, lab_id=f"fail{os.getpid()}")
        with pytest.raises(CommandError, match="lkenc-does-not-exist"):
            mesh.start()
        assert mesh.pids == {} and not mesh.running
        assert_nothing_left([], [], list(mesh.interfaces.values()))
    finally:
        bed.stop()
    assert_nothing_left(list(bed.ns.values()), [])
