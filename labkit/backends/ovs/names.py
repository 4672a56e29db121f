"""The one naming scheme for everything the ovs backend creates (as Mininet's h1/s1/h1-eth0).

Every kernel object carries the lab's prefix ``lk-<lab>.`` so that :func:`labkit.backends.ovs.sweep`
can find leftovers after a crash. The ``.`` after the lab name cannot occur in a lab name (a-z,
0-9, '-'), so lab ``a`` never matches lab ``a-b``'s objects.

* node namespace        ``lk-<lab>.<node>``          (``lk-demo.kind-worker``)
* pod namespace         ``lk-<lab>.<ns>.<pod>``      (``lk-demo.x.a``; Kubernetes namespaces have no dots)
* underlay namespace    ``lk-<lab>._underlay``       (holds the Linux bridge joining the nodes)
* DPU host namespace    ``lk-<lab>._host-<node>``    (SmartNIC topologies: a DPU node's host OS, apart from
                        the node namespace, which then plays the DPU's Arm side running OVS)
* inside a node:        ``br-int``, ``br-phy``, ``antrea-gw0``, ``antrea-tun0``, uplink ``eth0``,
                        pod veths ``<pod[:6]>-<8 hex>`` (Antrea's ``<pod>-<hash>`` style, <= 15 chars)
* inside a pod:         ``eth0``
* inside the underlay:  bridge ``br-underlay``, one port ``u<node index>`` per node

Interfaces only ever exist inside the lab's namespaces, never in the host's: deleting the
namespaces deletes them.
"""

from __future__ import annotations

import hashlib

PREFIX = "lk-"
INT_BRIDGE = "br-int"
PHY_BRIDGE = "br-phy"
GW_PORT = "antrea-gw0"
TUN_PORT = "antrea-tun0"
NODE_UPLINK = "eth0"
POD_IFNAME = "eth0"
UNDERLAY_BRIDGE = "br-underlay"


def lab_prefix(lab: str) -> str:
    return f"{PREFIX}{lab}."


def node_netns(lab: str, node: str) -> str:
    return f"{lab_prefix(lab)}{node}"


def pod_netns(lab: str, pod_key: str) -> str:
    ns, _, name = pod_key.partition("/")
    return f"{lab_prefix(lab)}{ns}.{name}"


def underlay_netns(lab: str) -> str:
    return f"{lab_prefix(lab)}_underlay"


def node_host_netns(lab: str, node: str) -> str:
    """A DPU node's host-OS namespace (the node namespace itself is the DPU's Arm side)."""
    return f"{lab_prefix(lab)}_host-{node}"


def underlay_port(node_index: int) -> str:
    return f"u{node_index}"


def pod_host_ifname(pod_key: str) -> str:
    """The pod veth's node-side name: ``<pod name[:6]>-<hash>`` like Antrea's interface names."""
    name = pod_key.partition("/")[2]
    return f"{name[:6]}-{hashlib.sha1(pod_key.encode()).hexdigest()[:8]}"


def lab_of_netns(netns: str) -> str | None:
    """The lab a namespace belongs to, or None if it is not one of labkit's."""
    if not netns.startswith(PREFIX) or "." not in netns:
        return None
    return netns[len(PREFIX):].split(".", 1)[0]


__all__ = [n for n in dir() if n.isupper()] + ["lab_prefix", "node_netns", "node_host_netns", "pod_netns",
                                                 "underlay_netns",
                                                 "underlay_port", "pod_host_ifname", "lab_of_netns"]
