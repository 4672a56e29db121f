"""Realization status of policies and groups per Antrea cluster.

Read side, as NSX serves it (nsx.md §5.5):
``GET /policy/api/v1/infra/realized-state/status?intent_path=...`` answers a
ConsolidatedRealizedStatus ``{intent_path, intent_version, publish_status, consolidated_status:
{consolidated_status}, consolidated_status_per_enforcement_point: [...]}`` and
``GET /policy/api/v1/infra/realized-state/realized-entities?intent_path=...`` the per-cluster
entities with their errors (``alarms``).

Write side: in real NSX the CCP adapter reports through the private NSX-RPC channel. The mock's
adapter reports with ``PUT /labkit/v1/realized-state/status`` instead (a labkit route, so nobody
mistakes it for NSX; nsx.md §10). A report counts only for the ``intent_version`` it names: once
the policy changes (its ``_revision`` moves on) the cluster is IN_PROGRESS again until it reports.

How NSX folds per-cluster results together is not documented [I]: any ERROR -> ERROR, all
SUCCESS -> SUCCESS, otherwise IN_PROGRESS; nothing to realize on (no Antrea cluster) -> UNKNOWN.
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.clusters import require_owner
from labkit.nsx.manager.messages import Request
from labkit.nsx.manager.objects import bad_request, not_found
from labkit.nsx.manager.span import group_clusters, policy_clusters
from labkit.nsx.manager.state import ManagerState
from labkit.nsx.manager.store import ObjectStore

STATUSES = ("SUCCESS", "ERROR", "IN_PROGRESS")
PUBLISH = {"SUCCESS": "REALIZED", "ERROR": "ERROR", "IN_PROGRESS": "UNREALIZED", "UNKNOWN": "UNAVAILABLE"}
ENTITY_STATE = {"SUCCESS": "REALIZED", "ERROR": "ERROR", "IN_PROGRESS": "IN_PROGRESS"}


def _key(intent_path: str, ccp_path: str) -> str:
    return f"{paths.REALIZED}{intent_path}@{ccp_path}"


def _collection(intent_path: str) -> str:
    return f"{paths.REALIZED}{intent_path}"


def forget_intent(store: ObjectStore, intent_path: str) -> None:
    """Drop the reports about ``intent_path`` and its children (the object was deleted)."""
    for suffix in ("@", "/"):
        for key, _ in store.items_under(_collection(intent_path) + suffix):
            store.delete(key)


def forget_cluster(store: ObjectStore, ccp_path: str) -> None:
    """Drop every report a cluster made (it was deregistered)."""
    for key, body in store.items_under(paths.REALIZED):
        if body.get("enforcement_point_path") == ccp_path:
            store.delete(key)


def _intent(state: ManagerState, intent_path: str) -> tuple[dict[str, Any], list[str]]:
    """The intent object and the CCP paths it is realized on."""
    obj = state.store.get(intent_path) if intent_path.startswith(paths.INFRA + "/") else None
    if obj is None:
        raise not_found(intent_path)
    if "/security-policies/" in intent_path and "/rules/" in intent_path:
        policy = state.store.get(intent_path.split("/rules/")[0]) or {}
        return obj, policy_clusters(state.store, policy) if policy else []
    if obj.get("resource_type") == "SecurityPolicy":
        return obj, policy_clusters(state.store, obj)
    if obj.get("resource_type") == "Group":
        return obj, group_clusters(state.store, intent_path)
    return obj, []


def _version(obj: dict[str, Any]) -> str:
    return str(obj.get("_revision", 0))


def consolidated_status(state: ManagerState, intent_path: str) -> dict[str, Any]:
    obj, clusters = _intent(state, intent_path)
    per_ep = []
    for ccp_path in clusters:
        report = state.store.get(_key(intent_path, ccp_path))
        status = "IN_PROGRESS"
        if report is not None and report.get("intent_version") == _version(obj):
            status = report["status"]
        per_ep.append({
            "enforcement_point_id": paths.ccp_id(ccp_path),
            "enforcement_point_path": ccp_path,
            "consolidated_status": {"consolidated_status": status},
        })
    statuses = [e["consolidated_status"]["consolidated_status"] for e in per_ep]
    if not statuses:
        overall = "UNKNOWN"
    elif "ERROR" in statuses:
        overall = "ERROR"
    elif all(s == "SUCCESS" for s in statuses):
        overall = "SUCCESS"
    else:
        overall = "IN_PROGRESS"
    return {
        "intent_path": intent_path,
        "intent_version": _version(obj),
        "publish_status": PUBLISH[overall],
        "consolidated_status": {"consolidated_status": overall},
        "consolidated_status_per_enforcement_point": per_ep,
    }


def get_status(state: ManagerState, req: Request) -> dict[str, Any]:
    intent_path = req.query.get("intent_path")
    if not intent_path:
        raise bad_request("query parameter intent_path is required",
                          hint="e.g. ?intent_path=/infra/domains/default/security-policies/<id>")
    return consolidated_status(state, intent_path)


def get_realized_entities(state: ManagerState, req: Request) -> dict[str, Any]:
    intent_path = req.query.get("intent_path")
    if not intent_path:
        raise bad_request("query parameter intent_path is required")
    obj, clusters = _intent(state, intent_path)
    results = []
    for ccp_path in clusters:
        report = state.store.get(_key(intent_path, ccp_path)) or {}
        current = report.get("intent_version") == _version(obj)
        status = report.get("status", "IN_PROGRESS") if current else "IN_PROGRESS"
        results.append({
            "resource_type": "GenericPolicyRealizedResource",
            "id": report.get("realization_specific_identifier") or obj.get("unique_id"),
            "intent_paths": [intent_path],
            "enforcement_point_path": ccp_path,
            "state": ENTITY_STATE[status],
            "realization_specific_identifier": report.get("realization_specific_identifier", ""),
            "runtime_status": status,
            "alarms": [{"message": e} for e in report.get("errors", [])] if current else [],
            "_last_modified_time": report.get("time", 0),
        })
    return {"results": results, "result_count": len(results)}


def put_report(state: ManagerState, req: Request) -> dict[str, Any]:
    """``PUT /labkit/v1/realized-state/status``: one cluster reports one intent's realization.

    Body: ``{intent_path, enforcement_point_path?, intent_version?, status: SUCCESS|ERROR|
    IN_PROGRESS, errors?: [str], realization_specific_identifier?}``. A PI may omit
    ``enforcement_point_path`` (its own cluster) and ``intent_version`` (the current one).
    """
    body = req.json_object()
    principal = req.principal
    assert principal is not None
    intent_path = body.get("intent_path")
    if not isinstance(intent_path, str):
        raise bad_request("intent_path is required")
    obj, clusters = _intent(state, intent_path)
    ccp_path = body.get("enforcement_point_path") or (
        paths.ccp_path(principal.name) if principal.is_principal_identity else "")
    if not paths.is_ccp_path(ccp_path):
        raise bad_request("enforcement_point_path must be a cluster control plane path",
                          hint=f"e.g. {paths.ccp_path('<cluster>')}")
    require_owner(principal, paths.ccp_id(ccp_path), "report realization")
    if ccp_path not in clusters:
        raise bad_request(f"{intent_path} is not realized on {ccp_path} (its span is "
                          f"{clusters or 'empty'})")
    status = body.get("status")
    if status not in STATUSES:
        raise bad_request(f"status {status!r} must be one of {', '.join(STATUSES)}")
    errors = body.get("errors") or []
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise bad_request("errors must be a list of strings")
    state.store.put(_key(intent_path, ccp_path), {
        "intent_path": intent_path,
        "enforcement_point_path": ccp_path,
        "intent_version": str(body.get("intent_version", _version(obj))),
        "status": status,
        "errors": errors,
        "realization_specific_identifier": str(body.get("realization_specific_identifier", "")),
        "time": state.now_ms(),
    }, collection=_collection(intent_path))
    return consolidated_status(state, intent_path)
