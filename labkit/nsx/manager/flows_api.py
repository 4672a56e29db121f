"""Flow records of Antrea clusters, received and shown by the mock (labkit's own API).

NSX Manager has no public API that takes Antrea flows: the Flow Aggregator exports IPFIX to a
collector (vRealize Network Insight, Theia's ClickHouse ...), and NSX Intelligence reads flows of
NSX-managed hosts, not of Antrea clusters, through its own platform (nsx.md §7). labkit gives the
mock a collector of its own, under ``/labkit/v1`` so nobody mistakes it for NSX, and shows the
flows the way NSX Intelligence's "Discover & Take Action" does (:mod:`.flow_analytics`):

* ``POST /labkit/v1/infra/sites/default/enforcement-points/default/cluster-control-planes/{id}/flow-records``
  ``{records: [...], label?, report_id?, chunk?}`` -> 201 ``{report_id, chunk, record_count,
  report_record_count}``: the Flow Aggregator's records of one cluster (IE names, see
  :data:`.flow_analytics.RECORD_FIELDS`), sent by the cluster's principal identity (client
  certificate) or an admin. Records arrive in **reports** (one traffic run, one export period),
  each in numbered chunks of at most :data:`MAX_RECORDS` records; a chunk sent again replaces
  itself, so a retried batch neither fails nor duplicates. No ``report_id``: a new report.
  The whole body is validated first (every problem, with its ``records[i].field`` path).
* ``GET /labkit/v1/flow-reports[?container_cluster_id=]``: the reports, oldest first.
* ``GET /labkit/v1/flows``: one entry per record, enriched (groups, service, action, flow type,
  the deciding NSX rule), filtered by ``container_cluster_id`` and :data:`.flow_analytics.FILTERS`;
  NSX's list envelope and paging.
* ``GET /labkit/v1/flows/summary?group_by=cluster|namespace|group|service|rule|talker``: counts
  per key over the same filters, with ``record_count`` (the records that passed the filters).

Deregistering a cluster with ``cascade=true`` forgets its flows (:func:`forget_cluster_flows`).
"""

from __future__ import annotations

import re
from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.clusters import ccp_by_node_id, require_owner
from labkit.nsx.manager.errors import ErrorCode
from labkit.nsx.manager.flow_analytics import (
    FILTERS,
    GROUP_BY,
    ClusterView,
    NSXRules,
    enrich,
    matches,
    record_problems,
    summarize,
)
from labkit.nsx.manager.group_rules import is_antrea
from labkit.nsx.manager.inventory_api import objects_of_cluster
from labkit.nsx.manager.membership import ClusterInventory, pod_members
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import bad_request, list_response, not_found, validation_error
from labkit.nsx.manager.span import all_policies, policy_rules
from labkit.nsx.manager.state import ManagerState

MODULE = "labkit-flows"
MAX_RECORDS = 5000  # per chunk: a body of a few MB at most
_REPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _report_key(ccp_id: str, report_id: str) -> str:
    return f"{paths.FLOW_REPORTS}/{ccp_id}/{report_id}"


def _chunks_prefix(ccp_id: str, report_id: str) -> str:
    return f"{paths.FLOW_RECORDS}/{ccp_id}/{report_id}/"


def forget_cluster_flows(state: ManagerState, ccp_id: str) -> None:
    """Drop every flow report of a cluster (it was deregistered with cascade)."""
    for prefix in (f"{paths.FLOW_REPORTS}/{ccp_id}/", f"{paths.FLOW_RECORDS}/{ccp_id}/"):
        for key, _ in state.store.items_under(prefix):
            state.store.delete(key)


def post_flow_records(state: ManagerState, req: Request) -> Response:
    """Receive one chunk of a cluster's flow records (see the module docstring)."""
    if req.params.get("site") != "default" or req.params.get("ep") != "default":
        raise not_found(req.path, module=MODULE)
    ccp_id = req.params["ccp_id"]
    ccp = state.store.get(paths.ccp_path(ccp_id))
    if ccp is None:
        raise not_found(paths.ccp_path(ccp_id), module=MODULE)
    principal = req.principal
    assert principal is not None
    require_owner(principal, ccp_id, "report flow records", module=MODULE)
    body = req.json_object()
    problems = [f"{name}: unknown field (known: records, label, report_id, chunk)"
                for name in body if name not in ("records", "label", "report_id", "chunk")]
    records = body.get("records")
    if not isinstance(records, list):
        problems.append("records must be a list of flow records")
        records = []
    elif len(records) > MAX_RECORDS:
        problems.append(f"records: {len(records)} records in one request; send at most {MAX_RECORDS} "
                        "per chunk (several chunks of one report_id)")
    for i, record in enumerate(records[:MAX_RECORDS]):
        problems += record_problems(record, f"records[{i}]")
    label = body.get("label", "")
    if not isinstance(label, str) or len(label) > 256:
        problems.append("label must be a string of at most 256 characters")
    report_id = body.get("report_id")
    if report_id is not None and (not isinstance(report_id, str) or not _REPORT_ID.match(report_id)):
        problems.append(f"report_id {report_id!r} must be 1-64 characters of letters, digits, '.', '_', '-'")
    chunk = body.get("chunk")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or not 0 <= chunk < 10**6):
        problems.append(f"chunk {chunk!r} must be an integer between 0 and 999999")
    if problems:
        raise validation_error("flow records", problems[:100], code=ErrorCode.BAD_REQUEST, module=MODULE)
    if report_id is None:
        report_id = str(state.store.next_value(paths.FLOW_REPORT_COUNTER))
        while state.store.get(_report_key(ccp_id, report_id)) is not None:  # a client chose this id
            report_id = str(state.store.next_value(paths.FLOW_REPORT_COUNTER))
    header = state.store.get(_report_key(ccp_id, report_id))
    now = state.now_ms()
    if header is None:
        header = {"report_id": report_id, "cluster_control_plane_path": ccp["path"],
                  "container_cluster_id": ccp.get("node_id", ""), "label": label,
                  "first_received_time": now}
    elif label and not header.get("label"):
        header["label"] = label
    prefix = _chunks_prefix(ccp_id, report_id)
    if chunk is None:
        chunk = len(state.store.items_under(prefix))
    state.store.put(f"{prefix}{chunk:06d}", {"chunk": chunk, "records": records, "received_time": now},
                    collection=prefix.rstrip("/"))
    header["last_received_time"] = now
    header["record_count"] = sum(len(c.get("records") or []) for _, c in state.store.items_under(prefix))
    state.store.put(_report_key(ccp_id, report_id), header, collection=f"{paths.FLOW_REPORTS}/{ccp_id}")
    return Response(201, {"report_id": report_id, "chunk": chunk, "record_count": len(records),
                          "report_record_count": header["record_count"]})


def _clusters(state: ManagerState, req: Request) -> list[dict[str, Any]]:
    """The registered clusters asked for (all, or ``container_cluster_id``); a principal identity
    sees only its own."""
    principal = req.principal
    assert principal is not None
    wanted = req.query.get("container_cluster_id", "")
    ccps = state.store.list(paths.CLUSTER_CONTROL_PLANES)
    if wanted:
        ccp = ccp_by_node_id(state.store, wanted)
        ccps = [ccp] if ccp is not None else []
    if principal.is_principal_identity:
        ccps = [c for c in ccps if c["id"] == principal.name]
    return ccps


def list_flow_reports(state: ManagerState, req: Request) -> dict[str, Any]:
    """``GET /labkit/v1/flow-reports``: every report of the clusters asked for, oldest first."""
    reports = []
    for ccp in _clusters(state, req):
        reports += state.store.list(f"{paths.FLOW_REPORTS}/{ccp['id']}")
    reports.sort(key=lambda r: (r.get("first_received_time", 0), r.get("report_id", "")))
    return list_response(reports, req.query, module=MODULE)


def _flows(state: ManagerState, req: Request) -> list[dict[str, Any]]:
    filters = {name: req.query[name] for name in FILTERS if req.query.get(name)}
    for name in ("action", "flow_type"):
        if name in filters:
            filters[name] = filters[name].upper()
    nsx = _nsx_rules(state)
    groups = [g for g in state.store.list(paths.GROUPS) if is_antrea(g)]
    out = []
    for ccp in _clusters(state, req):
        node_id = ccp.get("node_id", "")
        view = _cluster_view(state, ccp, node_id, groups)
        reports = state.store.list(f"{paths.FLOW_REPORTS}/{ccp['id']}")
        for report in sorted(reports, key=lambda r: (r.get("first_received_time", 0), r.get("report_id", ""))):
            report_id = report["report_id"]
            if "report_id" in filters and report_id not in filters["report_id"].split(","):
                continue
            for _, chunk in state.store.items_under(_chunks_prefix(ccp["id"], report_id)):
                for i, record in enumerate(chunk.get("records") or []):
                    flow = enrich(record, f"{ccp['id']}/{report_id}/{chunk['chunk']}/{i}", report_id, view, nsx)
                    if matches(flow, filters):
                        out.append(flow)
    return out


def _nsx_rules(state: ManagerState) -> NSXRules:
    policies = [(p, policy_rules(state.store, p["path"])) for p in all_policies(state.store)]
    return NSXRules.build(policies, state.store.list(paths.SERVICES))


def _cluster_view(state: ManagerState, ccp: dict[str, Any], node_id: str,
                  groups: list[dict[str, Any]]) -> ClusterView:
    namespaces = objects_of_cluster(state, node_id, "ContainerProject")
    pods = objects_of_cluster(state, node_id, "ContainerApplicationInstance")
    inventory = ClusterInventory(pods=tuple(pods), namespaces={n["id"]: n for n in namespaces},
                                 services=tuple(objects_of_cluster(state, node_id, "ContainerApplication")))
    groups_of_pod: dict[str, list[str]] = {}
    for group in sorted(groups, key=lambda g: g["path"]):
        for pod in pod_members(group, inventory):
            groups_of_pod.setdefault(pod["id"], []).append(group["path"])
    return ClusterView.build(node_id, ccp.get("display_name", ccp["id"]), namespaces, pods,
                             {k: tuple(v) for k, v in groups_of_pod.items()})


def list_flows(state: ManagerState, req: Request) -> dict[str, Any]:
    """``GET /labkit/v1/flows``: the flow records as the NSX flow view shows them."""
    return list_response(_flows(state, req), req.query, module=MODULE)


def flow_summary(state: ManagerState, req: Request) -> dict[str, Any]:
    """``GET /labkit/v1/flows/summary?group_by=...``: counts per cluster, namespace pair, group
    pair, service, deciding rule or talker (pod pair)."""
    group_by = req.query.get("group_by", "")
    if group_by not in GROUP_BY:
        raise bad_request(f"group_by {group_by!r} must be one of {', '.join(GROUP_BY)}", module=MODULE)
    flows = _flows(state, req)
    rows = summarize(flows, group_by)
    limit = req.query.get("limit")
    if limit:
        if not limit.isdigit() or int(limit) < 1:
            raise bad_request(f"limit {limit!r} must be a positive integer", module=MODULE)
        rows = rows[:int(limit)]
    return {"group_by": group_by, "record_count": len(flows), "results": rows, "result_count": len(rows)}


__all__ = ["MAX_RECORDS", "flow_summary", "forget_cluster_flows", "list_flow_reports", "list_flows",
           "post_flow_records"]
