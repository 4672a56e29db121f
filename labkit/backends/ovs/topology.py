"""Topology as data: load ``topologies/<name>.yaml`` and combine it with a ClusterState.

The YAML says how the cluster is wired (underlay, tunnel type, MTU); the ClusterState says which
nodes and pods exist. :func:`build_topology` yields the pure :class:`labkit.datapath.Topology` the
flow compiler and the realizer share. OpenFlow port numbers are allocated once per pod and kept
while the pod lives (``previous``), so adding a pod never renumbers the others.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ...datapath.topology import FIRST_POD_OFPORT, NodeSpec, PodSpec, Topology, mac_for_ip
from ...errors import ManifestError, NotFoundError, Problem
from ...model.cluster import ClusterState
from ...model.manifest import project_root

TOPOLOGY_API = "labkit.io/v1alpha1"
TUNNEL_TYPES = ("geneve", "vxlan")


@dataclass(frozen=True)
class TopologySpec:
    name: str
    underlay_cidr: str = "172.18.0.0/16"
    underlay_mtu: int = 1500
    tunnel_type: str = "geneve"
    pod_mtu: int = 1450
    path: str = ""
    # spec.hardwareOffload as written (SmartNIC topologies; read by .smartnic), None without offload
    hardware_offload: dict | None = field(default=None, compare=False, hash=False)


def topologies_dir() -> Path:
    return project_root() / "topologies"


def load_topology(name_or_path: str | None = None) -> TopologySpec:
    """``None``/``"default"`` or a name in ``topologies/`` or a path to a Topology YAML."""
    name_or_path = name_or_path or "default"
    path = Path(name_or_path)
    if not path.exists():
        path = topologies_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in topologies_dir().glob("*.yaml")))
        raise NotFoundError(f"no topology {name_or_path!r}; available: {known} (or give a path)")
    data = yaml.safe_load(path.read_text()) or {}
    problems = []

    def problem(field: str, message: str, hint: str = "") -> None:
        problems.append(Problem(message, field, "Topology", str(data.get("metadata", {}).get("name", path.stem)),
                                source=str(path), hint=hint))

    if data.get("apiVersion") != TOPOLOGY_API or data.get("kind") != "Topology":
        problem("apiVersion", f"a topology must be apiVersion {TOPOLOGY_API}, kind Topology")
    spec = data.get("spec") or {}
    underlay = spec.get("underlay") or {}
    tunnel = spec.get("tunnel") or {}
    pods = spec.get("pods") or {}
    cidr = str(underlay.get("cidr", "172.18.0.0/16"))
    try:
        ipaddress.ip_network(cidr)
    except ValueError:
        problem("spec.underlay.cidr", f"{cidr!r} is not a CIDR", "write it like 172.18.0.0/16")
    tunnel_type = str(tunnel.get("type", "geneve"))
    if tunnel_type not in TUNNEL_TYPES:
        problem("spec.tunnel.type", f"tunnel type {tunnel_type!r} is not supported", f"use one of {TUNNEL_TYPES}")
    pod_mtu = int(pods.get("mtu", 1450))
    underlay_mtu = int(underlay.get("mtu", 1500))
    if not 576 <= pod_mtu <= underlay_mtu - 50:
        problem("spec.pods.mtu", f"pod MTU {pod_mtu} must leave 50 bytes for the tunnel header under the "
                                 f"underlay MTU {underlay_mtu}")
    offload = spec.get("hardwareOffload")
    if offload is not None:
        from .smartnic import offload_problems

        problems += offload_problems(offload, data, path)
    if problems:
        raise ManifestError(problems)
    return TopologySpec(str(data.get("metadata", {}).get("name", path.stem)), cidr, underlay_mtu, tunnel_type,
                        pod_mtu, str(path), offload)


def build_topology(spec: TopologySpec, state: ClusterState, previous: Topology | None = None) -> Topology:
    """Nodes (in ClusterState order, numbered from 1) and scheduled pods with MACs and OF ports."""
    nodes = tuple(NodeSpec(n.name, i, n.internal_ip, n.pod_cidr) for i, n in enumerate(state.nodes, start=1))
    old = previous.pods if previous is not None else {}
    used: dict[str, set[int]] = {n.name: set() for n in nodes}
    pods: dict[str, PodSpec] = {}
    pending = []
    for pod in state.pods:
        if not pod.pod_ip or pod.node_name not in used:
            continue  # not scheduled: no sandbox, as in Kubernetes
        prev = old.get(pod.key)
        if prev is not None and prev.node == pod.node_name and prev.ip == pod.pod_ip:
            used[pod.node_name].add(prev.ofport)
            pods[pod.key] = PodSpec(pod.key, pod.node_name, pod.pod_ip, prev.mac, prev.ofport, pod.ports)
        else:
            pending.append(pod)
    for pod in pending:
        port = FIRST_POD_OFPORT
        while port in used[pod.node_name]:
            port += 1
        used[pod.node_name].add(port)
        pods[pod.key] = PodSpec(pod.key, pod.node_name, pod.pod_ip, mac_for_ip(pod.pod_ip), port, pod.ports)
    return Topology(nodes, pods, spec.underlay_cidr, spec.pod_mtu, spec.tunnel_type)


__all__ = ["TopologySpec", "load_topology", "build_topology", "topologies_dir"]
