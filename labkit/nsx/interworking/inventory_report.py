"""The lab's cluster as NSX container inventory, and the delta between two reports (pure).

What the Management Plane adapter reports (nsx.md §3; object model of go-vmware-nsxt
``containerinventory`` and nsx-operator ``pkg/nsx/services/inventory``):

=====================================  ===========================================================
NSX ``resource_type``                   from the lab
=====================================  ===========================================================
ContainerCluster                       the cluster: ``cni_type`` ANTREA, ``cluster_type`` Kubernetes
ContainerClusterNode                   each Node: ``ip_addresses`` [internal IP], ``cni_agent_status``
ContainerProject                       each Namespace
ContainerApplication                   each Service (``origin_properties`` ``type`` and ``ip``)
ContainerApplicationInstance           each Pod: ``container_project_id``, ``cluster_node_id``,
                                       ``container_application_ids`` (Services selecting it),
                                       ``origin_properties`` ``ip``
ContainerNetworkPolicy                 each K8s NetworkPolicy / ACNP / ANNP (``policy_type``
                                       NETWORK_POLICY / ACNP / ANP, YAML in ``spec``)
=====================================  ===========================================================

Labels become tags the way nsx-operator writes them: keys sorted, at most 20, scope
``dis:k8s:<key>`` (cut with a SHA-1 suffix past 128 characters), value cut at 256 characters.

Identifiers: NSX wants the Kubernetes UID as ``external_id`` and the cluster UUID as
``container_cluster_id``. A lab has no UIDs, so each object gets a UUIDv5 of its kind, namespace
and name under the cluster UUID: stable across syncs, unique per registration (a re-registered
cluster gets a new UUID, hence new ids, as real UIDs would differ too).
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from collections.abc import Mapping
from typing import Any

import yaml

from labkit.model.cluster import ClusterState
from labkit.model.objects import ACNP, AntreaPolicy, K8sNetworkPolicy, Pod, Service

LABEL_SCOPE_PREFIX = "dis:k8s:"
MAX_TAGS = 20
MAX_SCOPE_LEN = 128
MAX_TAG_LEN = 256
# Parents before children: a batch creates a Namespace before its Pods (deletes go the other way).
TYPE_ORDER = ("ContainerCluster", "ContainerClusterNode", "ContainerProject", "ContainerApplication",
              "ContainerApplicationInstance", "ContainerNetworkPolicy")

Inventory = dict[str, dict[str, Any]]  # external_id -> container object


def external_id(cluster_id: str, kind: str, namespace: str, name: str) -> str:
    """The stand-in for a Kubernetes UID (see the module docstring)."""
    return str(uuid.uuid5(uuid.UUID(cluster_id), f"{kind}/{namespace}/{name}"))


def label_tags(labels: Mapping[str, str]) -> list[dict[str, str]]:
    """Kubernetes labels as NSX tags (nsx-operator ``inventory/builder.go``)."""
    tags = []
    for key in sorted(labels)[:MAX_TAGS]:
        scope = LABEL_SCOPE_PREFIX + key
        if len(scope) > MAX_SCOPE_LEN:
            digest = hashlib.sha1(scope.encode()).hexdigest()[:8]
            scope = scope[: MAX_SCOPE_LEN - 9] + "-" + digest
        tags.append({"scope": scope, "tag": str(labels[key])[:MAX_TAG_LEN]})
    return tags


def cluster_object(cluster_id: str, cluster_name: str, state: ClusterState) -> dict[str, Any]:
    pod_cidrs = sorted({n.pod_cidr for n in state.nodes if n.pod_cidr})
    return {
        "resource_type": "ContainerCluster", "external_id": cluster_id, "display_name": cluster_name,
        "cluster_type": "Kubernetes", "cni_type": "ANTREA", "network_status": "HEALTHY",
        # At most two CIDRs (NSX API): the pod network and kind's service range.
        "cluster_ip_ranges": [_supernet(pod_cidrs), "10.96.0.0/16"] if pod_cidrs else ["10.96.0.0/16"],
        "origin_properties": [{"key": "antrea_version", "value": "labkit"}],
    }


def inventory_objects(state: ClusterState, cluster_id: str, cluster_name: str,
                      agents_healthy: bool = True) -> Inventory:
    """Every container object the adapter reports for ``state``, by external_id."""
    eid = lambda kind, ns, name: external_id(cluster_id, kind, ns, name)
    out: Inventory = {}

    def add(obj: dict[str, Any]) -> None:
        out[obj["external_id"]] = obj

    add(cluster_object(cluster_id, cluster_name, state))
    for node in state.nodes:
        add({"resource_type": "ContainerClusterNode", "external_id": eid("Node", "", node.name),
             "display_name": node.name, "container_cluster_id": cluster_id,
             "ip_addresses": [node.internal_ip] if node.internal_ip else [],
             "cni_agent_status": "HEALTHY" if agents_healthy else "UNHEALTHY",
             "network_status": "HEALTHY", "tags": label_tags(node.labels)})
    for ns in state.namespaces:
        add({"resource_type": "ContainerProject", "external_id": eid("Namespace", "", ns.name),
             "display_name": ns.name, "container_cluster_id": cluster_id, "network_status": "HEALTHY",
             "tags": label_tags(ns.labels)})
    services_by_ns: dict[str, list[Service]] = {}
    for svc in state.services:
        services_by_ns.setdefault(svc.namespace, []).append(svc)
        labels = ((svc.raw.get("metadata") or {}).get("labels") or {}) if svc.raw else {}
        add({"resource_type": "ContainerApplication", "external_id": eid("Service", svc.namespace, svc.name),
             "display_name": svc.name, "container_cluster_id": cluster_id,
             "container_project_id": eid("Namespace", "", svc.namespace), "status": "UP",
             "network_status": "HEALTHY", "tags": label_tags(labels),
             "origin_properties": [{"key": "type", "value": svc.type},
                                   {"key": "ip", "value": svc.cluster_ip or ""}]})
    for pod in state.pods:
        selecting = [eid("Service", s.namespace, s.name) for s in services_by_ns.get(pod.namespace, [])
                     if _selects(s, pod)]
        add({"resource_type": "ContainerApplicationInstance", "external_id": eid("Pod", pod.namespace, pod.name),
             "display_name": pod.name, "container_cluster_id": cluster_id,
             "container_project_id": eid("Namespace", "", pod.namespace),
             "cluster_node_id": eid("Node", "", pod.node_name) if pod.node_name else "",
             "container_application_ids": selecting, "status": "UP" if pod.pod_ip else "DOWN",
             "network_status": "HEALTHY", "tags": label_tags(pod.labels),
             "origin_properties": [{"key": "ip", "value": pod.pod_ip}]})
    for policy in [*state.k8s_policies, *state.antrea_policies]:
        add(_network_policy(policy, cluster_id))
    return out


def _network_policy(policy: K8sNetworkPolicy | AntreaPolicy, cluster_id: str) -> dict[str, Any]:
    if isinstance(policy, K8sNetworkPolicy):
        kind, policy_type = "NetworkPolicy", "NETWORK_POLICY"
    elif policy.kind == ACNP:
        kind, policy_type = "ClusterNetworkPolicy", "ACNP"
    else:
        kind, policy_type = "AntreaNetworkPolicy", "ANP"
    obj: dict[str, Any] = {
        "resource_type": "ContainerNetworkPolicy",
        "external_id": external_id(cluster_id, kind, policy.namespace, policy.name),
        "display_name": policy.name, "container_cluster_id": cluster_id, "policy_type": policy_type,
        "network_status": "HEALTHY",
        "spec": yaml.safe_dump(dict(policy.raw), sort_keys=False) if policy.raw else "",
    }
    if policy.namespace:
        obj["container_project_id"] = external_id(cluster_id, "Namespace", "", policy.namespace)
    return obj


def _selects(svc: Service, pod: Pod) -> bool:
    # A Service without selector has manual Endpoints: it selects no pod (kube-controller-manager).
    if not svc.selector:
        return False
    return all(pod.labels.get(k) == v for k, v in svc.selector.items())


def _supernet(cidrs: list[str]) -> str:
    """The smallest network holding every node's pod CIDR (kind: 10.244.0.0/16 in practice)."""
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    net = nets[0]
    while not all(n.subnet_of(net) for n in nets):  # type: ignore[arg-type]
        net = net.supernet()
    return str(net)


# -- delta ---------------------------------------------------------------------------------------
def inventory_updates(old: Inventory, new: Inventory) -> list[dict[str, Any]]:
    """``{object_update_type, container_object}`` updates that turn ``old`` into ``new``.

    UPDATE carries only the changed fields plus ``external_id`` and ``resource_type`` (nsx-operator
    sends a diff map); deletes come first, children before parents; creates and updates after,
    parents before children.
    """
    rank = {t: i for i, t in enumerate(TYPE_ORDER)}
    deletes = [old[k] for k in old if k not in new]
    deletes.sort(key=lambda o: -rank.get(o["resource_type"], len(rank)))
    updates: list[dict[str, Any]] = [
        {"object_update_type": "DELETE",
         "container_object": {"resource_type": o["resource_type"], "external_id": o["external_id"]}}
        for o in deletes
    ]
    changed = []
    for key, obj in new.items():
        before = old.get(key)
        if before is None:
            changed.append(("CREATE", obj))
            continue
        diff = {k: v for k, v in obj.items() if before.get(k) != v}
        if diff:
            diff.update(resource_type=obj["resource_type"], external_id=obj["external_id"])
            changed.append(("UPDATE", diff))
    changed.sort(key=lambda c: rank.get(c[1]["resource_type"], len(rank)))
    updates += [{"object_update_type": kind, "container_object": obj} for kind, obj in changed]
    return updates


__all__ = [
    "LABEL_SCOPE_PREFIX",
    "Inventory",
    "cluster_object",
    "external_id",
    "inventory_objects",
    "inventory_updates",
    "label_tags",
]
