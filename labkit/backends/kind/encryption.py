"""Traffic encryption on kind: Antrea's ``trafficEncryptionMode``, and a real capture on the underlay.

What Antrea documents (docs/traffic-encryption.md) and what labkit does with it:

* **WireGuard**: set ``trafficEncryptionMode: wireGuard`` in ``antrea-agent.conf`` of the
  ``antrea-config`` ConfigMap (kube-system). It needs the ``wireguard`` module in the Nodes'
  kernel, which for kind is the host's (preflight checks it and says how to load it).
* **IPsec**: deploy the release's ``antrea-ipsec.yml`` (it sets ``trafficEncryptionMode: ipsec``,
  adds the strongSwan ``antrea-ipsec`` container to the agents and creates the Secret
  ``antrea-ipsec`` holding the IKE pre-shared key ``psk``). The docs recommend changing the
  default PSK ("changeme"): labkit applies the manifest, then replaces the Secret's ``psk`` with
  a random one, before the agents restart and read it.
* **none**: back to ``antrea.yml`` when IPsec was on (the agents lose the strongSwan container),
  and ``trafficEncryptionMode: none``.

Agents read their config at start: labkit then restarts the ``antrea-agent`` DaemonSet (the
patch ``kubectl rollout restart`` sends) and waits for the rollout.

**Capture**: a kind Node is a Docker container, reached with ``docker exec`` (kind's docs:
``docker exec -it <node> bash``). labkit starts ``tcpdump`` on the source Node's ``eth0`` for a
bounded window (``timeout``), filtered to the two Nodes' inter-Node traffic, makes one TCP
request from the source pod to the destination pod (agnhost ``serve-hostname --tcp`` answers with
the pod's name, readable on the wire unless encrypted), copies the pcap out with ``docker cp``
and returns it as the same :class:`~labkit.encryption.wire.Capture` type sim builds.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ...encryption.pcap import read_pcap
from ...encryption.wire import Capture, Frame, PodEndpoint, check_mode

IPSEC_MANIFEST = "https://github.com/antrea-io/antrea/releases/download/{version}/antrea-ipsec.yml"
IPSEC_SECRET = ("kube-system", "antrea-ipsec")
AGENT_DAEMONSET = ("kube-system", "antrea-agent")
CAPTURE_WINDOW_S = 8
_MODE_LINE = re.compile(r"^#?\s*trafficEncryptionMode:.*$", re.M)


def set_mode(agent_conf: str, mode: str) -> str:
    """``antrea-agent.conf`` with ``trafficEncryptionMode: <mode>``.

    A text edit of the one top-level line (commented out or not), so the rest of Antrea's shipped
    file, comments included, stays as it was; the key is appended when the file lacks it."""
    check_mode(mode)
    line = f"trafficEncryptionMode: {mode}"
    if _MODE_LINE.search(agent_conf):
        return _MODE_LINE.sub(line, agent_conf, count=1)
    return agent_conf.rstrip("\n") + f"\n{line}\n"


def current_mode(agent_conf: str) -> str:
    m = re.search(r"^trafficEncryptionMode:\s*(\S+)", agent_conf, re.M)
    return m[1].strip("\"'") if m else "none"


def ipsec_secret(psk: str | None = None) -> dict:
    """The ``antrea-ipsec`` Secret of antrea-ipsec.yml with a random PSK (``data`` is base64)."""
    psk = psk or secrets.token_urlsafe(32)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": IPSEC_SECRET[1], "namespace": IPSEC_SECRET[0]},
            "data": {"psk": base64.b64encode(psk.encode()).decode()}}


def restart_patch(now_rfc3339: str) -> dict:
    """The strategic-merge patch ``kubectl rollout restart`` sends to a DaemonSet/Deployment."""
    return {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now_rfc3339}}}}}


# ---------------------------------------------------------------------------- capture


@dataclass(frozen=True)
class CapturePlan:
    """The ``docker`` command lines of one capture on a kind Node."""

    node: str  # the kind Node container (the source pod's Node)
    remote_path: str
    bpf_filter: str
    window_s: int = CAPTURE_WINDOW_S

    def check_tool(self) -> list[str]:
        return ["docker", "exec", self.node, "sh", "-c", "command -v tcpdump"]

    def start(self) -> list[str]:
        # -d: detached; timeout -s INT ends tcpdump cleanly (it flushes the file) after the window.
        return ["docker", "exec", "-d", self.node, "timeout", "-s", "INT", str(self.window_s), "tcpdump", "-i", "eth0",
                "-U", "-n", "-s", "0", "-w", self.remote_path, self.bpf_filter]

    def started(self) -> list[str]:
        return ["docker", "exec", self.node, "test", "-s", self.remote_path]

    def running(self) -> list[str]:
        return ["docker", "exec", self.node, "sh", "-c", f"pgrep -f 'tcpdump .*{self.remote_path}' >/dev/null"]

    def copy_out(self, local: Path) -> list[str]:
        return ["docker", "cp", f"{self.node}:{self.remote_path}", str(local)]

    def cleanup(self) -> list[str]:
        return ["docker", "exec", self.node, "rm", "-f", self.remote_path]


def capture_filter(src_node_ip: str, dst_node_ip: str) -> str:
    """Inter-Node traffic between the two Nodes: Geneve (UDP 6081, Antrea's default tunnel), GRE
    (antrea-ipsec.yml's tunnel), ESP and IKE/NAT-T (UDP 500/4500), WireGuard (UDP 51820)."""
    return (f"host {src_node_ip} and host {dst_node_ip} and (udp port 6081 or udp port 51820 or udp port 500 "
            f"or udp port 4500 or ip proto 47 or ip proto 50)")


def capture_plan(node: str, src: PodEndpoint, dst: PodEndpoint, tag: str) -> CapturePlan:
    return CapturePlan(node, f"/tmp/labkit-capture-{tag}.pcap", capture_filter(src.node_ip, dst.node_ip))


def capture_from_pcap(path: Path, mode: str, src: PodEndpoint, dst: PodEndpoint, node: str) -> Capture:
    """The frames tcpdump wrote, as the Capture sim builds (direction from the outer IP source)."""
    linktype, records = read_pcap(path)
    frames = []
    for rec in records:
        outer_src = ".".join(str(b) for b in rec.data[26:30]) if len(rec.data) >= 34 else ""
        direction = "request" if outer_src == src.node_ip else "reply"
        frames.append(Frame(rec.time_s, rec.data, direction, f"captured on {node} eth0"))
    return Capture(mode, src, dst, frames, {"emulated": False, "captured_on": node, "tool": "tcpdump",
                                            "linktype": linktype, "backend": "kind"}, pcap_path=path)


__all__ = ["set_mode", "current_mode", "ipsec_secret", "restart_patch", "CapturePlan", "capture_plan",
           "capture_filter", "capture_from_pcap", "IPSEC_MANIFEST", "IPSEC_SECRET", "AGENT_DAEMONSET"]
