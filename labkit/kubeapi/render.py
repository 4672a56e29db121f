"""The lab's objects as the API serves them: typed model objects -> Kubernetes JSON.

The ``spec`` is what the user applied (the object's ``raw`` manifest), completed with the fields
the API server, scheduler and Antrea's mutating webhook fill in (``spec.nodeName``,
``spec.clusterIP``, an Antrea policy's defaulted ``tier`` and generated rule names); ``status``
comes from :mod:`.status`. Objects no manifest describes (the profile's Nodes, Antrea's static
Tiers, Pods a Deployment created) are synthesized as their controllers would create them.
Endpoints and EndpointSlices are derived from Services and Pods as the endpoints controllers do
(``pkg/controller/endpoint``, ``pkg/controller/endpointslice``).

Server metadata (uid, resourceVersion, creationTimestamp, generation) is added by the store.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any, Callable

from ..model.cluster import ClusterState
from ..model.objects import (AntreaPolicy, Deployment, Group, K8sNetworkPolicy, Namespace, Node, Pod, Service,
                             Tier)
from ..policy.compiler import PolicySet
from ..policy.groups import Selection
from . import status as st
from .resources import for_kind


class RenderContext:
    """What rendering needs once per snapshot: the state, its compiled policies, group selection."""

    def __init__(self, state: ClusterState, policy_set: PolicySet) -> None:
        self.state = state
        self.policy_set = policy_set
        self.selection = Selection(state)
        self.nodes = {n.name: n for n in state.nodes}
        self.deployments = {(d.namespace, d.name): d for d in state.deployments}


def _meta(name: str, namespace: str = "", labels: Any = None, annotations: Any = None) -> dict:
    meta: dict = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _raw(obj: Any) -> dict:
    return obj.raw if isinstance(getattr(obj, "raw", None), dict) else {}


def _raw_meta(obj: Any) -> dict:
    meta = _raw(obj).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: Any) -> dict:
    spec = _raw(obj).get("spec")
    return copy.deepcopy(spec) if isinstance(spec, dict) else {}


Key = tuple[str, str, str, str]  # (group, kind, namespace, name)


def render_all(ctx: RenderContext, since: Callable[[Key], str]) -> dict[Key, tuple[Any, dict]]:
    """Every model and derived object (the model object, or None for derived ones, and its JSON
    without server metadata), keyed ``(group, kind, namespace, name)``.

    ``since(key)``: when the object appeared (the lastTransitionTime of its conditions)."""
    out: dict[Key, tuple[Any, dict]] = {}
    for obj in ctx.state.objects.values():
        rendered = render(ctx, obj, since)
        if rendered is not None:
            out[(obj.ref.group, obj.ref.kind, obj.ref.namespace, obj.ref.name)] = (obj, rendered)
    for svc in ctx.state.services:
        for rendered in derived_for_service(ctx, svc):
            meta = rendered["metadata"]
            group = rendered["apiVersion"].rpartition("/")[0]
            out[(group, rendered["kind"], meta["namespace"], meta["name"])] = (None, rendered)
    return out


def render(ctx: RenderContext, obj: Any, since: Callable[[Key], str]) -> dict | None:
    key = (obj.ref.group, obj.ref.kind, obj.ref.namespace, obj.ref.name)
    when = since(key)
    resource = for_kind(obj.ref.group, obj.ref.kind)
    if resource is None:
        return None
    head = {"apiVersion": resource.api_version, "kind": resource.kind}
    annotations = _raw_meta(obj).get("annotations")
    if isinstance(obj, Namespace):
        return {**head, "metadata": _meta(obj.name, "", obj.labels, obj.annotations),
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    if isinstance(obj, Node):
        return render_node(obj, head, annotations, when)
    if isinstance(obj, Pod):
        return render_pod(ctx, obj, head, annotations, when)
    if isinstance(obj, Service):
        return render_service(obj, head, annotations)
    if isinstance(obj, Deployment):
        spec = _spec(obj)
        spec.setdefault("replicas", obj.replicas)
        spec.setdefault("strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        return {**head, "metadata": _meta(obj.name, obj.namespace, _raw_meta(obj).get("labels"), annotations),
                "spec": spec, "status": {}}
    if isinstance(obj, K8sNetworkPolicy):
        spec = _spec(obj)
        spec.setdefault("podSelector", {})
        spec.setdefault("policyTypes", list(obj.policy_types))
        return {**head, "metadata": _meta(obj.name, obj.namespace, _raw_meta(obj).get("labels"), annotations),
                "spec": spec}
    if isinstance(obj, AntreaPolicy):
        return render_antrea_policy(obj, head, annotations)
    if isinstance(obj, Tier):
        spec = _spec(obj) or {"priority": obj.priority, "description": obj.description}
        return {**head, "metadata": _meta(obj.name, "", _raw_meta(obj).get("labels"), annotations), "spec": spec}
    if isinstance(obj, Group):
        return {**head, "metadata": _meta(obj.name, obj.namespace, _raw_meta(obj).get("labels"), annotations),
                "spec": _spec(obj), "status": st.group_status(ctx.selection, obj, when)}
    return None


def add_status(ctx: RenderContext, obj: Any, rendered: dict, generation: int, since: str) -> dict:
    """Statuses that depend on the object's generation (observedGeneration)."""
    if isinstance(obj, AntreaPolicy):
        rendered["status"] = st.antrea_policy_status(ctx.state, ctx.policy_set, obj, generation, since)
    elif isinstance(obj, Deployment):
        rendered["status"] = st.deployment_status(ctx.state, obj, generation, since)
    return rendered


def render_node(node: Node, head: dict, annotations: Any, since: str) -> dict:
    raw = _raw(node)
    spec = _spec(node)
    if node.pod_cidr:
        spec.setdefault("podCIDR", node.pod_cidr)
        spec.setdefault("podCIDRs", [node.pod_cidr])
    if not node.schedulable:
        spec.setdefault("taints", [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    spec.setdefault("providerID", f"kind://docker/kind/{node.name}")
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "kubernetes.io/os": "linux", **node.labels}
    raw_status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    return {**head, "metadata": _meta(node.name, "", labels, annotations), "spec": spec,
            "status": st.node_status(node, copy.deepcopy(raw_status), since)}


def _pod_spec_of(ctx: RenderContext, pod: Pod) -> dict:
    if pod.owner.startswith("Deployment/"):
        dep = ctx.deployments.get((pod.namespace, pod.owner.split("/", 1)[1]))
        template = _spec(dep).get("template") if dep is not None else None
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            return copy.deepcopy(template["spec"])
    return _spec(pod)


def render_pod(ctx: RenderContext, pod: Pod, head: dict, annotations: Any, since: str) -> dict:
    spec = _pod_spec_of(ctx, pod)
    if pod.node_name:
        spec["nodeName"] = pod.node_name
    spec.setdefault("serviceAccountName", pod.service_account)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    containers = spec.get("containers") if isinstance(spec.get("containers"), list) else []
    meta = _meta(pod.name, pod.namespace, pod.labels, annotations)
    if pod.owner.startswith("Deployment/"):
        rs = f"{pod.owner.split('/', 1)[1]}-{pod.labels.get('pod-template-hash', '')}"
        meta["generateName"] = f"{rs}-"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                    "uid": _uid(f"ReplicaSet/{pod.namespace}/{rs}"), "controller": True,
                                    "blockOwnerDeletion": True}]
    return {**head, "metadata": meta, "spec": spec, "status": st.pod_status(ctx.state, pod, containers, since)}


def render_service(svc: Service, head: dict, annotations: Any) -> dict:
    spec = _spec(svc)
    spec["type"] = svc.type
    if svc.cluster_ip:
        spec["clusterIP"] = svc.cluster_ip
        spec["clusterIPs"] = [svc.cluster_ip]
    ports = []
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p = dict(p)
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
            ports.append(p)
    if ports:
        spec["ports"] = ports
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    return {**head, "metadata": _meta(svc.name, svc.namespace, _raw_meta(svc).get("labels"), annotations),
            "spec": spec, "status": {"loadBalancer": {}}}


def render_antrea_policy(policy: AntreaPolicy, head: dict, annotations: Any) -> dict:
    """The stored spec after Antrea's mutating webhook (``pkg/controller/networkpolicy/mutate.go``):
    an empty tier becomes ``application`` and every unnamed rule gets its generated name."""
    spec = _spec(policy)
    spec["tier"] = policy.tier
    for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
        raw_rules = spec.get(direction)
        if isinstance(raw_rules, list):
            for raw_rule, rule in zip(raw_rules, rules):
                if isinstance(raw_rule, dict):
                    raw_rule.setdefault("name", rule.name)
    return {**head, "metadata": _meta(policy.name, policy.namespace, _raw_meta(policy).get("labels"), annotations),
            "spec": spec, "status": {}}


def _uid(seed: str) -> str:
    h = hashlib.sha1(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _endpoint_ports(ctx: RenderContext, svc: Service, pod: Pod) -> list[dict]:
    out = []
    for port in svc.ports:
        target = port.target_port if port.target_port is not None else port.port
        if isinstance(target, str):
            number = pod.named_port(target, port.protocol)
            if number is None:
                continue
            target = number
        entry = {"port": target, "protocol": port.protocol}
        if port.name:
            entry["name"] = port.name
        out.append(entry)
    return out


def derived_for_service(ctx: RenderContext, svc: Service) -> list[dict]:
    """The Service's Endpoints and its one EndpointSlice (selector Services only)."""
    if svc.selector is None:
        return []
    pods = [ctx.state.pod(k) for k in sorted(ctx.selection.service_pods(svc.namespace, svc.name))]
    pods = [p for p in pods if p.pod_ip]
    addresses = [{"ip": p.pod_ip, "nodeName": p.node_name,
                  "targetRef": {"kind": "Pod", "namespace": p.namespace, "name": p.name}} for p in pods]
    ports = _endpoint_ports(ctx, svc, pods[0]) if pods else [
        {k: v for k, v in (("name", p.name), ("port", p.target_port if isinstance(p.target_port, int) else p.port),
                            ("protocol", p.protocol)) if v} for p in svc.ports]
    labels = {"kubernetes.io/service-name": svc.name, "endpointslice.kubernetes.io/managed-by":
              "endpointslice-controller.k8s.io"}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": _meta(svc.name, svc.namespace, {"app.kubernetes.io/managed-by": "labkit"}),
                 "subsets": [{"addresses": addresses, "ports": ports}] if addresses else []}
    slice_name = f"{svc.name}-{_uid('slice/' + svc.namespace + '/' + svc.name)[:5]}"
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {**_meta(slice_name, svc.namespace, labels), "generateName": f"{svc.name}-"},
           "addressType": "IPv4",
           "endpoints": [{"addresses": [p.pod_ip], "nodeName": p.node_name,
                          "conditions": {"ready": True, "serving": True, "terminating": False},
                          "targetRef": {"kind": "Pod", "namespace": p.namespace, "name": p.name}} for p in pods],
           "ports": ports}
    return [endpoints, eps]
