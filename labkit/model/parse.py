"""Manifest documents -> typed objects, with the checks the API server and Antrea's webhook make.

Each document is checked in full: every problem is collected (never just the first), each with
the file, line, document index, kind/name and field path. Checks that need other objects (does
the Tier exist? is the priority taken?) live in :mod:`labkit.model.admission`.

Reproduced behaviour, by source:
* apimachinery / kube-apiserver validation of Pods, Services, Namespaces and
  networking.k8s.io/v1 NetworkPolicy (``ValidateNetworkPolicy``: ports 1-65535, endPort needs a
  numeric port and endPort >= port, ipBlock except inside cidr, policyTypes values).
* strict field validation (``kubectl apply --validate=strict``, the default): unknown fields
  are errors.
* Antrea's validating/mutating webhook (pkg/controller/networkpolicy/validate.go, mutate.go):
  appliedTo in spec XOR in every rule; ``group``/``serviceAccount`` alone in an entry;
  ``namespaces`` not with ``namespaceSelector``; ``match`` XOR ``sameLabels``; ``Pass`` not in the
  baseline tier; ``toServices`` alone; port/endPort and sourcePort/sourceEndPort ranges; unique
  rule names; missing tier -> ``application``; missing rule names generated.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import re
from typing import Any, Callable

from ..errors import Problem
from .objects import (
    ACNP,
    ANTREA_GROUP,
    ANTREA_VERSIONS,
    BASELINE_TIER_NAME,
    DEFAULT_TIER_NAME,
    AnyObject,
    AntreaPeer,
    AntreaPolicy,
    AntreaRule,
    AppliedTo,
    ContainerPort,
    Deployment,
    Group,
    ICMPSpec,
    IPBlock,
    K8sNetworkPolicy,
    K8sPeer,
    K8sRule,
    NamespacedName,
    Namespace,
    Node,
    Pod,
    PortSpec,
    Service,
    ServicePort,
    Tier,
)
from .selectors import (
    OPERATORS,
    LabelSelector,
    Requirement,
    dns1123_label_error,
    dns1123_subdomain_error,
    label_key_error,
    label_value_error,
)
from .yamlsrc import Document, join_path

PROTOCOLS = ("TCP", "UDP", "SCTP")
ACTIONS = ("Allow", "Drop", "Reject", "Pass")

# (group, kind) -> the versions accepted. "" is the core group.
SUPPORTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Namespace"): ("v1",),
    ("", "Node"): ("v1",),
    ("", "Pod"): ("v1",),
    ("", "Service"): ("v1",),
    ("apps", "Deployment"): ("v1",),
    ("networking.k8s.io", "NetworkPolicy"): ("v1",),
    (ANTREA_GROUP, "ClusterNetworkPolicy"): ANTREA_VERSIONS,
    (ANTREA_GROUP, "NetworkPolicy"): ANTREA_VERSIONS,
    (ANTREA_GROUP, "Tier"): ANTREA_VERSIONS,
    (ANTREA_GROUP, "ClusterGroup"): ANTREA_VERSIONS,
    (ANTREA_GROUP, "Group"): ANTREA_VERSIONS,
}
# Older API groups Antrea used before v1.0; we name the current one in the error.
_LEGACY_GROUPS = ("security.antrea.tanzu.vmware.com", "core.antrea.tanzu.vmware.com", "security.antrea.io",
                  "core.antrea.io")
CLUSTER_SCOPED = {"Namespace", "Node", "ClusterNetworkPolicy", "Tier", "ClusterGroup"}


class _Ctx:
    """Collects problems for one document; knows its kind/name for every message."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.kind = ""
        self.name = ""
        self.namespace = ""
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []  # what the API server answers with "Warning:" (applied anyway)

    def warn(self, path: str, message: str, hint: str = "") -> None:
        self.warnings.append(self._problem(path, message, hint))

    def err(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(self._problem(path, message, hint))

    def _problem(self, path: str, message: str, hint: str) -> Problem:
        return (
            Problem(
                message=message,
                path=path,
                kind=self.kind,
                name=self.name,
                namespace=self.namespace,
                source=self.doc.source,
                line=self.doc.line_of(path),
                document=self.doc.index,
                hint=hint,
            )
        )

    # -------------------------------------------------------------- typed field access

    def mapping(self, value: Any, path: str, required: bool = False) -> dict | None:
        if value is None:
            if required:
                self.err(path, "is required")
            return None
        if not isinstance(value, dict):
            self.err(path, f"must be a mapping (object), got {type_name(value)}")
            return None
        return value

    def sequence(self, value: Any, path: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(path, f"must be a list, got {type_name(value)}", "write it as a YAML list ('- item')")
            return []
        return value

    def string(self, value: Any, path: str, required: bool = False) -> str:
        if value is None:
            if required:
                self.err(path, "is required")
            return ""
        if not isinstance(value, str):
            self.err(path, f"must be a string, got {type_name(value)}")
            return ""
        return value

    def integer(self, value: Any, path: str, lo: int | None = None, hi: int | None = None) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(path, f"must be an integer, got {type_name(value)}")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.err(path, f"must be between {lo} and {hi}, got {value}")
            return None
        return value

    def fields(self, data: dict, path: str, allowed: tuple[str, ...], hints: dict[str, str] | None = None) -> None:
        """Strict field validation: unknown fields are errors, with a 'did you mean' hint (or the
        reason a field known elsewhere is not allowed here, from ``hints``)."""
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = (hints or {}).get(str(key)) or (
                    f"did you mean {close[0]!r}?" if close else f"allowed fields: {', '.join(allowed)}")
                self.err(join_path(path, str(key)), f"unknown field {key!r}", hint)

    def enum(self, value: Any, path: str, allowed: tuple[str, ...]) -> str:
        """A string field the CRD schema restricts to ``allowed`` (an OpenAPI ``enum``)."""
        text = self.string(value, path)
        if text and text not in allowed:
            self.err(path, f"unsupported value {text!r}", f"use one of: {', '.join(allowed)}")
        return text


def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------- entry point


def parse_document(doc: Document, default_namespace: str = "default") -> tuple[AnyObject | None, list[Problem]]:
    """Parse one document into a typed object; returns (object or None, problems)."""
    ctx = _Ctx(doc)
    data = doc.data
    if not isinstance(data, dict):
        ctx.err("", f"a manifest document must be a mapping with apiVersion and kind, got {type_name(data)}")
        return None, ctx.problems
    api_version = ctx.string(data.get("apiVersion"), "apiVersion", required=True)
    kind = ctx.string(data.get("kind"), "kind", required=True)
    ctx.kind = kind
    meta = ctx.mapping(data.get("metadata"), "metadata", required=True) or {}
    ctx.fields(meta, "metadata", ("name", "namespace", "labels", "annotations", "uid", "generateName",
                                  "resourceVersion", "generation", "creationTimestamp", "ownerReferences",
                                  "finalizers", "managedFields", "deletionTimestamp"))
    ctx.name = ctx.string(meta.get("name"), "metadata.name", required=True)
    if not api_version or not kind:
        return None, ctx.problems
    group, _, version = api_version.rpartition("/")
    if (group, kind) not in SUPPORTED:
        if group in _LEGACY_GROUPS:
            ctx.err("apiVersion", f"API group {group!r} was retired by Antrea",
                    f"use apiVersion: {ANTREA_GROUP}/v1beta1")
        else:
            known = sorted({k for _, k in SUPPORTED})
            ctx.err("kind", f"labkit does not know kind {kind!r} in apiVersion {api_version!r}",
                    f"supported kinds: {', '.join(known)}")
        return None, ctx.problems
    if version not in SUPPORTED[(group, kind)]:
        served = SUPPORTED[(group, kind)][0]
        ctx.err("apiVersion", f"version {version!r} is not served for {kind}"
                + (" (Antrea v2 CRDs serve only v1beta1)" if group == ANTREA_GROUP else ""),
                f"use apiVersion: {(group + '/') if group else ''}{served}")
    name_error = (dns1123_label_error if kind in ("Namespace", "Service") else dns1123_subdomain_error)(
        ctx.name, "metadata.name") if ctx.name else None
    if name_error:
        ctx.err("metadata.name", name_error)
    if kind in CLUSTER_SCOPED:
        if meta.get("namespace"):
            ctx.err("metadata.namespace", f"{kind} is cluster-scoped and cannot have a namespace",
                    "remove metadata.namespace")
        ctx.namespace = ""
    else:
        ctx.namespace = ctx.string(meta.get("namespace"), "metadata.namespace") or default_namespace
    labels = _labels(ctx, meta.get("labels"), "metadata.labels")
    annotations = _string_map(ctx, meta.get("annotations"), "metadata.annotations")
    parser = _PARSERS[(group, kind)]
    obj = parser(ctx, data, labels, annotations)
    if ctx.problems:
        return None, ctx.problems
    doc.warnings = ctx.warnings
    return obj, []


def _labels(ctx: _Ctx, value: Any, path: str) -> dict[str, str]:
    labels = ctx.mapping(value, path) or {}
    out: dict[str, str] = {}
    for key, val in labels.items():
        problem = label_key_error(key) or label_value_error(val)
        if problem:
            ctx.err(join_path(path, str(key)), problem)
        else:
            out[key] = val
    return out


def _string_map(ctx: _Ctx, value: Any, path: str) -> dict[str, str]:
    data = ctx.mapping(value, path) or {}
    out = {}
    for key, val in data.items():
        if not isinstance(val, str):
            ctx.err(join_path(path, str(key)), f"must be a string, got {type_name(val)}", "quote the value")
        else:
            out[str(key)] = val
    return out


def _selector(ctx: _Ctx, value: Any, path: str) -> LabelSelector | None:
    data = ctx.mapping(value, path)
    if data is None:
        return None
    ctx.fields(data, path, ("matchLabels", "matchExpressions"))
    match_labels = _labels(ctx, data.get("matchLabels"), join_path(path, "matchLabels"))
    exprs: list[Requirement] = []
    for i, expr in enumerate(ctx.sequence(data.get("matchExpressions"), join_path(path, "matchExpressions"))):
        epath = f"{path}.matchExpressions[{i}]"
        expr = ctx.mapping(expr, epath)
        if expr is None:
            continue
        ctx.fields(expr, epath, ("key", "operator", "values"))
        key = ctx.string(expr.get("key"), f"{epath}.key", required=True)
        op = ctx.string(expr.get("operator"), f"{epath}.operator", required=True)
        values = [v for v in ctx.sequence(expr.get("values"), f"{epath}.values")]
        if key and (problem := label_key_error(key)):
            ctx.err(f"{epath}.key", problem)
        if op and op not in OPERATORS:
            ctx.err(f"{epath}.operator", f"unknown operator {op!r}", f"use one of {', '.join(OPERATORS)}")
        elif op in ("In", "NotIn") and not values:
            ctx.err(f"{epath}.values", f"must be non-empty when operator is {op}")
        elif op in ("Exists", "DoesNotExist") and values:
            ctx.err(f"{epath}.values", f"must be empty when operator is {op}", "remove values")
        for j, v in enumerate(values):
            if problem := label_value_error(v):
                ctx.err(f"{epath}.values[{j}]", problem)
        exprs.append(Requirement(key, op, tuple(str(v) for v in values)))
    return LabelSelector(tuple(sorted(match_labels.items())), tuple(exprs))


def _ip_block(ctx: _Ctx, value: Any, path: str) -> IPBlock | None:
    data = ctx.mapping(value, path)
    if data is None:
        return None
    ctx.fields(data, path, ("cidr", "except"))
    cidr = ctx.string(data.get("cidr"), f"{path}.cidr", required=True)
    try:
        if cidr and "/" not in cidr:
            raise ValueError("no prefix length")  # OpenAPI format 'cidr' (Go's net.ParseCIDR) needs one
        net = ipaddress.ip_network(cidr, strict=False) if cidr else None
    except ValueError:
        ctx.err(f"{path}.cidr", f"{cidr!r} is not a valid CIDR", "write it like 10.0.0.0/24")
        net = None
    excepts = []
    for i, e in enumerate(ctx.sequence(data.get("except"), f"{path}.except")):
        epath = f"{path}.except[{i}]"
        if not isinstance(e, str):
            ctx.err(epath, f"must be a CIDR string, got {type_name(e)}")
            continue
        try:
            if "/" not in e:
                raise ValueError("no prefix length")
            enet = ipaddress.ip_network(e, strict=False)
        except ValueError:
            ctx.err(epath, f"{e!r} is not a valid CIDR", "write it like 10.0.0.0/28")
            continue
        # Both K8s and Antrea require each except to be a strict subset of cidr.
        if net is not None and (enet.version != net.version or not enet.subnet_of(net) or enet == net):
            ctx.err(epath, f"{e} must be strictly within {cidr}", "narrow the except CIDR or widen cidr")
        excepts.append(e)
    return IPBlock(cidr, tuple(excepts)) if cidr else None


def _port_value(ctx: _Ctx, value: Any, path: str) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.isdigit():  # "80" in YAML quotes: the API server's IntOrString treats it as a name
            ctx.err(path, f"port {value!r} is a string of digits", "write the number without quotes")
            return None
        if len(value) > 15 or not value.replace("-", "").isalnum() or not any(c.isalpha() for c in value):
            ctx.err(path, f"{value!r} is not a valid port name (IANA_SVC_NAME: at most 15 characters, "
                    "letters, digits and '-', at least one letter)")
            return None
        return value
    return ctx.integer(value, path, 1, 65535)


def _ports(ctx: _Ctx, value: Any, path: str, antrea: bool) -> tuple[PortSpec, ...]:
    out = []
    allowed = ("protocol", "port", "endPort") + (("sourcePort", "sourceEndPort") if antrea else ())
    for i, item in enumerate(ctx.sequence(value, path)):
        ppath = f"{path}[{i}]"
        item = ctx.mapping(item, ppath)
        if item is None:
            continue
        ctx.fields(item, ppath, allowed)
        protocol = ctx.string(item.get("protocol"), f"{ppath}.protocol") or "TCP"
        if protocol not in PROTOCOLS:
            ctx.err(f"{ppath}.protocol", f"unsupported protocol {protocol!r}",
                    "use TCP, UDP or SCTP" + ("; for ICMP use the rule's 'protocols' field" if antrea else ""))
        port = _port_value(ctx, item.get("port"), f"{ppath}.port")
        end_port = ctx.integer(item.get("endPort"), f"{ppath}.endPort", 1, 65535)
        if end_port is not None:
            if item.get("port") is None:
                ctx.err(f"{ppath}.endPort", "may not be specified when port is not specified",
                        "add a numeric port (the start of the range)")
            elif isinstance(port, str):
                ctx.err(f"{ppath}.endPort", "may not be specified when port is a named port",
                        "use a numeric port for a range")
            elif isinstance(port, int) and end_port < port:
                ctx.err(f"{ppath}.endPort", f"must be greater than or equal to port ({end_port} < {port})",
                        "swap port and endPort")
        src = src_end = None
        if antrea:
            src = ctx.integer(item.get("sourcePort"), f"{ppath}.sourcePort", 1, 65535)
            src_end = ctx.integer(item.get("sourceEndPort"), f"{ppath}.sourceEndPort", 1, 65535)
            if src_end is not None:
                if item.get("sourcePort") is None:
                    ctx.err(f"{ppath}.sourceEndPort", "may not be specified when sourcePort is not specified")
                elif src is not None and src_end < src:
                    ctx.err(f"{ppath}.sourceEndPort",
                            f"must be greater than or equal to sourcePort ({src_end} < {src})")
        out.append(PortSpec(protocol, port, end_port, src, src_end))
    return tuple(out)


# ---------------------------------------------------------------------------- core kinds


def _parse_namespace(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> Namespace:
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    # The API server (>= 1.21) always sets kubernetes.io/metadata.name to the Namespace's name.
    labels = {**labels, "kubernetes.io/metadata.name": ctx.name}
    return Namespace(ctx.name, labels, annotations, raw=data)


def _parse_node(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> Node:
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec") or {}
    pod_cidr = ctx.string(spec.get("podCIDR"), "spec.podCIDR")
    if pod_cidr:
        try:
            ipaddress.ip_network(pod_cidr)
        except ValueError:
            ctx.err("spec.podCIDR", f"{pod_cidr!r} is not a valid network CIDR", "e.g. 10.244.1.0/24")
    status = ctx.mapping(data.get("status"), "status") or {}
    internal_ip = ""
    for i, addr in enumerate(ctx.sequence(status.get("addresses"), "status.addresses")):
        if isinstance(addr, dict) and addr.get("type") == "InternalIP":
            internal_ip = ctx.string(addr.get("address"), f"status.addresses[{i}].address")
    taints = ctx.sequence(spec.get("taints"), "spec.taints")
    schedulable = not any(isinstance(t, dict) and t.get("effect") == "NoSchedule" for t in taints)
    labels = {**labels, "kubernetes.io/hostname": ctx.name}
    return Node(ctx.name, labels, pod_cidr, internal_ip, schedulable, raw=data)


def _container_ports(ctx: _Ctx, containers: list, path: str) -> tuple[ContainerPort, ...]:
    out: list[ContainerPort] = []
    names: set[str] = set()
    for ci, c in enumerate(containers):
        cpath = f"{path}[{ci}]"
        c = ctx.mapping(c, cpath)
        if c is None:
            continue
        for pi, p in enumerate(ctx.sequence(c.get("ports"), f"{cpath}.ports")):
            ppath = f"{cpath}.ports[{pi}]"
            p = ctx.mapping(p, ppath)
            if p is None:
                continue
            port = ctx.integer(p.get("containerPort"), f"{ppath}.containerPort", 1, 65535)
            if port is None:
                if p.get("containerPort") is None:
                    ctx.err(f"{ppath}.containerPort", "is required")
                continue
            protocol = ctx.string(p.get("protocol"), f"{ppath}.protocol") or "TCP"
            if protocol not in PROTOCOLS:
                ctx.err(f"{ppath}.protocol", f"unsupported protocol {protocol!r}", "use TCP, UDP or SCTP")
            name = ctx.string(p.get("name"), f"{ppath}.name")
            if name:
                if name in names:
                    ctx.err(f"{ppath}.name", f"duplicate port name {name!r} in the pod")
                names.add(name)
                _port_value(ctx, name, f"{ppath}.name")
            out.append(ContainerPort(port, protocol, name))
    return tuple(out)


def _pod_spec(ctx: _Ctx, spec: dict, path: str) -> tuple[tuple[ContainerPort, ...], str, str]:
    containers = ctx.sequence(spec.get("containers"), f"{path}.containers")
    if not containers:
        ctx.err(f"{path}.containers", "must have at least one container",
                "add a container, e.g. {name: web, image: nginx}")
    ports = _container_ports(ctx, containers, f"{path}.containers")
    node_name = ctx.string(spec.get("nodeName"), f"{path}.nodeName")
    sa = ctx.string(spec.get("serviceAccountName"), f"{path}.serviceAccountName") or "default"
    return ports, node_name, sa


def _parse_pod(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> Pod:
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    ports, node_name, sa = _pod_spec(ctx, spec, "spec")
    status = ctx.mapping(data.get("status"), "status") or {}
    pod_ip = ctx.string(status.get("podIP"), "status.podIP")
    hostname = ctx.string(spec.get("hostname"), "spec.hostname")
    subdomain = ctx.string(spec.get("subdomain"), "spec.subdomain")
    for value, path in ((hostname, "spec.hostname"), (subdomain, "spec.subdomain")):
        if value and (problem := dns1123_label_error(value, path)):
            ctx.err(path, problem)  # ValidatePodSpec: both must be RFC 1123 labels
    return Pod(ctx.namespace, ctx.name, labels, node_name, ports, sa, pod_ip, hostname=hostname,
               subdomain=subdomain, raw=data)


def _parse_deployment(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> Deployment:
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    replicas = ctx.integer(spec.get("replicas", 1), "spec.replicas", 0, 1000)
    selector = _selector(ctx, spec.get("selector"), "spec.selector")
    if spec.get("selector") is None:
        ctx.err("spec.selector", "is required", "add spec.selector.matchLabels matching the template labels")
    template = ctx.mapping(spec.get("template"), "spec.template", required=True) or {}
    tmeta = ctx.mapping(template.get("metadata"), "spec.template.metadata") or {}
    tlabels = _labels(ctx, tmeta.get("labels"), "spec.template.metadata.labels")
    tspec = ctx.mapping(template.get("spec"), "spec.template.spec", required=True) or {}
    ports, node_name, sa = _pod_spec(ctx, tspec, "spec.template.spec")
    if selector is not None and not selector.is_empty and not selector.matches(tlabels):
        ctx.err("spec.template.metadata.labels", "`selector` does not match template `labels`",
                "make spec.selector.matchLabels a subset of the template labels")
    return Deployment(ctx.namespace, ctx.name, replicas or 0, selector or LabelSelector(), tlabels, ports,
                      node_name, sa, raw=data)


def _parse_service(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> Service:
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    svc_type = ctx.string(spec.get("type"), "spec.type") or "ClusterIP"
    if svc_type not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        ctx.err("spec.type", f"unsupported Service type {svc_type!r}", "use ClusterIP, NodePort or LoadBalancer")
    selector = None
    if spec.get("selector") is not None:
        selector = _string_map(ctx, spec.get("selector"), "spec.selector")
    ports = []
    for i, p in enumerate(ctx.sequence(spec.get("ports"), "spec.ports")):
        ppath = f"spec.ports[{i}]"
        p = ctx.mapping(p, ppath)
        if p is None:
            continue
        port = ctx.integer(p.get("port"), f"{ppath}.port", 1, 65535)
        if p.get("port") is None:
            ctx.err(f"{ppath}.port", "is required")
        protocol = ctx.string(p.get("protocol"), f"{ppath}.protocol") or "TCP"
        if protocol not in PROTOCOLS:
            ctx.err(f"{ppath}.protocol", f"unsupported protocol {protocol!r}", "use TCP, UDP or SCTP")
        target = p.get("targetPort")
        if target is not None:
            target = _port_value(ctx, target, f"{ppath}.targetPort")
        name = ctx.string(p.get("name"), f"{ppath}.name")
        if port is not None:
            ports.append(ServicePort(port, protocol, name, target))
    if len(ports) > 1 and any(not p.name for p in ports):
        ctx.err("spec.ports", "every port must have a name when a Service has more than one port")
    cluster_ip = ctx.string(spec.get("clusterIP"), "spec.clusterIP")
    return Service(ctx.namespace, ctx.name, selector, tuple(ports), cluster_ip, svc_type, raw=data)


# ---------------------------------------------------------------------------- K8s NetworkPolicy


def _parse_k8s_np(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> K8sNetworkPolicy:
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    ctx.fields(spec, "spec", ("podSelector", "policyTypes", "ingress", "egress"))
    if spec.get("podSelector") is None:
        ctx.err("spec.podSelector", "is required", "use podSelector: {} to select every pod in the namespace")
    pod_selector = _selector(ctx, spec.get("podSelector"), "spec.podSelector") or LabelSelector()
    types = ctx.sequence(spec.get("policyTypes"), "spec.policyTypes")
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            ctx.err(f"spec.policyTypes[{i}]", f"unsupported value {t!r}", "use Ingress or Egress")
    if not types:
        # Default (networking/v1 API docs): Ingress always, Egress only if the policy has egress rules.
        types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    rules = {}
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        parsed = []
        for i, rule in enumerate(ctx.sequence(spec.get(direction), f"spec.{direction}")):
            rpath = f"spec.{direction}[{i}]"
            rule = ctx.mapping(rule, rpath)
            if rule is None:
                rule = {}
            ctx.fields(rule, rpath, (peer_key, "ports"))
            peers = []
            for j, peer in enumerate(ctx.sequence(rule.get(peer_key), f"{rpath}.{peer_key}")):
                ppath = f"{rpath}.{peer_key}[{j}]"
                peer = ctx.mapping(peer, ppath)
                if peer is None:
                    continue
                ctx.fields(peer, ppath, ("podSelector", "namespaceSelector", "ipBlock"))
                if not peer:
                    ctx.err(ppath, "must specify a peer", "set podSelector, namespaceSelector or ipBlock")
                if "ipBlock" in peer and len(peer) > 1:
                    ctx.err(ppath, "ipBlock may not be combined with podSelector or namespaceSelector",
                            "split it into two peers")
                peers.append(K8sPeer(_selector(ctx, peer.get("podSelector"), f"{ppath}.podSelector"),
                                     _selector(ctx, peer.get("namespaceSelector"), f"{ppath}.namespaceSelector"),
                                     _ip_block(ctx, peer.get("ipBlock"), f"{ppath}.ipBlock")))
            ports = _ports(ctx, rule.get("ports"), f"{rpath}.ports", antrea=False)
            parsed.append(K8sRule(tuple(peers), ports))
        rules[direction] = tuple(parsed)
    return K8sNetworkPolicy(ctx.namespace, ctx.name, pod_selector, tuple(dict.fromkeys(types)),
                            rules["ingress"], rules["egress"], raw=data)


# ---------------------------------------------------------------------------- Antrea-native


def _namespaced_name(ctx: _Ctx, value: Any, path: str, need_namespace: bool,
                     need_name: bool = True) -> NamespacedName | None:
    """A ``{name, namespace}`` reference (serviceAccount, service, serviceReference)."""
    data = ctx.mapping(value, path)
    if data is None:
        return None
    ctx.fields(data, path, ("name", "namespace"))
    name = ctx.string(data.get("name"), f"{path}.name", required=need_name)
    ns = ctx.string(data.get("namespace"), f"{path}.namespace", required=need_namespace)
    return NamespacedName(name, ns)


SCOPES = ("Cluster", "ClusterSet")  # crdv1beta1.PeerScope


def _scope(ctx: _Ctx, value: Any, path: str, enum: bool = True) -> None:
    """``scope`` of an ingress peer or a toServices entry. A lab is one cluster, not a ClusterSet:
    with the stretched-NetworkPolicy feature off, antrea-controller treats ClusterSet as Cluster
    (crd_utils.go toAntreaPeerForCRD: ``n.stretchNPEnabled && peer.Scope == ClusterSet``)."""
    scope = ctx.enum(value, path, SCOPES) if enum else ctx.string(value, path)
    if scope == "ClusterSet":
        ctx.warn(path, "scope ClusterSet selects across the clusters of a ClusterSet (Antrea Multi-cluster); "
                 "a labkit lab is a single cluster, so it is treated as scope Cluster")
    elif scope and scope not in SCOPES:
        # Only possible in an ANNP's toServices, whose CRD schema has no enum for scope.
        ctx.warn(path, f"scope {scope!r} is neither Cluster nor ClusterSet: Antrea accepts it here and treats "
                 "it as Cluster", "write scope: Cluster, or leave it out")


def _to_services(ctx: _Ctx, value: Any, path: str, cluster: bool) -> tuple[NamespacedName, ...]:
    """``toServices`` entries: name (and, in a ClusterNetworkPolicy, namespace) required; scope."""
    out = []
    for j, entry in enumerate(ctx.sequence(value, path)):
        epath = f"{path}[{j}]"
        data = ctx.mapping(entry, epath)
        if data is None:
            continue
        ctx.fields(data, epath, ("name", "namespace", "scope"))
        name = ctx.string(data.get("name"), f"{epath}.name", required=True)
        ns = ctx.string(data.get("namespace"), f"{epath}.namespace", required=cluster)
        if "scope" in data:
            _scope(ctx, data.get("scope"), f"{epath}.scope", enum=cluster)
        if name:
            out.append(NamespacedName(name, ns))
    return tuple(out)


def _applied_to_fields(cluster: bool, level: str) -> tuple[str, ...]:
    """appliedTo fields of the v1beta1 CRDs (``level``: policy | ingress | egress): a ClusterNetworkPolicy's
    rule-level appliedTo has no nodeSelector, an egress one no service; an Antrea NetworkPolicy's
    has podSelector and group (plus externalEntitySelector at policy level)."""
    if cluster:
        return (("podSelector", "namespaceSelector", "group", "serviceAccount")
                + (("service",) if level != "egress" else ()) + (("nodeSelector",) if level == "policy" else ()))
    return ("podSelector", "group") + (("externalEntitySelector",) if level == "policy" else ())


_APPLIED_TO_HINTS = {
    "namespaceSelector": "an Antrea NetworkPolicy applies only to Pods of its own namespace: use podSelector, "
                         "or a ClusterNetworkPolicy",
    "serviceAccount": "serviceAccount appliedTo is only valid in a ClusterNetworkPolicy",
    "service": "a Service (NodePort) can be the appliedTo of a ClusterNetworkPolicy or of its ingress rules only",
    "nodeSelector": "nodeSelector appliedTo is only valid in a ClusterNetworkPolicy's spec.appliedTo",
    "externalEntitySelector": "externalEntitySelector appliedTo is only valid in an Antrea NetworkPolicy's "
                              "spec.appliedTo",
}


def _applied_to(ctx: _Ctx, value: Any, path: str, cluster: bool, level: str) -> tuple[AppliedTo, ...]:
    out = []
    fields = _applied_to_fields(cluster, level)
    for i, entry in enumerate(ctx.sequence(value, path)):
        epath = f"{path}[{i}]"
        entry = ctx.mapping(entry, epath)
        if entry is None:
            continue
        ctx.fields(entry, epath, fields, _APPLIED_TO_HINTS)
        for only in ("group", "serviceAccount", "service", "nodeSelector"):
            if only in entry and len(entry) > 1:
                ctx.err(epath, f"{only} cannot be set with other fields in the same appliedTo entry",
                        f"put {only} in an appliedTo entry of its own")
        for unsupported in ("service", "nodeSelector", "externalEntitySelector"):
            if unsupported in entry and unsupported in fields:
                ctx.err(f"{epath}.{unsupported}",
                        f"appliedTo.{unsupported} (NodePort Services, Nodes, external entities) is not modelled "
                        "by labkit's pod-to-pod labs",
                        "apply the policy to pods with podSelector/namespaceSelector/group")
        sa = _namespaced_name(ctx, entry.get("serviceAccount"), f"{epath}.serviceAccount", need_namespace=True) \
            if "serviceAccount" in fields else None
        if "service" in entry and "service" in fields:
            _namespaced_name(ctx, entry.get("service"), f"{epath}.service", need_namespace=True)
        out.append(AppliedTo(
            _selector(ctx, entry.get("podSelector"), f"{epath}.podSelector"),
            _selector(ctx, entry.get("namespaceSelector"), f"{epath}.namespaceSelector")
            if "namespaceSelector" in fields else None,
            ctx.string(entry.get("group"), f"{epath}.group"),
            sa,
        ))
    return tuple(out)


def _peer_fields(cluster: bool, egress: bool) -> tuple[str, ...]:
    """from/to peer fields of the v1beta1 CRDs: fqdn only in egress ``to``, scope only in ingress
    ``from``; namespaces and serviceAccount only in a ClusterNetworkPolicy, externalEntitySelector
    only in an Antrea NetworkPolicy."""
    common = ("podSelector", "namespaceSelector", "ipBlock", "group", "nodeSelector")
    scoped = ("namespaces", "serviceAccount") if cluster else ("externalEntitySelector",)
    return common + scoped + (("fqdn",) if egress else ("scope",))


_PEER_HINTS = {
    "fqdn": "fqdn peers are only allowed in egress 'to'",
    "scope": "scope can only be set on ingress 'from' peers (and on toServices)",
    "namespaces": "namespaces (match: Self / sameLabels) is only valid in a ClusterNetworkPolicy; "
                  "use podSelector in an Antrea NetworkPolicy",
    "serviceAccount": "serviceAccount peers are only valid in a ClusterNetworkPolicy",
    "externalEntitySelector": "externalEntitySelector peers are only valid in an Antrea NetworkPolicy",
}
_FQDN_CHARS = re.compile(r"^[-0-9a-zA-Z.*]+$")  # validate.go allowedFQDNChars


def _antrea_peers(ctx: _Ctx, value: Any, path: str, cluster: bool, egress: bool) -> tuple[AntreaPeer, ...]:
    out = []
    fields = _peer_fields(cluster, egress)
    for i, peer in enumerate(ctx.sequence(value, path)):
        ppath = f"{path}[{i}]"
        peer = ctx.mapping(peer, ppath)
        if peer is None:
            continue
        ctx.fields(peer, ppath, fields, _PEER_HINTS)
        for only in ("group", "serviceAccount", "nodeSelector", "fqdn", "ipBlock"):
            if only in peer and only in fields and len(peer) > 1:
                ctx.err(ppath, f"{only} cannot be set with other fields in the same peer",
                        f"put {only} in a peer of its own")
        if "externalEntitySelector" in peer and "externalEntitySelector" in fields:
            ctx.err(f"{ppath}.externalEntitySelector", "external entities are not modelled by labkit")
        if "scope" in peer and "scope" in fields:
            _scope(ctx, peer.get("scope"), f"{ppath}.scope")
        fqdn = ctx.string(peer.get("fqdn"), f"{ppath}.fqdn") if "fqdn" in fields else ""
        if "fqdn" in peer and "fqdn" in fields and not _FQDN_CHARS.match(fqdn):
            ctx.err(f"{ppath}.fqdn", f"invalid characters in egress rule fqdn field: {fqdn!r}",
                    "a DNS name of letters, digits, '-' and '.', with '*' as wildcard")
        match_self = False
        same_labels: tuple[str, ...] = ()
        ns = ctx.mapping(peer.get("namespaces"), f"{ppath}.namespaces") if "namespaces" in fields else None
        if ns is not None:
            if "namespaceSelector" in peer:
                ctx.err(ppath, "namespaces and namespaceSelector cannot be set together in one peer")
            ctx.fields(ns, f"{ppath}.namespaces", ("match", "sameLabels"))
            if "match" in ns and "sameLabels" in ns:
                ctx.err(f"{ppath}.namespaces", "only one of match and sameLabels can be set")
            if "match" in ns:
                match_self = ctx.enum(ns["match"], f"{ppath}.namespaces.match", ("Self",)) == "Self"
            if "sameLabels" in ns:
                keys = ctx.sequence(ns.get("sameLabels"), f"{ppath}.namespaces.sameLabels")
                if not keys:
                    ctx.err(f"{ppath}.namespaces.sameLabels", "must list at least one label key")
                for j, key in enumerate(keys):
                    if problem := label_key_error(key):
                        ctx.err(f"{ppath}.namespaces.sameLabels[{j}]", problem)
                same_labels = tuple(str(k) for k in keys)
        out.append(AntreaPeer(
            pod_selector=_selector(ctx, peer.get("podSelector"), f"{ppath}.podSelector"),
            namespace_selector=_selector(ctx, peer.get("namespaceSelector"), f"{ppath}.namespaceSelector"),
            namespaces_match_self=match_self,
            same_labels=same_labels,
            ip_block=_ip_block(ctx, peer.get("ipBlock"), f"{ppath}.ipBlock"),
            group=ctx.string(peer.get("group"), f"{ppath}.group"),
            service_account=_namespaced_name(ctx, peer.get("serviceAccount"), f"{ppath}.serviceAccount",
                                             need_namespace=True) if "serviceAccount" in fields else None,
            fqdn=fqdn,
            node_selector=_selector(ctx, peer.get("nodeSelector"), f"{ppath}.nodeSelector"),
        ))
    return tuple(out)


def _icmp_protocols(ctx: _Ctx, value: Any, path: str) -> tuple[ICMPSpec, ...]:
    out = []
    for i, entry in enumerate(ctx.sequence(value, path)):
        epath = f"{path}[{i}]"
        entry = ctx.mapping(entry, epath)
        if entry is None:
            continue
        ctx.fields(entry, epath, ("icmp", "igmp"))
        if ("icmp" in entry) == ("igmp" in entry):
            # CRD schema: oneOf [required: [icmp], required: [igmp]]
            ctx.err(epath, "must set exactly one of icmp and igmp", "write {icmp: {icmpType: 8}} (or {icmp: {}})")
        if "igmp" in entry:
            ctx.err(f"{epath}.igmp", "IGMP (multicast) rules are not modelled by labkit")
        icmp = ctx.mapping(entry.get("icmp"), f"{epath}.icmp")
        if "icmp" in entry:
            icmp = icmp or {}
            ctx.fields(icmp, f"{epath}.icmp", ("icmpType", "icmpCode"))
            itype = ctx.integer(icmp.get("icmpType"), f"{epath}.icmp.icmpType", 0, 255)
            icode = ctx.integer(icmp.get("icmpCode"), f"{epath}.icmp.icmpCode", 0, 255)
            if icode is not None and itype is None:
                ctx.err(f"{epath}.icmp.icmpCode", "icmpCode requires icmpType")
            out.append(ICMPSpec(itype, icode))
    return tuple(out)


def generated_rule_name(direction: str, action: str, rule: dict) -> str:
    """A rule name in the format Antrea's mutating webhook generates: ``<dir>-<action>-<7 hex>``.

    Antrea hashes the rule's spec; we hash a canonical JSON of the rule as written, so the name is
    stable for the same rule (the exact hex differs from a real cluster's).
    """
    digest = hashlib.sha1(json.dumps(rule, sort_keys=True, default=str).encode()).hexdigest()
    return f"{direction}-{action.lower()}-{digest[:7]}"


_RULE_HINTS = {
    "ingress": {"toServices": "toServices is only allowed in egress rules",
                "to": "an ingress rule selects its sources with 'from'"},
    "egress": {"from": "an egress rule selects its destinations with 'to'"},
}
_LOG_LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")  # CRD pattern of logLabel


def _parse_antrea_policy(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> AntreaPolicy:
    cluster = ctx.kind == ACNP
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    ctx.fields(spec, "spec", ("tier", "priority", "appliedTo", "ingress", "egress"))
    tier = ctx.string(spec.get("tier"), "spec.tier") or DEFAULT_TIER_NAME
    priority = spec.get("priority")
    if priority is None:
        ctx.err("spec.priority", "is required", "set a number from 1 to 10000; lower is evaluated first")
        priority = 0.0
    elif isinstance(priority, bool) or not isinstance(priority, (int, float)):
        ctx.err("spec.priority", f"must be a number, got {type_name(priority)}")
        priority = 0.0
    elif not 1.0 <= priority <= 10000.0:
        # CRD schema: minimum 1.0, maximum 10000.0.
        ctx.err("spec.priority", f"must be between 1 and 10000, got {priority}")
    applied_to = _applied_to(ctx, spec.get("appliedTo"), "spec.appliedTo", cluster, "policy")
    has_spec_applied_to = bool(spec.get("appliedTo"))
    rules: dict[str, tuple[AntreaRule, ...]] = {}
    names: dict[str, str] = {}
    rules_with_applied_to = rules_total = 0
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        parsed = []
        for i, rule in enumerate(ctx.sequence(spec.get(direction), f"spec.{direction}")):
            rpath = f"spec.{direction}[{i}]"
            rule = ctx.mapping(rule, rpath)
            if rule is None:
                continue
            rules_total += 1
            ctx.fields(rule, rpath, ("action", "name", peer_key, "ports", "protocols", "appliedTo", "enableLogging",
                                     "logLabel", "l7Protocols") + (("toServices",) if direction == "egress" else ()),
                       _RULE_HINTS[direction])
            action = ctx.string(rule.get("action"), f"{rpath}.action", required=True)
            if action and action not in ACTIONS:
                ctx.err(f"{rpath}.action", f"unsupported action {action!r}", f"use one of {', '.join(ACTIONS)}")
            if action == "Pass" and tier == BASELINE_TIER_NAME:
                ctx.err(f"{rpath}.action", "Pass is not allowed for rules of policies in the baseline tier",
                        "use Allow or Drop, or move the policy to another tier")
            if "l7Protocols" in rule:
                ctx.err(f"{rpath}.l7Protocols", "L7 (HTTP/TLS) rules are not modelled by labkit")
            if "toServices" in rule and direction == "egress":
                for other in (peer_key, "ports", "protocols"):
                    if rule.get(other):
                        ctx.err(rpath, f"toServices cannot be used with {other}",
                                "write a separate rule for the other peers")
            name = ctx.string(rule.get("name"), f"{rpath}.name")
            if not name:
                name = generated_rule_name(direction, action, rule)
                if name in names:  # two identical unnamed rules: keep both, with distinct names
                    name = f"{name}-{i}"
            elif name in names:
                ctx.err(f"{rpath}.name", f"rule name {name!r} is already used by {names[name]}",
                        "give every rule of a policy a unique name")
            names[name] = rpath
            rule_applied_to = _applied_to(ctx, rule.get("appliedTo"), f"{rpath}.appliedTo", cluster, direction)
            if rule.get("appliedTo"):
                rules_with_applied_to += 1
                if has_spec_applied_to:
                    ctx.err(f"{rpath}.appliedTo", "appliedTo cannot be set in both spec and rules",
                            "remove either spec.appliedTo or every rule's appliedTo")
            to_services = _to_services(ctx, rule.get("toServices"), f"{rpath}.toServices", cluster) \
                if direction == "egress" else ()
            log_label = ctx.string(rule.get("logLabel"), f"{rpath}.logLabel")
            if log_label and not _LOG_LABEL.match(log_label):
                ctx.err(f"{rpath}.logLabel", f"logLabel {log_label!r} must be at most 63 characters of letters, "
                        "digits, '-', '_' or '.', starting and ending with a letter or digit")
            enable_logging = rule.get("enableLogging", False)
            if not isinstance(enable_logging, bool):
                ctx.err(f"{rpath}.enableLogging", f"must be true or false, got {type_name(enable_logging)}")
                enable_logging = False
            parsed.append(AntreaRule(
                action=action,
                name=name,
                peers=_antrea_peers(ctx, rule.get(peer_key), f"{rpath}.{peer_key}", cluster, direction == "egress"),
                ports=_ports(ctx, rule.get("ports"), f"{rpath}.ports", antrea=True),
                protocols=_icmp_protocols(ctx, rule.get("protocols"), f"{rpath}.protocols"),
                to_services=to_services,
                applied_to=rule_applied_to,
                enable_logging=enable_logging,
                log_label=log_label,
            ))
        rules[direction] = tuple(parsed)
    if not has_spec_applied_to and rules_with_applied_to == 0:
        ctx.err("spec.appliedTo", "appliedTo must be set in spec or in every rule",
                "add spec.appliedTo, e.g. [{podSelector: {}}]")
    elif not has_spec_applied_to and rules_with_applied_to != rules_total:
        ctx.err("spec", "appliedTo must be set in every rule once one rule sets it",
                "add appliedTo to every rule, or move it to spec.appliedTo")
    return AntreaPolicy(ctx.kind, ctx.namespace if not cluster else "", ctx.name, tier, float(priority),
                        applied_to, rules["ingress"], rules["egress"], raw=data)


def _parse_tier(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> Tier:
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    ctx.fields(spec, "spec", ("priority", "description"))
    priority = ctx.integer(spec.get("priority"), "spec.priority", 0, 255)
    if spec.get("priority") is None:
        ctx.err("spec.priority", "is required", "pick an unused priority below 250 (lower is evaluated first)")
    description = ctx.string(spec.get("description"), "spec.description")
    return Tier(ctx.name, priority if priority is not None else -1, description, raw=data)


def _parse_group(ctx: _Ctx, data: dict, labels: dict, annotations: dict) -> Group:
    cluster = ctx.kind == "ClusterGroup"
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    # v1beta1 schemas: the singular ipBlock of v1alpha2/3 ClusterGroups is gone; only a
    # ClusterGroup has nodeSelector.
    allowed = ("podSelector", "namespaceSelector", "ipBlocks", "serviceReference", "childGroups",
               "externalEntitySelector") + (("nodeSelector",) if cluster else ())
    ctx.fields(spec, "spec", allowed, {
        "ipBlock": "v1beta1 groups have no singular ipBlock: write ipBlocks: [{cidr: ...}]",
        "nodeSelector": "only a ClusterGroup can select Nodes"})
    blocks = [b for i, raw in enumerate(ctx.sequence(spec.get("ipBlocks"), "spec.ipBlocks"))
              if (b := _ip_block(ctx, raw, f"spec.ipBlocks[{i}]"))]
    children = [name for i, c in enumerate(ctx.sequence(spec.get("childGroups"), "spec.childGroups"))
                if (name := ctx.string(c, f"spec.childGroups[{i}]"))]
    kinds = [name for name, present in (
        ("selectors", "podSelector" in spec or "namespaceSelector" in spec or "externalEntitySelector" in spec),
        ("ipBlocks", bool(blocks)),
        ("serviceReference", "serviceReference" in spec),
        ("childGroups", bool(children)),
        ("nodeSelector", "nodeSelector" in spec),
    ) if present]
    if len(kinds) > 1:
        # Antrea's group validation: at most one of selectors, ipBlocks, serviceReference, childGroups.
        ctx.err("spec", f"a {ctx.kind} may use only one way to select members, got {', '.join(kinds)}",
                "split it into several groups and combine them with childGroups")
    if ctx.name in children:
        ctx.err("spec.childGroups", f"{ctx.kind} {ctx.name!r} cannot be a child of itself")
    for unsupported in ("externalEntitySelector", "nodeSelector"):
        if unsupported in spec and unsupported in allowed:
            ctx.err(f"spec.{unsupported}", f"{unsupported} is not modelled by labkit")
    # labkit requires the namespace of a ClusterGroup's serviceReference (Antrea's schema does not,
    # and finds no Service without one).
    svc = _namespaced_name(ctx, spec.get("serviceReference"), "spec.serviceReference", need_namespace=cluster)
    if svc is not None and not cluster:
        svc = NamespacedName(svc.name, svc.namespace or ctx.namespace)
        if svc.namespace != ctx.namespace:
            ctx.err("spec.serviceReference.namespace", "a Group can only reference Services of its own namespace")
    return Group(
        ctx.kind, "" if cluster else ctx.namespace, ctx.name,
        _selector(ctx, spec.get("podSelector"), "spec.podSelector"),
        _selector(ctx, spec.get("namespaceSelector"), "spec.namespaceSelector"),
        tuple(blocks), svc, tuple(children), raw=data,
    )


_PARSERS: dict[tuple[str, str], Callable[[_Ctx, dict, dict, dict], AnyObject]] = {
    ("", "Namespace"): _parse_namespace,
    ("", "Node"): _parse_node,
    ("", "Pod"): _parse_pod,
    ("", "Service"): _parse_service,
    ("apps", "Deployment"): _parse_deployment,
    ("networking.k8s.io", "NetworkPolicy"): _parse_k8s_np,
    (ANTREA_GROUP, "ClusterNetworkPolicy"): _parse_antrea_policy,
    (ANTREA_GROUP, "NetworkPolicy"): _parse_antrea_policy,
    (ANTREA_GROUP, "Tier"): _parse_tier,
    (ANTREA_GROUP, "ClusterGroup"): _parse_group,
    (ANTREA_GROUP, "Group"): _parse_group,
}
