"""A real cluster's objects, offline: what ``kubectl get ... -A -o yaml`` (or ``-o json``) prints.

::

    kubectl get namespaces,nodes,pods,services,networkpolicies,clusternetworkpolicies,\\
        networkpolicies.crd.antrea.io,tiers,clustergroups,groups -A -o yaml > cluster.yaml

:func:`load_snapshot` turns that ``List`` into objects a lab applies, keeping each Pod on its node
with its IP (``spec.nodeName``, ``status.podIP``; handed to the lab as allocation hints, so
nothing is re-allocated, even an IP outside the node's podCIDR). The snapshot is read as a real
API server's output, not as a manifest someone wrote:

* kinds labkit does not model (ReplicaSets, Endpoints, CRDs of other projects ...) are skipped
  and counted; so are Deployments, whose Pods are already in the snapshot;
* the server's bookkeeping (``managedFields``, ``resourceVersion``, ``uid``,
  ``creationTimestamp``, ``kubectl.kubernetes.io/last-applied-configuration``, ``status`` of
  everything but Pods and Nodes) is dropped; of Pods and Nodes only what the policy model reads is
  kept (a Pod's containers' ports, node, service account, IP and phase; a Node's podCIDR, taints
  and addresses), the rest is dropped and counted by field;
* a field labkit's validation does not know (a newer API's field) is dropped and counted instead
  of failing the object; an object that still cannot be modelled (e.g. an L7 rule) is skipped and
  listed with the reason;
* Antrea's static Tiers are built into every lab: the snapshot's copies are skipped.

Pods, as antrea-controller treats them (pkg/controller/networkpolicy/crd_utils.go
``AddressGroupExcludedPodFilter``; networkpolicy_controller.go ``syncAppliedToGroup``):

* ``hostNetwork: true`` Pods share their Node's network namespace: no podSelector selects them
  (their address can only be selected with a nodeSelector) and no policy applies to them, so they
  are not part of the Pod network labkit models: skipped and listed;
* terminated Pods (phase ``Succeeded`` / ``Failed``, e.g. a ``Completed`` Job) have given their IP
  back and are excluded from every group: skipped;
* Pods without an IP yet (``Pending``: not scheduled, or ContainerCreating) cannot send or
  receive, and are in no address group: skipped;
* every other Pod (``Running``, also one being deleted) is kept with its node and IP. Only the
  primary ``status.podIP`` is kept (labkit models one address per Pod).

Nodes and Namespaces that Pods refer to but the snapshot lacks are created (and counted), so a
snapshot of a few namespaces still loads.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ManifestError, NotFoundError, Problem
from .objects import ANTREA_GROUP, DEFAULT_TIERS, AnyObject, AntreaPolicy
from .parse import SUPPORTED, parse_document
from .yamlsrc import Document, load_fast

# What a snapshot object keeps (the rest is the server's, or not modelled): None = everything below.
_METADATA = ("name", "namespace", "labels", "annotations")
_KEEP: dict[str, dict[str, Any]] = {
    "Pod": {"spec": {"nodeName": None, "serviceAccountName": None, "hostNetwork": None,
                     "containers": {"name": None, "image": None, "ports": None}},
            "status": {"phase": None, "podIP": None, "podIPs": None, "hostIP": None}},
    "Node": {"spec": {"podCIDR": None, "taints": None}, "status": {"addresses": None}},
    "Namespace": {},
}
_NO_STATUS = {"Service", "NetworkPolicy", "ClusterNetworkPolicy", "Tier", "ClusterGroup", "Group"}
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_INDEX = re.compile(r"\[\d+\]")
_KIND_NAMES = {("networking.k8s.io", "NetworkPolicy"): "K8s NetworkPolicy",
               (ANTREA_GROUP, "NetworkPolicy"): "Antrea NetworkPolicy"}


@dataclass
class SnapshotReport:
    """What a snapshot brought into the lab, and what it left out (and why)."""

    source: str
    loaded: Counter = field(default_factory=Counter)  # kind -> objects loaded
    skipped_kinds: Counter = field(default_factory=Counter)  # "apiVersion kind" -> objects skipped
    dropped_fields: Counter = field(default_factory=Counter)  # "Kind field.path" -> objects it was dropped from
    skipped_pods: dict[str, list[str]] = field(default_factory=dict)  # reason -> pod keys
    not_modelled: list[str] = field(default_factory=list)  # objects skipped, with the reason
    built_in: list[str] = field(default_factory=list)  # static Tiers (every lab has them)
    created: list[str] = field(default_factory=list)  # Nodes / Namespaces Pods needed

    def lines(self) -> list[str]:
        loaded = ", ".join(f"{kind} {n}" for kind, n in sorted(self.loaded.items()))
        out = [f"{self.source}: loaded {loaded or 'nothing'}"]
        if self.skipped_kinds:
            out.append("skipped kinds labkit does not model: " + ", ".join(
                f"{kind} ({n})" for kind, n in self.skipped_kinds.most_common()))
        for reason, pods in self.skipped_pods.items():
            shown = ", ".join(pods[:5]) + (f" and {len(pods) - 5} more" if len(pods) > 5 else "")
            out.append(f"skipped {len(pods)} pod{'s' if len(pods) != 1 else ''} ({reason}): {shown}")
        if self.dropped_fields:
            top = self.dropped_fields.most_common(6)
            more = len(self.dropped_fields) - len(top)
            out.append(f"dropped {len(self.dropped_fields)} fields labkit does not model: "
                       + ", ".join(f"{f} ({n})" for f, n in top) + (f" and {more} more" if more > 0 else ""))
        out += [f"not modelled, skipped: {item}" for item in self.not_modelled]
        if self.created:
            out.append("created because pods refer to them: " + ", ".join(self.created))
        if self.built_in:
            out.append(f"built in (not loaded): static tiers {', '.join(self.built_in)}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class Snapshot:
    """Objects to apply (in order), where each Pod lives, and the report."""

    items: list[tuple[AnyObject, Document]]
    allocations: dict[str, tuple[str, str]]
    report: SnapshotReport


# ---------------------------------------------------------------------------- reading


def read_snapshot(source: str | os.PathLike) -> tuple[list[dict], str]:
    """The items of a snapshot file (YAML or JSON; a ``List`` or several documents)."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise NotFoundError(f"snapshot file {str(source)!r} not found; write one with: kubectl get namespaces,nodes,"
                            "pods,services,networkpolicies,clusternetworkpolicies,networkpolicies.crd.antrea.io,"
                            "tiers,clustergroups,groups -A -o yaml > cluster.yaml")
    text = path.read_text()
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else load_fast(text)
    except (ValueError, yaml.YAMLError) as exc:  # json.JSONDecodeError is a ValueError
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ManifestError(Problem(f"not valid YAML or JSON ({getattr(exc, 'problem', None) or exc})",
                                    source=where, hint="pass the file kubectl get ... -o yaml wrote")) from exc
    documents = data if isinstance(data, list) else [data]
    items: list[dict] = []
    for doc in documents:
        if isinstance(doc, dict) and isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
            items += [i for i in doc["items"] if isinstance(i, dict)]  # List, PodList ...
        elif isinstance(doc, dict):
            items.append(doc)
    return items, str(source)


# ---------------------------------------------------------------------------- pruning


def _prune(data: dict, keep: dict[str, Any], path: str, dropped: set[str]) -> dict:
    out = {}
    for key, value in data.items():
        if key not in keep:
            dropped.add(f"{path}.{key}" if path else key)
        elif keep[key] is None:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = _prune(value, keep[key], f"{path}.{key}" if path else key, dropped)
        elif isinstance(value, list):
            out[key] = [_prune(v, keep[key], f"{path}.{key}" if path else key, dropped) if isinstance(v, dict) else v
                        for v in value]
        else:
            out[key] = value
    return out


def _slim(item: dict, kind: str, dropped: set[str]) -> dict:
    """The object without the server's bookkeeping, and (Pods, Nodes, Namespaces) only what labkit reads."""
    meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    slim = {k: v for k, v in item.items() if k not in ("metadata", "status")}
    slim["metadata"] = {k: v for k, v in meta.items() if k in _METADATA}
    annotations = slim["metadata"].get("annotations")
    if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
        slim["metadata"]["annotations"] = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
    if kind in _KEEP:
        for part in ("spec", "status"):
            if part in item and isinstance(item[part], dict):
                if part in _KEEP[kind]:
                    slim[part] = _prune(item[part], _KEEP[kind][part], part, dropped)
                else:
                    dropped.add(part)
            elif part in slim:
                del slim[part]
    elif "status" in item and kind not in _NO_STATUS:
        slim["status"] = item["status"]
    return slim


def _delete_path(data: Any, path: str) -> bool:
    """Remove the field at a kubectl-style path (``spec.ingress[0].foo``) from nested data."""
    tokens = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = data
    for token in tokens[:-1]:
        if token.startswith("["):
            index = int(token[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return False
            node = node[index]
        else:
            if not isinstance(node, dict) or token not in node:
                return False
            node = node[token]
    last = tokens[-1] if tokens else ""
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


# ---------------------------------------------------------------------------- loading


def _pod_skip_reason(item: dict) -> str:
    spec = item.get("spec") if isinstance(item.get("spec"), dict) else {}
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    if spec.get("hostNetwork"):
        return "hostNetwork: no podSelector selects them, no policy applies to them"
    if status.get("phase") in ("Succeeded", "Failed"):
        return "terminated (Succeeded/Failed): their IPs are released"
    if not status.get("podIP"):
        return "no IP yet (Pending): they cannot send or receive"
    if not spec.get("nodeName"):
        return "not scheduled"
    return ""


def _parse(doc: Document, kind: str, report: SnapshotReport) -> AnyObject | None:
    """Parse one object. Fields validation does not know are dropped (and counted) and the object
    is parsed again; an object with other problems is skipped and listed."""
    problems: list[Problem] = []
    for _ in range(4):
        obj, problems = parse_document(doc)
        if not problems:
            return obj
        unknown = [p for p in problems if p.message.startswith("unknown field ")]
        if not unknown:
            break
        for p in unknown:
            if _delete_path(doc.data, p.path):
                report.dropped_fields[f"{kind} {_INDEX.sub('[]', p.path)}"] += 1
    meta = doc.data.get("metadata") or {}
    who = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name", "?"))
    report.not_modelled.append(f"{kind} {who}: " + "; ".join(f"{p.path}: {p.message}" if p.path else p.message
                                                            for p in problems))
    return None


def load_snapshot(source: str | os.PathLike) -> Snapshot:
    """Read a snapshot file into objects to apply, allocation hints and a report (see the module doc)."""
    raw_items, name = read_snapshot(source)
    report = SnapshotReport(name)
    static_tiers = {t.name for t in DEFAULT_TIERS}
    items: list[tuple[AnyObject, Document]] = []
    allocations: dict[str, tuple[str, str]] = {}
    node_ips: dict[str, str] = {}
    for index, item in enumerate(raw_items):
        api_version, kind = str(item.get("apiVersion", "")), str(item.get("kind", ""))
        group = api_version.rpartition("/")[0]
        if (group, kind) not in SUPPORTED or (group, kind) == ("apps", "Deployment"):
            report.skipped_kinds[f"{api_version} {kind}"] += 1
            continue
        meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        if (group, kind) == (ANTREA_GROUP, "Tier") and meta.get("name") in static_tiers:
            report.built_in.append(str(meta.get("name")))
            continue
        if kind == "Pod":
            reason = _pod_skip_reason(item)
            if reason:
                report.skipped_pods.setdefault(reason, []).append(f"{meta.get('namespace', 'default')}/{meta.get('name')}")
                continue
        dropped: set[str] = set()
        slim = _slim(item, kind, dropped)
        for path in dropped:
            report.dropped_fields[f"{kind} {path}"] += 1
        doc = Document(data=slim, source=name, index=index)
        obj = _parse(doc, kind, report)
        if obj is None:
            continue
        if kind == "Pod":
            allocations[obj.key] = (obj.node_name, obj.pod_ip)
            node_ips.setdefault(obj.node_name, str((item.get("status") or {}).get("hostIP") or ""))
        items.append((obj, doc))
    items = _complete(items, node_ips, name, report)
    for obj, _ in items:
        report.loaded[_KIND_NAMES.get((obj.ref.group, obj.ref.kind), obj.ref.kind)] += 1
    return Snapshot(items, allocations, report)


def _complete(items: list[tuple[AnyObject, Document]], node_ips: dict[str, str], source: str,
              report: SnapshotReport) -> list[tuple[AnyObject, Document]]:
    """Add the Nodes and Namespaces Pods refer to but the snapshot lacks; skip policies whose Tier
    is missing (Antrea's webhook would not have admitted them)."""
    kinds = {(obj.ref.kind, obj.ref.name) for obj, _ in items}
    tiers = {t.name for t in DEFAULT_TIERS} | {name for kind, name in kinds if kind == "Tier"}
    extra: list[dict] = []
    for node, ip in sorted(node_ips.items()):
        if ("Node", node) not in kinds:
            extra.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
                          **({"status": {"addresses": [{"type": "InternalIP", "address": ip}]}} if ip else {})})
            report.created.append(f"node/{node}")
    namespaces = sorted({obj.ref.namespace for obj, _ in items if obj.ref.namespace})
    for ns in namespaces:
        if ("Namespace", ns) not in kinds:
            extra.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            report.created.append(f"namespace/{ns}")
    out = []
    for data in extra:
        obj, problems = parse_document(Document(data=data, source=source))
        if obj is not None:
            out.append((obj, Document(data=data, source=source)))
    for obj, doc in items:
        if isinstance(obj, AntreaPolicy) and obj.tier not in tiers:
            report.not_modelled.append(f"{obj.ref}: tier {obj.tier!r} is not in the snapshot")
            continue
        out.append((obj, doc))
    return out


__all__ = ["Snapshot", "SnapshotReport", "load_snapshot", "read_snapshot"]
