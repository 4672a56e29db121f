"""Cluster control planes: registering an Antrea cluster, its health, deregistering it.

Routes under ``/policy/api/v1/infra/sites/default/enforcement-points/default/`` (nsx.md §2.4-2.7,
vsphere-automation-sdk-go ``ClusterControlPlanesTypes.go``):

- ``cluster-control-planes`` GET list; ``cluster-control-planes/{id}`` GET, PUT (200), DELETE
  with ``?cascade=true``. There is no PATCH for this object.
- PUT registers: ``certificate`` is required at creation; its CN must equal the id (== PI name ==
  clusterName); ``node_id`` (the cluster UUID) is assigned by NSX unless given (nsx-operator passes
  the old one when restoring); ``node_type`` ANTREA_NODE (default) or BM_NODE; both
  ``ClusterControlPlane`` and ``AntreaClusterControlPlane`` are accepted as resource_type. The
  same certificate on a second cluster fails with "certificate conflict with clusterControlPlane
  node id <uuid>" (Broadcom KB 345885).
- ``cluster-control-planes/{id}/status`` (AntreaClusterInfo) and ``cluster-control-planes-status``;
  ``cluster-control-planes/{id}/heartbeat-config`` GET/PUT/PATCH ``{report_interval}`` (60..600 s,
  default 60). No heartbeat for 3 x report_interval -> component status UNKNOWN (nsx.md §2.5).
- DELETE without cascade refuses while policies still apply to the cluster (400/500030). With
  ``cascade=true`` it also removes the cluster's inventory, status, realization reports,
  statistics, traceflows and flow records, and takes the cluster out of every policy's scope (what the
  deregister Job achieves, nsx.md §2.7).

The adapter's heartbeat (labkit route, nsx.md §10):
``PUT /labkit/v1/infra/sites/default/enforcement-points/default/cluster-control-planes/{id}/status``
with ``{controller_status, mp_adapter_status, ccp_adapter_status, agent_info}``.
"""

from __future__ import annotations

import uuid
from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.certs import parse_certificate
from labkit.nsx.manager.clusters import require_owner
from labkit.nsx.manager.errors import CertificateError, ErrorCode
from labkit.nsx.manager.inventory_api import delete_cluster_inventory
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import (
    bad_request,
    check_protection,
    list_response,
    not_found,
    prepare,
    public,
    stamp,
)
from labkit.nsx.manager.flows_api import forget_cluster_flows
from labkit.nsx.manager.realization import forget_cluster
from labkit.nsx.manager.span import all_policies, referrers, span_children
from labkit.nsx.manager.state import ManagerState
from labkit.nsx.manager.statistics_api import forget_cluster_statistics

NODE_TYPES = ("ANTREA_NODE", "BM_NODE")
COMPONENTS = ("controller_status", "mp_adapter_status", "ccp_adapter_status")
COMPONENT_STATUSES = ("HEALTHY", "DEGRADED", "FAILED", "UNKNOWN")
DEFAULT_REPORT_INTERVAL_S = 60


def _site(req: Request) -> None:
    if req.params.get("site") != "default" or req.params.get("ep") != "default":
        raise not_found(f"/infra/sites/{req.params.get('site')}/enforcement-points/{req.params.get('ep')}")


def _ccp_or_404(state: ManagerState, ccp_id: str) -> dict[str, Any]:
    path = paths.ccp_path(ccp_id)
    ccp = state.store.get(path)
    if ccp is None:
        raise not_found(path)
    return ccp


def list_ccps(state: ManagerState, req: Request) -> dict[str, Any]:
    _site(req)
    return list_response(state.store.list(paths.CLUSTER_CONTROL_PLANES), req.query)


def get_ccp(state: ManagerState, req: Request) -> dict[str, Any]:
    _site(req)
    return public(_ccp_or_404(state, req.params["ccp_id"]))


def put_ccp(state: ManagerState, req: Request) -> dict[str, Any]:
    _site(req)
    principal = req.principal
    assert principal is not None
    ccp_id = req.params["ccp_id"]
    require_owner(principal, ccp_id, "register the cluster control plane")
    path = paths.ccp_path(ccp_id)
    new, old = prepare(state, path=path, body=req.json_object(), mode="PUT", principal=principal,
                       allow_overwrite=req.allow_overwrite, resource_type="ClusterControlPlane",
                       accepted_types=("AntreaClusterControlPlane",),
                       defaults={"node_type": "ANTREA_NODE"})
    problems = []
    if new.get("node_type") not in NODE_TYPES:
        problems.append(f"node_type {new.get('node_type')!r} must be one of {', '.join(NODE_TYPES)}")
    certificate = new.get("certificate") or (old or {}).get("certificate")
    fingerprint = ""
    if not certificate:
        problems.append("certificate is required: the PEM certificate of the cluster's principal identity")
    else:
        try:
            info = parse_certificate(certificate)
        except CertificateError as exc:
            problems.append(f"certificate: {exc}")
        else:
            fingerprint = info.fingerprint_sha256
            _check_certificate_conflict(state, ccp_id, fingerprint)
            if info.common_name != ccp_id:
                problems.append(
                    f"certificate CN {info.common_name!r} must equal the cluster control plane id "
                    f"{ccp_id!r} (and the principal identity name, and clusterName)"
                )
    if problems:
        raise bad_request(f"Invalid cluster control plane {path}: " + "; ".join(problems))
    new["certificate"] = certificate
    new["node_id"] = (old or {}).get("node_id") or new.get("node_id") or str(uuid.uuid4())
    new["_labkit_fingerprint"] = fingerprint
    state.store.put(path, new)
    return public(new)


def _check_certificate_conflict(state: ManagerState, ccp_id: str, fingerprint: str) -> None:
    """Checked before the CN rule, so sharing a certificate answers what the KB quotes."""
    for other in state.store.list(paths.CLUSTER_CONTROL_PLANES):
        if other["id"] != ccp_id and other.get("_labkit_fingerprint") == fingerprint:
            raise bad_request(
                f"certificate conflict with clusterControlPlane node id {other.get('node_id')}",
                code=ErrorCode.CERTIFICATE_CONFLICT,
                hint=f"the certificate already registers cluster {other['id']!r}; every cluster "
                "needs its own certificate and principal identity",
            )


def delete_ccp(state: ManagerState, req: Request) -> Response:
    _site(req)
    principal = req.principal
    assert principal is not None
    path = paths.ccp_path(req.params["ccp_id"])
    ccp = state.store.get(path)
    if ccp is None:
        return Response(200)
    check_protection(ccp, principal, req.allow_overwrite)
    cascade = req.flag("cascade")
    users = referrers(state.store, path)
    if users and not cascade:
        raise bad_request(
            f"The object path=[{path}] cannot be deleted as either it has children or it is being "
            f"referenced by other objects path=[{', '.join(users)}].",
            code=ErrorCode.RESOURCE_IN_USE,
            hint="DELETE with ?cascade=true also removes the cluster from those policies and "
            "drops its inventory",
        )
    state.store.delete_tree(path)
    state.store.delete(f"{paths.HEARTBEATS}/{ccp['id']}")
    if cascade:
        _cascade(state, ccp, principal)
    return Response(200)


def _cascade(state: ManagerState, ccp: dict[str, Any], principal: Any) -> None:
    path, node_id = ccp["path"], ccp.get("node_id", "")
    delete_cluster_inventory(state, node_id)
    forget_cluster(state.store, path)
    forget_cluster_statistics(state.store, path)
    forget_cluster_flows(state, ccp["id"])
    for tf in state.store.list(paths.TRACEFLOWS):
        if tf.get("container_cluster_id") == node_id:
            state.store.delete_tree(tf["path"])
            state.store.delete(f"{paths.TRACEFLOW_RESULTS}/{tf['id']}")
    for policy in all_policies(state.store):
        for span in span_children(state.store, policy["path"]):
            if span.get("container_cluster_path") == path:
                state.store.delete(span["path"])
        scope = policy.get("scope") or []
        if path in scope:
            rest = [p for p in scope if p != path]
            policy = {**policy, "scope": rest or ["ANY"]}
            state.store.put(policy["path"], stamp(state, policy, policy, principal,
                                                  object_id=policy["id"], resource_type="SecurityPolicy"))


# -- health --------------------------------------------------------------------------------------
def _heartbeat_config(state: ManagerState, ccp_id: str) -> dict[str, Any]:
    stored = state.store.get(f"{paths.ccp_path(ccp_id)}/heartbeat-config")
    if stored is not None:
        return stored
    return {"resource_type": "AntreaHeartbeatConfig", "report_interval": DEFAULT_REPORT_INTERVAL_S,
            "_revision": 0, "id": "heartbeat-config",
            "path": f"{paths.ccp_path(ccp_id)}/heartbeat-config"}


def cluster_info(state: ManagerState, ccp: dict[str, Any]) -> dict[str, Any]:
    """AntreaClusterInfo, with components UNKNOWN once heartbeats stop for 3 x report_interval."""
    report = state.store.get(f"{paths.HEARTBEATS}/{ccp['id']}")
    interval_ms = int(_heartbeat_config(state, ccp["id"]).get("report_interval",
                                                               DEFAULT_REPORT_INTERVAL_S)) * 1000
    stale = report is None or state.now_ms() - int(report.get("time", 0)) > 3 * interval_ms
    info: dict[str, Any] = {"resource_type": "AntreaClusterInfo", "cluster_control_plane_path": ccp["path"],
                            "node_id": ccp.get("node_id")}
    for name in COMPONENTS:
        component = dict((report or {}).get(name) or {})
        if stale:
            component["status"] = "UNKNOWN"
        component.setdefault("status", "UNKNOWN")
        component.setdefault("conditions", [])
        info[name] = component
    info["controller_status"].setdefault("connected_agent_num", 0)
    info["agent_info"] = dict((report or {}).get("agent_info") or {
        "healthy_agent_num": 0, "degraded_agent_num": 0, "failed_agent_num": 0})
    statuses = [info[name]["status"] for name in COMPONENTS]
    # Roll-up [I]: Up only when all three components are (Admin Guide, "Monitor Health Status").
    if all(s == "UNKNOWN" for s in statuses):
        info["status"] = "UNKNOWN"
    elif "FAILED" in statuses:
        info["status"] = "FAILED"
    elif all(s == "HEALTHY" for s in statuses):
        info["status"] = "HEALTHY"
    else:
        info["status"] = "DEGRADED"
    info["last_heartbeat_timestamp"] = int((report or {}).get("time", 0))
    return info


def get_ccp_status(state: ManagerState, req: Request) -> dict[str, Any]:
    _site(req)
    return cluster_info(state, _ccp_or_404(state, req.params["ccp_id"]))


def list_ccp_status(state: ManagerState, req: Request) -> dict[str, Any]:
    _site(req)
    infos = [cluster_info(state, c) for c in state.store.list(paths.CLUSTER_CONTROL_PLANES)]
    return list_response(infos, req.query)


def put_ccp_status(state: ManagerState, req: Request) -> dict[str, Any]:
    """``PUT /labkit/v1/.../cluster-control-planes/{id}/status``: the adapter's heartbeat."""
    _site(req)
    principal = req.principal
    assert principal is not None
    ccp = _ccp_or_404(state, req.params["ccp_id"])
    require_owner(principal, ccp["id"], "report the status")
    body = req.json_object()
    problems = []
    record: dict[str, Any] = {"time": state.now_ms()}
    for name in COMPONENTS:
        component = body.get(name)
        if component is None:
            continue
        if not isinstance(component, dict) or component.get("status") not in COMPONENT_STATUSES:
            problems.append(f"{name}.status must be one of {', '.join(COMPONENT_STATUSES)}")
            continue
        record[name] = component
    agent_info = body.get("agent_info")
    if agent_info is not None:
        if not isinstance(agent_info, dict):
            problems.append("agent_info must be an object")
        else:
            record["agent_info"] = agent_info
    if problems:
        raise bad_request("; ".join(problems))
    state.store.put(f"{paths.HEARTBEATS}/{ccp['id']}", record)
    return cluster_info(state, ccp)


def get_heartbeat_config(state: ManagerState, req: Request) -> dict[str, Any]:
    _site(req)
    ccp = _ccp_or_404(state, req.params["ccp_id"])
    return public(_heartbeat_config(state, ccp["id"]))


def put_heartbeat_config(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write_heartbeat_config(state, req, "PUT")


def patch_heartbeat_config(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write_heartbeat_config(state, req, "PATCH")


def _write_heartbeat_config(state: ManagerState, req: Request, mode: Any) -> dict[str, Any]:
    _site(req)
    principal = req.principal
    assert principal is not None
    ccp = _ccp_or_404(state, req.params["ccp_id"])
    path = f"{ccp['path']}/heartbeat-config"
    body = req.json_object()
    if state.store.get(path) is None and mode == "PUT" and body.get("_revision") == 0:
        mode = "PATCH"  # the default object is shown with _revision 0; PUT it back as a create
    new, _ = prepare(state, path=path, body=body, mode=mode, principal=principal,
                     allow_overwrite=req.allow_overwrite, resource_type="AntreaHeartbeatConfig",
                     defaults={"report_interval": DEFAULT_REPORT_INTERVAL_S})
    interval = new.get("report_interval")
    if not isinstance(interval, int) or isinstance(interval, bool) or not 60 <= interval <= 600:
        raise bad_request(f"report_interval {interval!r} must be an integer between 60 and 600 seconds")
    state.store.put(path, new)
    return public(new)
