"""What the compiler needs to know about nodes and pods (no I/O, no namespaces).

The ovs backend builds a :class:`Topology` from the ClusterState and the topology YAML
(``topologies/default.yaml``); OpenFlow port numbers are part of it because flows match them.
Port numbers follow Antrea: ``antrea-tun0`` is 1, ``antrea-gw0`` is 2, Pods from 3 on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..model.objects import ContainerPort, resolve_named_port

TUN_OFPORT = 1
GW_OFPORT = 2
FIRST_POD_OFPORT = 3
GLOBAL_VIRTUAL_MAC = "aa:bb:cc:dd:ee:ff"  # Antrea's virtual MAC for tunnelled/routed traffic
CT_ZONE = 65520  # Antrea's CtZone (IPv4)


def mac_for_ip(ip: str) -> str:
    """A deterministic MAC from an IPv4 address: ``0a:58:<ip bytes>`` (as the CNI host-local/bridge plugins)."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


@dataclass(frozen=True)
class PodSpec:
    key: str  # ns/name
    node: str
    ip: str
    mac: str
    ofport: int
    ports: tuple[ContainerPort, ...] = ()

    def named_port(self, name: str, protocol: str) -> int | None:
        return resolve_named_port(self.ports, name, protocol)


@dataclass(frozen=True)
class NodeSpec:
    name: str
    index: int  # 1-based position, used in names (lk-<lab>-<index>)
    node_ip: str  # underlay (kind's 172.18.0.x)
    pod_cidr: str

    @property
    def gateway_ip(self) -> str:
        """``.1`` of the node's pod CIDR, on ``antrea-gw0`` (the pods' default route)."""
        return str(ipaddress.ip_network(self.pod_cidr).network_address + 1)

    @property
    def gateway_mac(self) -> str:
        return mac_for_ip(self.gateway_ip)


@dataclass(frozen=True)
class Topology:
    nodes: tuple[NodeSpec, ...]
    pods: dict[str, PodSpec] = field(default_factory=dict)
    underlay_cidr: str = "172.18.0.0/16"
    mtu: int = 1450
    tunnel_type: str = "geneve"

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def pods_on(self, node: str) -> list[PodSpec]:
        return sorted((p for p in self.pods.values() if p.node == node), key=lambda p: p.ofport)

    def pod_by_ip(self, ip: str) -> PodSpec | None:
        for p in self.pods.values():
            if p.ip == ip:
                return p
        return None

    def node_of_ip(self, ip: str) -> NodeSpec | None:
        """The node whose pod CIDR contains ``ip``."""
        addr = ipaddress.ip_address(ip)
        for n in self.nodes:
            if addr in ipaddress.ip_network(n.pod_cidr):
                return n
        return None


__all__ = ["Topology", "NodeSpec", "PodSpec", "mac_for_ip", "TUN_OFPORT", "GW_OFPORT", "FIRST_POD_OFPORT",
           "GLOBAL_VIRTUAL_MAC", "CT_ZONE"]
