"""What the lab's state becomes in a real cluster: manifests, the apply/delete plan, pod readiness.

Pods are rendered the way the upstream network-policy e2e tests render theirs
(kubernetes test/e2e/network/netpol/model.go, ``Container.Spec``): one agnhost container per
(port, protocol), named ``cont-<port>-<proto>``, running

* TCP:  ``/agnhost serve-hostname --tcp --http=false --port <port>``
* UDP:  ``/agnhost serve-hostname --udp --http=false --port <port>``
* SCTP: ``/agnhost porter`` with env ``SERVE_SCTP_PORT_<port>=foo``

with ``terminationGracePeriodSeconds: 0`` and ``imagePullPolicy: IfNotPresent``. The container
port keeps the name the user gave it (named ports in policies resolve against it). A pod without
ports gets one ``/agnhost pause`` container so that probes can run from it.

Deployments are realized as the Pods labkit's model expands them into (same names), so the
observed matrix has the same row and column names as the engine's; their own manifests are not
applied. Everything labkit creates carries ``app.kubernetes.io/managed-by: labkit``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from ...model.cluster import ClusterState
from ...model.objects import DEFAULT_TIERS, Deployment, Namespace, Node, ObjectRef, Pod

MANAGED_BY = ("app.kubernetes.io/managed-by", "labkit")
LAB_LABEL = "labkit.io/lab"  # which lab, so that one lab's teardown never touches another's (k8s mode)
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_STATIC_TIERS = frozenset(t.name for t in DEFAULT_TIERS)

# Apply order (dependencies first); deletes go in reverse. Antrea's webhook wants a Tier before
# the policies in it, and a namespace before what lives in it.
_ORDER = {"Namespace": 0, "Tier": 1, "ClusterGroup": 2, "Group": 3, "ServiceAccount": 4, "Service": 5,
          "Pod": 6, "NetworkPolicy": 7, "ClusterNetworkPolicy": 7}

# kubectl resource names (with API group) for deletes by name: unambiguous between the two
# NetworkPolicy kinds.
RESOURCES = {
    ("", "Namespace"): "namespaces",
    ("", "Pod"): "pods",
    ("", "Service"): "services",
    ("", "ServiceAccount"): "serviceaccounts",
    ("networking.k8s.io", "NetworkPolicy"): "networkpolicies.networking.k8s.io",
    ("crd.antrea.io", "NetworkPolicy"): "networkpolicies.crd.antrea.io",
    ("crd.antrea.io", "ClusterNetworkPolicy"): "clusternetworkpolicies.crd.antrea.io",
    ("crd.antrea.io", "Tier"): "tiers.crd.antrea.io",
    ("crd.antrea.io", "ClusterGroup"): "clustergroups.crd.antrea.io",
    ("crd.antrea.io", "Group"): "groups.crd.antrea.io",
}


def ref_key(ref: ObjectRef) -> str:
    """``group/Kind/namespace/name``: the key of an object in the applied record."""
    return f"{ref.group}/{ref.kind}/{ref.namespace}/{ref.name}"


def key_ref(key: str) -> ObjectRef:
    group, kind, namespace, name = key.split("/", 3)
    return ObjectRef(group, kind, namespace, name)


def order_of(ref: ObjectRef) -> int:
    return _ORDER.get(ref.kind, 5)


# ---------------------------------------------------------------------------- pods


def _container(port: int, protocol: str, port_name: str, image: str) -> dict:
    proto = protocol.lower()
    env: list[dict] = []
    if protocol == "SCTP":
        env = [{"name": f"SERVE_SCTP_PORT_{port}", "value": "foo"}]
        command = ["/agnhost", "porter"]
    else:
        command = ["/agnhost", "serve-hostname", f"--{proto}", "--http=false", "--port", str(port)]
    container_port: dict[str, Any] = {"containerPort": port, "protocol": protocol}
    if port_name:
        container_port["name"] = port_name
    return {"name": f"cont-{port}-{proto}", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": command, "env": env, "securityContext": {}, "ports": [container_port]}


def managed_labels(lab: str = "") -> dict[str, str]:
    return {MANAGED_BY[0]: MANAGED_BY[1], **({LAB_LABEL: lab} if lab else {})}


def render_pod(pod: Pod, image: str, node_names: dict[str, str] | None = None, lab: str = "") -> dict:
    """The real Pod for a model pod (see the module docstring). ``node_names`` maps the model's
    node names to the cluster's; a pod is pinned with ``spec.nodeName`` only when it maps, so the
    real placement (same node / across the tunnel) is the model's."""
    containers = []
    seen = set()
    for p in pod.ports:
        if (p.container_port, p.protocol) in seen:
            continue
        seen.add((p.container_port, p.protocol))
        containers.append(_container(p.container_port, p.protocol, p.name, image))
    if not containers:
        containers = [{"name": "cont-pause", "image": image, "imagePullPolicy": "IfNotPresent",
                       "command": ["/agnhost", "pause"], "securityContext": {}}]
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 0, "containers": containers}
    if pod.service_account and pod.service_account != "default":
        spec["serviceAccountName"] = pod.service_account
    if node_names and pod.node_name in node_names:
        spec["nodeName"] = node_names[pod.node_name]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod.name, "namespace": pod.namespace,
                         "labels": {**dict(pod.labels), **managed_labels(lab)}},
            "spec": spec}


def probe_container(manifest: dict) -> str:
    """The container probes run from (the first, as the upstream netpol tests do)."""
    return manifest["spec"]["containers"][0]["name"]


# ---------------------------------------------------------------------------- desired objects


def _clean(raw: dict) -> dict:
    obj = copy.deepcopy(dict(raw))
    obj.pop("status", None)
    meta = obj.setdefault("metadata", {})
    for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"):
        meta.pop(k, None)
    return obj


def _labelled(obj: dict, lab: str = "") -> dict:
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **managed_labels(lab)}
    return obj


def render_namespace(ns: Namespace, managed: bool = True, lab: str = "") -> dict:
    obj = _clean(ns.raw) if ns.raw else {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns.name}}
    obj.setdefault("apiVersion", "v1")
    obj["kind"] = "Namespace"
    # The apiserver sets kubernetes.io/metadata.name itself; labels come from the typed object so
    # that lab.label("ns:x", ...) is realized too.
    labels = {k: v for k, v in ns.labels.items() if k != "kubernetes.io/metadata.name"}
    obj.setdefault("metadata", {})["labels"] = labels
    return _labelled(obj, lab) if managed else obj


def desired_objects(state: ClusterState, image: str, node_names: dict[str, str] | None = None,
                    unmanaged_namespaces: Iterable[str] = (), lab: str = "") -> dict[str, dict]:
    """Every object the cluster should hold for ``state``, keyed by :func:`ref_key`, in apply order.

    Left out: Nodes (kind makes them), Antrea's static Tiers (the controller makes them),
    Deployments (realized as their Pods). ``unmanaged_namespaces`` existed before labkit (k8s
    mode): they get the lab's labels but no managed-by label, and are never deleted.
    """
    unmanaged = set(unmanaged_namespaces) | SYSTEM_NAMESPACES
    out: list[tuple[ObjectRef, dict]] = []
    for obj in state:
        ref = obj.ref
        if isinstance(obj, (Node, Deployment)):
            continue
        if ref.kind == "Tier" and ref.name in _STATIC_TIERS:
            continue
        if isinstance(obj, Pod):
            out.append((ref, render_pod(obj, image, node_names, lab)))
        elif isinstance(obj, Namespace):
            out.append((ref, render_namespace(obj, obj.name not in unmanaged, lab)))
        else:
            manifest = _labelled(_clean(obj.raw), lab)
            if ref.group == "crd.antrea.io":
                # Antrea v2 serves its policy CRDs as v1beta1 only (the deprecated alpha versions
                # labkit still parses were removed in v2.0); the fields are the same.
                manifest["apiVersion"] = "crd.antrea.io/v1beta1"
            out.append((ref, manifest))
    out.sort(key=lambda item: (order_of(item[0]), item[0]))
    return {ref_key(ref): manifest for ref, manifest in out}


# ---------------------------------------------------------------------------- the sync plan


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Record:
    """What labkit applied to the cluster: key -> {"digest", "spec"} (saved in the state dir)."""

    applied: dict[str, dict[str, str]] = field(default_factory=dict)
    unmanaged_namespaces: list[str] = field(default_factory=list)  # k8s mode: existed before labkit

    def to_json(self) -> str:
        return json.dumps({"format": 1, "applied": self.applied, "unmanagedNamespaces": self.unmanaged_namespaces},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Record":
        data = json.loads(text)
        return cls(dict(data.get("applied", {})), list(data.get("unmanagedNamespaces", [])))


@dataclass
class SyncPlan:
    apply: list[dict] = field(default_factory=list)  # create or update, in apply order
    replace: list[dict] = field(default_factory=list)  # pods whose spec changed: delete, then create
    delete: list[ObjectRef] = field(default_factory=list)  # in delete order (dependents first)

    @property
    def empty(self) -> bool:
        return not (self.apply or self.replace or self.delete)

    @property
    def pods_created(self) -> list[dict]:
        return [m for m in self.apply + self.replace if m["kind"] == "Pod"]


def plan_sync(desired: dict[str, dict], record: Record) -> SyncPlan:
    """Compare the desired objects with what was applied: what to apply, replace and delete.

    Pod specs are immutable in Kubernetes except for a few fields, so a pod whose spec changed is
    deleted and created again; a change of labels alone is an apply.
    """
    plan = SyncPlan()
    for key, manifest in desired.items():
        old = record.applied.get(key)
        if old is not None and old.get("digest") == digest(manifest):
            continue
        if old is not None and manifest["kind"] == "Pod" and old.get("spec") != digest(manifest["spec"]):
            plan.replace.append(manifest)
        else:
            plan.apply.append(manifest)
    keep = SYSTEM_NAMESPACES | set(record.unmanaged_namespaces)  # never deleted, whatever happens
    gone = [ref for ref in (key_ref(k) for k in record.applied if k not in desired)
            if not (ref.kind == "Namespace" and ref.name in keep)]
    plan.delete = sorted(gone, key=lambda r: (-order_of(r), r))
    return plan


def record_after(record: Record, desired: dict[str, dict]) -> Record:
    applied = {k: {"digest": digest(m), **({"spec": digest(m["spec"])} if m["kind"] == "Pod" else {})}
               for k, m in desired.items()}
    return Record(applied, record.unmanaged_namespaces)


def as_list(manifests: list[dict]) -> str:
    """A ``v1 List`` for ``kubectl apply -f -`` (JSON is YAML)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})


def stub(ref: ObjectRef) -> dict:
    """The least manifest naming an object, for ``kubectl delete -f -``."""
    api = "v1" if not ref.group else f"{ref.group}/{'v1' if ref.group in ('networking.k8s.io', 'apps') else 'v1beta1'}"
    meta = {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})}
    return {"apiVersion": api, "kind": ref.kind, "metadata": meta}


# ---------------------------------------------------------------------------- pods in the cluster


def pod_ips(pods_json: dict) -> dict[str, str]:
    """``ns/name -> status.podIP`` from ``kubectl get pods -o json``."""
    out = {}
    for item in pods_json.get("items", []):
        meta, status = item.get("metadata", {}), item.get("status", {})
        if status.get("podIP"):
            out[f"{meta.get('namespace')}/{meta.get('name')}"] = status["podIP"]
    return out


def not_ready(pods_json: dict) -> list[str]:
    """Pods whose Ready condition is not True, with their phase and the first waiting reason."""
    out = []
    for item in pods_json.get("items", []):
        meta, status = item.get("metadata", {}), item.get("status", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        if ready:
            continue
        reasons = [cs.get("state", {}).get("waiting", {}).get("reason") for cs in status.get("containerStatuses", [])]
        reason = next((r for r in reasons if r), "")
        out.append(f"{meta.get('namespace')}/{meta.get('name')} ({status.get('phase', '?')}"
                   + (f", {reason}" if reason else "") + ")")
    return out


__all__ = ["MANAGED_BY", "LAB_LABEL", "managed_labels", "render_pod", "render_namespace", "desired_objects", "Record", "SyncPlan", "plan_sync",
           "record_after", "as_list", "stub", "pod_ips", "not_ready", "probe_container", "ref_key", "key_ref",
           "RESOURCES", "SYSTEM_NAMESPACES"]
