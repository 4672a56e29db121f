"""A real WireGuard mesh between node network namespaces, with ``wireguard-go``.

What Antrea does with ``trafficEncryptionMode: wireGuard`` (docs/traffic-encryption.md): every
Node runs a WireGuard device ``antrea-wg0`` listening on UDP 51820, publishes its public key
(annotation ``node.antrea.io/wireguard-public-key``), adds every other Node as a peer with
endpoint ``<peer InternalIP>:51820`` and allowed-ips = the peer's pod CIDR, and routes the peer
pod CIDRs to ``antrea-wg0`` instead of the Geneve tunnel.

This lab cannot load the kernel module Antrea needs, so ``wireguard-go`` (the userspace
implementation, over a TUN device) stands in for it. Its control socket lives in the global
``/var/run/wireguard/<ifname>.sock``, whatever the namespace, so interface names must be unique
machine-wide: ``lkwg<6 hex of the lab id><n>`` (≤ 15 characters, IFNAMSIZ).

::

    nodes = [NodeEndpoint("n1", "lkenc-123-n1", "10.250.0.1", "10.251.1.0/24"), ...]
    with WireGuardMesh(nodes, lab_id="mylab") as mesh:
        mesh.show()          # peers, endpoints, latest handshake, bytes
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BackendUnavailable, CommandError, ConflictError
from .._util import proc as cmd
from .noise import DEFAULT_PORT

if TYPE_CHECKING:  # pragma: no cover
    import subprocess

    import pandas as pd

UAPI_DIR = Path("/var/run/wireguard")
IFNAMSIZ = 15
DEFAULT_MTU = 1420  # Antrea: underlay MTU 1500 - WireGuardOverhead 80


@dataclass(frozen=True)
class NodeEndpoint:
    """A Node as the mesh sees it: its namespace, its underlay (InternalIP) address, its pod CIDR."""

    name: str
    netns: str
    underlay_ip: str
    pod_cidr: str


def available() -> tuple[bool, str]:
    """Can a mesh run here? (ok, what is missing and how to get it)."""
    if os.name != "posix" or not Path("/proc/self/ns/net").exists():
        return False, "needs Linux network namespaces"
    if os.geteuid() != 0:
        return False, "needs root (network namespaces, TUN devices)"
    missing = cmd.missing_tools("wireguard-go", "wg", "ip")
    if missing:
        return False, f"{', '.join(missing)} not installed (apt-get install wireguard-go wireguard-tools iproute2)"
    if not Path("/dev/net/tun").exists():
        return False, "/dev/net/tun is missing (wireguard-go needs a TUN device)"
    return True, ""


def interface_names(lab_id: str, count: int, prefix: str = "lkwg") -> list[str]:
    tag = hashlib.blake2s(lab_id.encode(), digest_size=3).hexdigest()
    names = [f"{prefix}{tag}{i}" for i in range(count)]
    too_long = [n for n in names if len(n) > IFNAMSIZ]
    if too_long:
        raise ValueError(f"interface names {too_long} exceed {IFNAMSIZ} characters; use a shorter prefix")
    return names


@dataclass
class _Member:
    node: NodeEndpoint
    ifname: str
    public_key: str = ""
    process: subprocess.Popen | None = None


@dataclass
class WireGuardMesh:
    """A full mesh of WireGuard peers, one ``wireguard-go`` per node namespace."""

    nodes: list[NodeEndpoint]
    lab_id: str = "labkit"
    port: int = DEFAULT_PORT
    mtu: int = DEFAULT_MTU
    start_timeout_s: float = 5.0
    _members: list[_Member] = field(default_factory=list, init=False, repr=False)
    running: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if len({n.netns for n in self.nodes}) != len(self.nodes):
            raise ValueError("each node needs its own network namespace")
        names = interface_names(self.lab_id, len(self.nodes))
        self._members = [_Member(n, name) for n, name in zip(self.nodes, names, strict=True)]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> WireGuardMesh:
        if self.running:
            return self
        ok, why = available()
        if not ok:
            raise BackendUnavailable(f"a WireGuard mesh cannot run here: {why}")
        taken = [m.ifname for m in self._members if (UAPI_DIR / f"{m.ifname}.sock").exists()]
        if taken:
            raise ConflictError(f"WireGuard interfaces {taken} already exist on this machine (their UAPI sockets are "
                                f"in {UAPI_DIR}); stop that lab or pick another lab_id")
        self.running = True  # from here on, stop() cleans up whatever was started
        try:
            with tempfile.TemporaryDirectory(prefix="lkenc-wgkeys-") as keydir:
                for member in self._members:
                    self._start_member(member, Path(keydir))
            for member in self._members:
                self._add_peers(member)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_member(self, m: _Member, keydir: Path) -> None:
        ns = m.node.netns
        # -f keeps wireguard-go in the foreground so that the PID we hold is the daemon's own;
        # the environment variable silences its "use the kernel module" refusal on Linux.
        m.process = cmd.spawn(["wireguard-go", "-f", m.ifname], ns,
                                 env={"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1", "LOG_LEVEL": "error"})
        sock = UAPI_DIR / f"{m.ifname}.sock"

        def ready() -> bool:
            if m.process.poll() is not None:
                err = m.process.stderr.read().decode(errors="replace") if m.process.stderr else ""
                raise CommandError(f"wireguard-go {m.ifname} in {ns} exited with {m.process.returncode}: {err.strip()}")
            return sock.exists()

        cmd.wait_for(ready, self.start_timeout_s, f"wireguard-go's socket {sock}")
        private = cmd.run(["wg", "genkey"]).stdout.strip()
        key_file = keydir / m.ifname
        key_file.touch(mode=0o600)
        key_file.write_text(private + "\n")
        m.public_key = cmd.run(["wg", "pubkey"], input=private + "\n").stdout.strip()
        cmd.run(["wg", "set", m.ifname, "private-key", str(key_file), "listen-port", str(self.port)], ns)
        cmd.run(["ip", "link", "set", m.ifname, "mtu", str(self.mtu), "up"], ns)

    def _add_peers(self, m: _Member) -> None:
        for peer in self._members:
            if peer is m:
                continue
            cmd.run(["wg", "set", m.ifname, "peer", peer.public_key,
                        "endpoint", f"{peer.node.underlay_ip}:{self.port}", "allowed-ips", peer.node.pod_cidr],
                       m.node.netns)
            # Antrea routes the peer's pod CIDR to antrea-wg0 instead of the tunnel.
            cmd.run(["ip", "route", "replace", peer.node.pod_cidr, "dev", m.ifname], m.node.netns)

    def stop(self) -> None:
        """Stop every wireguard-go we started (idempotent). Their TUN devices and routes go with them."""
        for m in self._members:
            cmd.terminate(m.process)
            if m.process is not None and m.process.stderr:
                m.process.stderr.close()
            m.process = None
            sock = UAPI_DIR / f"{m.ifname}.sock"
            try:  # wireguard-go removes it on exit; a SIGKILLed one leaves it behind
                cmd.wait_for(lambda s=sock: not s.exists(), 1.0, str(sock))
            except CommandError:
                sock.unlink(missing_ok=True)
        self.running = False

    def __enter__(self) -> WireGuardMesh:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ views

    @property
    def pids(self) -> dict[str, int]:
        return {m.ifname: m.process.pid for m in self._members if m.process is not None}

    @property
    def interfaces(self) -> dict[str, str]:
        """node name -> WireGuard interface name."""
        return {m.node.name: m.ifname for m in self._members}

    @property
    def public_keys(self) -> dict[str, str]:
        """node name -> public key (what Antrea publishes as node.antrea.io/wireguard-public-key)."""
        return {m.node.name: m.public_key for m in self._members}

    def show(self) -> pd.DataFrame:
        """``wg show <if> dump`` of every node, one row per peer."""
        import pandas as pd

        rows = []
        names = {m.public_key: m.node.name for m in self._members}
        for m in self._members:
            if m.process is None:
                continue
            lines = cmd.run(["wg", "show", m.ifname, "dump"], m.node.netns).stdout.splitlines()
            for line in lines[1:]:  # the first line is the interface itself
                pub, _psk, endpoint, allowed, handshake, rx, tx, _keepalive = line.split("\t")
                rows.append({"node": m.node.name, "interface": m.ifname, "peer": names.get(pub, pub[:8]),
                             "endpoint": endpoint, "allowed_ips": allowed,
                             "latest_handshake_s_ago": (round(time.time() - int(handshake), 1)
                                                        if handshake != "0" else None),
                             "rx_bytes": int(rx), "tx_bytes": int(tx)})
        return pd.DataFrame(rows, columns=["node", "interface", "peer", "endpoint", "allowed_ips",
                                           "latest_handshake_s_ago", "rx_bytes", "tx_bytes"])


__all__ = ["DEFAULT_MTU", "NodeEndpoint", "WireGuardMesh", "available", "interface_names"]
