"""Server-side printing: the ``meta.k8s.io/v1`` Table ``kubectl get`` asks for.

Built-in kinds print the columns of kubernetes ``pkg/printers/internalversion/printers.go``
(``AddHandlers``; priority 1 = ``-o wide`` only); Antrea's CRDs print ``Name`` plus their
``additionalPrinterColumns`` read by JSONPath, cells converted as the CRD apiserver's
``tableconvertor.cellForJSONValue`` does (reference kubectl-api.md §2). Ages are computed here,
as the server does, with apimachinery's ``HumanDuration``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .resources import Column, Resource

NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. Is required when creating resources, although some "
                       "resources may allow a client to request the generation of an appropriate name automatically. "
                       "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
                       "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"}


def human_duration(seconds: float) -> str:
    """apimachinery ``pkg/util/duration/duration.go`` HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    seconds = max(0, int(seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m{s}s" if s else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        m = minutes % 60
        return f"{hours}h{m}m" if m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        h = hours % 24
        return f"{days}d{h}h" if h else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        d = days % 365
        return f"{years}y{d}d" if d else f"{years}y"
    return f"{years}y"


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return "<invalid>"
    return human_duration((dt.datetime.now(dt.timezone.utc) - then).total_seconds())


def _get(obj: Any, path: str) -> Any:
    for part in path.strip(".").split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _col(name: str, description: str = "", priority: int = 0, type_: str = "string") -> dict:
    return {"name": name, "type": type_, "format": "", "description": description, "priority": priority}


def _selector_text(selector: Any) -> str:
    if not isinstance(selector, dict) or not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        op = e.get("operator", "")
        if op in ("In", "NotIn"):
            parts.append(f"{e.get('key')} {op.lower()} ({','.join(e.get('values') or [])})")
        elif op == "Exists":
            parts.append(e.get("key", ""))
        else:
            parts.append(f"!{e.get('key', '')}")
    return ",".join(parts) or "<none>"


# kind -> (extra columns after Name, cell function)
def _pod(o: dict) -> list:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    return [f"{ready}/{len(spec.get('containers') or [])}", status.get("phase", ""), "0",
            age(o["metadata"].get("creationTimestamp")), status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", "<none>", "<none>"]


def _node(o: dict) -> list:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "Unknown")
    text = "Ready" if ready == "True" else "NotReady"
    if spec.get("unschedulable"):
        text += ",SchedulingDisabled"
    labels = o["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or ["<none>"]
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [text, ",".join(roles), age(o["metadata"].get("creationTimestamp")), info.get("kubeletVersion", ""),
            addresses.get("InternalIP", "<none>"), addresses.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _service(o: dict) -> list:
    spec = o.get("spec") or {}
    ports = []
    for p in spec.get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        ports.append(f"{text}/{p.get('protocol', 'TCP')}")
    selector = spec.get("selector") or {}
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", "<none>", ",".join(ports) or "<none>",
            age(o["metadata"].get("creationTimestamp")),
            ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"]


def _endpoints(o: dict) -> list:
    pairs = [f"{a.get('ip')}:{p.get('port')}" for s in o.get("subsets") or [] for a in s.get("addresses") or []
             for p in s.get("ports") or [{}]]
    text = ",".join(pairs[:3]) + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")
    return [text or "<none>", age(o["metadata"].get("creationTimestamp"))]


def _endpointslice(o: dict) -> list:
    ports = ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [o.get("addressType", ""), ports, text or "<unset>", age(o["metadata"].get("creationTimestamp"))]


def _deployment(o: dict) -> list:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", str(status.get("updatedReplicas", 0)),
            str(status.get("availableReplicas", 0)), age(o["metadata"].get("creationTimestamp")),
            ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            _selector_text(spec.get("selector"))]


BUILTIN: dict[str, tuple[list[dict], Any]] = {
    "Pod": ([_col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
             _col("Status", "The aggregate status of the containers in this pod."),
             _col("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                              "container in this pod has restarted."),
             _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was created."),
             _col("IP", "IP address allocated to the pod. Routable at least within the cluster.", 1),
             _col("Node", "NodeName is a request to schedule this pod onto a specific node.", 1),
             _col("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
             _col("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", 1)],
            _pod),
    "Node": ([_col("Status", "The status of the node"), _col("Roles", "The roles of the node"),
              _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was created."),
              _col("Version", "Kubelet Version reported by the node."),
              _col("Internal-IP", "List of addresses reachable to the node.", 1),
              _col("External-IP", "List of addresses reachable to the node.", 1),
              _col("OS-Image", "OS Image reported by the node from /etc/os-release.", 1),
              _col("Kernel-Version", "Kernel Version reported by the node from 'uname -r'.", 1),
              _col("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API.", 1)],
             _node),
    "Namespace": ([_col("Status", "The status of the namespace"),
                   _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was "
                               "created.")],
                  lambda o: [(o.get("status") or {}).get("phase", ""), age(o["metadata"].get("creationTimestamp"))]),
    "Service": ([_col("Type", "The type of the service."), _col("Cluster-IP", "The cluster IP of the service."),
                 _col("External-IP", "The external IP of the service."),
                 _col("Port(s)", "The ports of the service."),
                 _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was "
                             "created."),
                 _col("Selector", "Route service traffic to pods with label keys and values matching this selector.",
                      1)], _service),
    "Endpoints": ([_col("Endpoints", "Endpoints of the service."),
                   _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was "
                               "created.")], _endpoints),
    "EndpointSlice": ([_col("AddressType", "The type of address carried by this EndpointSlice."),
                       _col("Ports", "Ports of the EndpointSlice."), _col("Endpoints", "Endpoints of the slice."),
                       _col("Age", "CreationTimestamp is a timestamp representing the server time when this object "
                                   "was created.")], _endpointslice),
    "Deployment": ([_col("Ready", "Number of the pod with ready state"),
                    _col("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the "
                                       "desired template spec."),
                    _col("Available", "Total number of available pods (ready for at least minReadySeconds) targeted "
                                      "by this deployment."),
                    _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was "
                                "created."),
                    _col("Containers", "Names of each container in the template.", 1),
                    _col("Images", "Images referenced by each container in the template.", 1),
                    _col("Selector", "Label selector for pods.", 1)], _deployment),
    "NetworkPolicy": ([_col("Pod-Selector", "Selects the pods to which this NetworkPolicy object applies."),
                       _col("Age", "CreationTimestamp is a timestamp representing the server time when this object "
                                   "was created.")],
                      lambda o: [_selector_text((o.get("spec") or {}).get("podSelector")),
                                 age(o["metadata"].get("creationTimestamp"))]),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
              lambda o: ["", o.get("type", ""), o.get("reason", ""), "", o.get("message", "")]),
}


def _crd_column(c: Column) -> dict:
    return {"name": c.name, "type": c.type, "format": c.format, "priority": c.priority,
            "description": c.description or f"Custom resource definition column (in JSONPath format): {c.json_path}"}


def _crd_cell(c: Column, obj: dict) -> Any:
    value = _get(obj, c.json_path)
    if value is None:
        return None
    if c.type == "date":
        return age(value) if isinstance(value, str) else "<invalid>"
    if c.type == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if c.type == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if c.format == "float" else value
    if c.type == "boolean":
        return value if isinstance(value, bool) else None
    return value if isinstance(value, str) else str(value)


def column_definitions(resource: Resource) -> list[dict]:
    if resource.kind in BUILTIN and not resource.is_crd:
        return [NAME] + BUILTIN[resource.kind][0]
    return [NAME] + [_crd_column(c) for c in resource.columns]


def row(resource: Resource, obj: dict, include_object: str = "Metadata") -> dict:
    meta = obj.get("metadata") or {}
    if resource.kind in BUILTIN and not resource.is_crd:
        cells = [meta.get("name", "")] + BUILTIN[resource.kind][1](obj)
    else:
        cells = [meta.get("name", "")] + [_crd_cell(c, obj) for c in resource.columns]
    out: dict = {"cells": cells}
    if resource.kind == "Pod" and (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        out["conditions"] = [{"type": "Completed", "status": "True"}]
    if include_object == "Object":
        out["object"] = obj
    elif include_object != "None":
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    return out


def table(resource: Resource, objects: list[dict], resource_version: int, include_object: str = "Metadata",
          headers: bool = True) -> dict:
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(resource_version)},
            "columnDefinitions": column_definitions(resource) if headers else None,
            "rows": [row(resource, o, include_object) for o in objects]}
