"""Traceflow requests created through the API, answered as Antrea's controller and agents answer them.

``kubectl create -f traceflow.yaml`` stores the request; like antrea-controller
(``pkg/controller/traceflow/controller.go``) the lab then sets ``status.phase: Running`` with a
``startTime`` and a ``dataplaneTag``, runs the trace (``Lab.traceflow``: the policy engine on sim,
OVS's own packet tracing on ovs) and writes the per-Node ``results`` with ``phase: Succeeded``,
or ``phase: Failed`` with a ``reason``. A Service destination is traced to the Service's first
endpoint with the ``LB`` observation Antrea Proxy adds (antrea.md §2.2).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import TYPE_CHECKING

from ..errors import LabkitError
from ..model.objects import ObjectRef
from ..model.traceflow import TraceflowSpec
from ..policy.traceflow import NodeResult, Observation
from .store import now

if TYPE_CHECKING:  # pragma: no cover
    from .render import Key
    from .store import KubeStore

# antrea-controller allocates data-plane tags 7..59 in steps of 4 (reference antrea.md §2.2).
_TAGS = list(range(7, 60, 4))


def run_in_background(store: "KubeStore", key: "Key", spec: TraceflowSpec) -> threading.Thread:
    thread = threading.Thread(target=_run, args=(store, key, spec), name=f"traceflow-{spec.name}", daemon=True)
    thread.start()
    return thread


def _destination(store: "KubeStore", spec: TraceflowSpec) -> tuple[str, str]:
    """(destination pod key, the Service's ClusterIP if the trace goes through a Service)."""
    state = store.lab.state
    if spec.destination_pod:
        return state.pod(spec.destination_pod).key, ""
    if spec.destination_ip:
        for pod in state.pods:
            if pod.pod_ip == spec.destination_ip:
                return pod.key, ""
        raise LabkitError(f"no Pod has IP {spec.destination_ip}; labkit traces to Pods and Services only")
    ns, _, name = spec.destination_service.partition("/")
    svc = state.objects.get(ObjectRef("", "Service", ns, name))
    if svc is None:
        raise LabkitError(f"Service {spec.destination_service} not found")
    from ..policy.groups import Selection

    pods = sorted(Selection(state).service_pods(ns, name))
    if not pods:
        raise LabkitError(f"Service {spec.destination_service} has no endpoints")
    return pods[0], getattr(svc, "cluster_ip", "")


def _run(store: "KubeStore", key: "Key", spec: TraceflowSpec) -> None:
    with store.lock:
        obj = store.face.get(key)
        if obj is None:
            return
        used = {(o.get("status") or {}).get("dataplaneTag") for o in store.face.values()}
        tag = next((t for t in _TAGS if t not in used), _TAGS[0])
        running = copy.deepcopy(obj)
        running["status"] = {"phase": "Running", "startTime": now(), "dataplaneTag": tag}
        running = store.set_face(key, running)
    try:
        with store.lock:
            src = store.lab.state.pod(spec.source).key
            dst, cluster_ip = _destination(store, spec)
            port = spec.dst_port if spec.protocol in ("TCP", "UDP") else None
            trace = store.lab.traceflow(src, dst, port=port, protocol=spec.protocol, src_port=spec.src_port)
        status = trace.to_dict()["status"]
        stamp = int(time.time())
        results = []
        for result in trace.results:
            observations = list(result.observations)
            if cluster_ip and result.role == "Sender":
                dst_ip = store.lab.state.pod(dst).pod_ip
                observations.insert(1, Observation("LB", "Forwarded", translated_dst_ip=dst_ip))
            results.append(NodeResult(result.node, result.role, tuple(observations), stamp).to_dict())
        status["results"] = results
    except LabkitError as exc:  # NotFoundError for a missing Pod, an unreachable Service ...
        status = {"phase": "Failed", "reason": f"Invalid Traceflow request, err: {exc}"}
    with store.lock:
        done = store.face.get(key)
        if done is None:
            return
        done = copy.deepcopy(done)
        done["status"] = {**(done.get("status") or {}), **status}
        store.set_face(key, done)
