"""Antrea Traceflow requested from NSX (nsx.md §6; Admin Guide "Trace the Path of a Packet with
Antrea Traceflow"; vsphere-automation-sdk-go ``infra/antrea/TraceflowsTypes.go``).

- ``PUT|PATCH /policy/api/v1/infra/antrea/traceflows/{id}`` with an AntreaTraceflowConfig:
  ``container_cluster_id`` (cluster UUID), ``source_external_id`` (a pod: a
  ContainerApplicationInstance), ``destination_external_id`` (a pod or a service; not needed when
  ``packet.ip_header.dst_ip``/``ipv6_header.dst_ip`` is set), ``packet`` (FIELDS_PACKET_DATA or
  BINARY_PACKET_DATA, unicast only; a TCP header must have the SYN flag).
- ``POST .../{id}?action=...`` (201) runs it again; ``GET`` list/item; ``DELETE``.
- ``GET .../{id}/status`` -> ``{phase, reason}``; ``GET .../{id}/observations`` -> ``{results}``.
  ``phase`` is RUNNING [I] until the cluster reports, then SUCCEEDED or FAILED.

The adapter runs an Antrea Traceflow CR and reports (labkit route, nsx.md §10):
``PUT /labkit/v1/infra/antrea/traceflows/{id}/result`` with ``{phase, reason?, observations:
[{component_type, container_node_id, observation_type, timestamp, ...}]}``.
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.clusters import cluster_exists, require_cluster_owner
from labkit.nsx.manager.errors import ErrorCode
from labkit.nsx.manager.inventory_api import BY_RESOURCE_TYPE, key_of
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import (
    Mode,
    check_protection,
    list_response,
    not_found,
    prepare,
    public,
    validation_error,
)
from labkit.nsx.manager.state import ManagerState

PACKET_TYPES = ("FIELDS_PACKET_DATA", "BINARY_PACKET_DATA")
PHASES = ("SUCCEEDED", "FAILED")
COMPONENT_TYPES = ("UNKNOWN", "ANTREA_SPOOFGUARD", "ANTREA_LB", "ANTREA_ROUTING", "ANTREA_DFW",
                   "ANTREA_FORWARDING")
OBSERVATION_TYPES = ("AntreaTraceflowObservationDelivered", "AntreaTraceflowObservationReceived",
                     "AntreaTraceflowObservationForwarded", "AntreaTraceflowObservationDropped")
TCP_SYN = 0x02


def _result_key(tf_id: str) -> str:
    return f"{paths.TRACEFLOW_RESULTS}/{tf_id}"


def _traceflow_or_404(state: ManagerState, tf_id: str) -> dict[str, Any]:
    path = paths.traceflow_path(tf_id)
    tf = state.store.get(path)
    if tf is None:
        raise not_found(path)
    return tf


def list_traceflows(state: ManagerState, req: Request) -> dict[str, Any]:
    return list_response(state.store.list(paths.TRACEFLOWS), req.query)


def get_traceflow(state: ManagerState, req: Request) -> dict[str, Any]:
    return public(_traceflow_or_404(state, req.params["tf_id"]))


def put_traceflow(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write(state, req, "PUT")


def patch_traceflow(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write(state, req, "PATCH")


def _write(state: ManagerState, req: Request, mode: Mode) -> dict[str, Any]:
    principal = req.principal
    assert principal is not None
    tf_id = req.params["tf_id"]
    path = paths.traceflow_path(tf_id)
    new, _ = prepare(state, path=path, body=req.json_object(), mode=mode, principal=principal,
                     allow_overwrite=req.allow_overwrite, resource_type="AntreaTraceflowConfig",
                     defaults={"is_transient": False})
    problems = _problems(state, new)
    if problems:
        raise validation_error(f"Invalid Antrea traceflow {path}", problems, code=ErrorCode.BAD_REQUEST)
    state.store.put(path, new)
    state.store.delete(_result_key(tf_id))  # a changed request runs again
    return public(new)


def rerun_traceflow(state: ManagerState, req: Request) -> Response:
    tf = _traceflow_or_404(state, req.params["tf_id"])
    state.store.delete(_result_key(tf["id"]))
    return Response(201, public(tf))


def delete_traceflow(state: ManagerState, req: Request) -> Response:
    path = paths.traceflow_path(req.params["tf_id"])
    tf = state.store.get(path)
    if tf is not None:
        check_protection(tf, req.principal, req.allow_overwrite)  # type: ignore[arg-type]
        state.store.delete_tree(path)
        state.store.delete(_result_key(tf["id"]))
    return Response(200)


def get_status(state: ManagerState, req: Request) -> dict[str, Any]:
    tf = _traceflow_or_404(state, req.params["tf_id"])
    result = state.store.get(_result_key(tf["id"]))
    if result is None:
        return {"phase": "RUNNING", "reason": ""}
    return {"phase": result["phase"], "reason": result.get("reason", "")}


def get_observations(state: ManagerState, req: Request) -> dict[str, Any]:
    tf = _traceflow_or_404(state, req.params["tf_id"])
    observations = (state.store.get(_result_key(tf["id"])) or {}).get("observations", [])
    return {"results": observations, "result_count": len(observations)}


def put_result(state: ManagerState, req: Request) -> dict[str, Any]:
    """``PUT /labkit/v1/infra/antrea/traceflows/{id}/result``: the adapter's answer."""
    tf = _traceflow_or_404(state, req.params["tf_id"])
    principal = req.principal
    assert principal is not None
    require_cluster_owner(state.store, principal, tf.get("container_cluster_id", ""),
                          "report traceflow results")
    body = req.json_object()
    problems = []
    if body.get("phase") not in PHASES:
        problems.append(f"phase {body.get('phase')!r} must be one of {', '.join(PHASES)}")
    observations = body.get("observations") or []
    if not isinstance(observations, list):
        problems.append("observations must be a list")
        observations = []
    for i, obs in enumerate(observations):
        if not isinstance(obs, dict):
            problems.append(f"observations[{i}] must be an object")
            continue
        if obs.get("component_type") not in COMPONENT_TYPES:
            problems.append(f"observations[{i}].component_type must be one of {', '.join(COMPONENT_TYPES)}")
        if obs.get("observation_type", obs.get("resource_type")) not in OBSERVATION_TYPES:
            problems.append(f"observations[{i}].observation_type must be one of "
                            f"{', '.join(OBSERVATION_TYPES)}")
    if problems:
        raise validation_error("Invalid traceflow result", problems, code=ErrorCode.BAD_REQUEST)
    state.store.put(_result_key(tf["id"]), {
        "phase": body["phase"], "reason": str(body.get("reason", "")),
        "observations": observations, "time": state.now_ms(),
    })
    return get_status(state, req)


def _problems(state: ManagerState, tf: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    cluster_id = tf.get("container_cluster_id")
    if not isinstance(cluster_id, str) or not cluster_exists(state.store, cluster_id):
        return [f"container_cluster_id {cluster_id!r} is not a registered Antrea cluster"]
    pods = BY_RESOURCE_TYPE["ContainerApplicationInstance"]
    services = BY_RESOURCE_TYPE["ContainerApplication"]

    def in_cluster(kind: Any, external_id: Any) -> bool:
        obj = state.store.get(key_of(kind, str(external_id)))
        return obj is not None and obj.get("container_cluster_id") == cluster_id

    if not in_cluster(pods, tf.get("source_external_id")):
        problems.append(f"source_external_id {tf.get('source_external_id')!r} is not a pod of "
                        f"cluster {cluster_id}")
    packet = tf.get("packet") or {}
    if not isinstance(packet, dict):
        return problems + ["packet must be an object"]
    dst_ip = (packet.get("ip_header") or {}).get("dst_ip") or (packet.get("ipv6_header") or {}).get("dst_ip")
    dst = tf.get("destination_external_id")
    if not dst_ip and not (in_cluster(pods, dst) or in_cluster(services, dst)):
        problems.append(f"destination_external_id {dst!r} is not a pod or service of cluster "
                        f"{cluster_id} (or set packet.ip_header.dst_ip)")
    if packet.get("resource_type", "FIELDS_PACKET_DATA") not in PACKET_TYPES:
        problems.append(f"packet.resource_type must be one of {', '.join(PACKET_TYPES)}")
    if packet.get("transport_type", "UNICAST") != "UNICAST":
        problems.append("packet.transport_type: Antrea traceflow supports UNICAST only")
    tcp = (packet.get("transport_header") or {}).get("tcp_header")
    if isinstance(tcp, dict) and "tcp_flags" in tcp and not int(tcp.get("tcp_flags") or 0) & TCP_SYN:
        problems.append("packet.transport_header.tcp_header.tcp_flags must include SYN (2)")
    return problems

