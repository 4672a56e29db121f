"""trafficEncryptionMode on the ovs backend: real packets on the lab's underlay in every mode.

One workshop lab (3 nodes, 9 pods) goes none -> wireGuard -> ipsec -> none. In each mode a real
HTTP GET x/a (kind-worker) -> y/a (kind-worker2) is captured on the underlay bridge port of
kind-worker; the reachability matrix (with a policy) is measured and compared with the engine's.
Needs root, Open vSwitch, wireguard-go and strongSwan (kernel-libipsec); without them the tests
skip and say what is missing, with ``CI=true`` they fail. About 25 s on the project machine.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
from pathlib import Path

import pytest

from labkit import Lab
from labkit.encryption import dissect, read_pcap
from labkit.encryption.ipsec import available as ipsec_available
from labkit.encryption.wireguard import UAPI_DIR
from labkit.encryption.wireguard import available as wireguard_available
from labkit.errors import UnsupportedOperation

_spec = importlib.util.spec_from_file_location("ovs_support", Path(__file__).parents[1] / "ovs" / "ovs_support.py")
ovs_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ovs_conftest)

pytestmark = [pytest.mark.root, pytest.mark.slow]

POLICY = {  # y/a accepts only namespace x: the matrix must be the same in every mode
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "a-from-x", "namespace": "y"},
    "spec": {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}]}]},
}
SRC, DST = "x/a", "y/a"  # kind-worker -> kind-worker2


def _require(*checks) -> None:
    ovs_conftest.require_ovs()
    for check in checks:
        ok, why = check()
        if not ok:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true and real encryption cannot run: {why}")
            pytest.skip(f"real encryption unavailable: {why}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require(wireguard_available, ipsec_available)
    name = f"enc{os.getpid() % 10000}"
    state_dir = tmp_path_factory.mktemp("enc-ovs")
    lab = Lab(backend="ovs", profile="workshop", name=name, state_dir=state_dir)
    lab.apply(POLICY)
    try:
        yield lab
    finally:
        mesh = lab.backend.encryption.mesh  # the last test leaves wireGuard on: stop() must clean it up
        wg_names = list(mesh.interfaces.values()) if mesh is not None else []
        pids = list(mesh.pids.values()) if mesh is not None else []
        lab.stop()
        ovs_conftest.assert_no_leaks(name, state_dir)
        # no wireguard-go of this lab, no UAPI sockets (and so no TUN devices), no capture files
        assert not [p for p in pids if Path(f"/proc/{p}").exists()]
        assert not [n for n in wg_names if (UAPI_DIR / f"{n}.sock").exists()]
        assert not (state_dir / "ovs").exists()


def _udp_ports(frame: bytes) -> tuple[int, int] | None:
    d = dissect(frame)
    ip = d.find("ip")
    if ip is None or ip.fields["proto"] != 17:
        return None
    return struct.unpack_from("!HH", frame, ip.offset + ip.header_len)


def _ip_frames(cap) -> list[bytes]:
    return [f.data for f in cap.frames if dissect(f.data).find("ip") is not None]


def _assert_matrix_as_expected(lab: Lab) -> None:
    observed = lab.reachability(port=80)
    expected = lab.expected_reachability(port=80)
    assert observed.diff(expected) == []
    cells = {(s, d): v for s, d, v in observed.cells()}
    assert cells[("z/a", DST)] != "allow" and cells[(SRC, DST)] == "allow"


def _assert_clear_text(cap) -> None:
    assert not cap.emulated and cap.metadata["real"] and cap.metadata["http_status"] == "HTTP/1.1 200 OK"
    assert cap.contains("GET / HTTP/1.1") and cap.contains("HTTP/1.1 200 OK")
    assert cap.visibility()["pod IPs"]
    ports = [_udp_ports(f) for f in _ip_frames(cap)]
    assert ports and all(p is not None and p[1] == 6081 for p in ports)  # Geneve, both directions


def test_none_carries_http_in_clear_in_geneve(lab):
    assert lab.encryption == "none"
    cap = lab.capture(SRC, DST)
    _assert_clear_text(cap)
    assert cap.pcap_path is not None and cap.pcap_path.exists()
    linktype, records = read_pcap(cap.pcap_path)
    assert linktype == 1 and len(records) == len(cap.frames)
    table = cap.table()
    assert "HTTP" in set(table["protocol"])
    _assert_matrix_as_expected(lab)


def test_same_node_pods_have_nothing_on_the_wire(lab):
    with pytest.raises(UnsupportedOperation, match="never crosses the underlay"):
        lab.capture("x/a", "x/c")  # both on kind-worker


def test_wireguard_shows_only_udp_51820(lab):
    lab.set_encryption("wireGuard")
    assert lab.encryption == "wireGuard"
    cap = lab.capture(SRC, DST)
    assert not cap.emulated and cap.metadata["http_status"] == "HTTP/1.1 200 OK"
    assert not cap.contains("HTTP/1.1") and not cap.visibility()["pod IPs"]
    frames = _ip_frames(cap)
    assert frames and all(_udp_ports(f) == (51820, 51820) for f in frames)
    types = {f[dissect(f).find("ip").offset + 28] for f in frames}  # WireGuard message type
    assert 4 in types  # transport data (the handshake may have happened before the capture)
    shown = lab.backend.encryption.show()
    assert set(shown["peer"]) and (shown["tx_bytes"] > 0).any()
    for node in ("kind-worker", "kind-worker2"):  # Antrea's device name, as an altname in each node
        link = subprocess.run(["ip", "-n", f"lk-{lab.name}.{node}", "link", "show", "antrea-wg0"],
                              capture_output=True, text=True)
        assert link.returncode == 0 and "POINTOPOINT" in link.stdout
    _assert_matrix_as_expected(lab)


def test_ipsec_shows_only_esp(lab):
    lab.set_encryption("ipsec")
    cap = lab.capture(SRC, DST)
    assert not cap.emulated and cap.metadata["http_status"] == "HTTP/1.1 200 OK"
    assert not cap.contains("HTTP/1.1") and not cap.visibility()["pod IPs"]
    frames = _ip_frames(cap)
    # kernel-libipsec: ESP in UDP 4500 (RFC 3948), a non-zero SPI right after the UDP header
    assert frames and all(_udp_ports(f) == (4500, 4500) for f in frames)
    spis = {struct.unpack_from("!I", f, dissect(f).find("ip").offset + 28)[0] for f in frames}
    assert len(spis) == 2 and 0 not in spis  # one SA per direction
    assert "ESP" in set(cap.table()["protocol"])
    sas = lab.backend.encryption.show()
    assert set(sas["child_state"].dropna()) == {"INSTALLED"}
    _assert_matrix_as_expected(lab)


def test_back_to_none_restores_geneve(lab):
    mesh = lab.backend.encryption.mesh
    pids = list(mesh.pids.values())
    lab.set_encryption("none")
    assert lab.backend.encryption.mesh is None
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    _assert_clear_text(lab.capture(SRC, DST))
    _assert_matrix_as_expected(lab)


def test_apply_while_encrypted_keeps_pods_on_the_gateway_path(lab):
    lab.set_encryption("wireGuard")
    lab.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "deny-z", "namespace": "z"},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    flows = lab.dump_flows("kind-worker", "L3Forwarding")
    remote = flows[flows["match"].str.contains("nw_dst=10.244.2.0/24")]
    assert len(remote) == 1 and "tun_dst" not in remote["actions"].iloc[0]  # to antrea-gw0, not the tunnel
    assert lab.capture(SRC, DST).mode == "wireGuard"
    _assert_matrix_as_expected(lab)
    assert lab.backend.encryption.mesh.pids  # left running: the fixture's stop() must remove it
