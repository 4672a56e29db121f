"""Manager node, cluster health and session endpoints.

What clients probe before anything else (nsx.md §9-10): ``GET /api/v1/node/version`` and
``GET /api/v1/node`` (``node_version`` decides which fields a client may send),
``GET /api/v1/reverse-proxy/node/health`` (nsx-operator's health check) and
``GET /api/v1/cluster/status``.
"""

from __future__ import annotations

import uuid
from typing import Any

from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.state import ManagerState

# One stable id per store, so /cluster/status answers the same cluster_id across restarts.
_CLUSTER_ID_KEY = "labkit:/cluster-id"


def node_version(state: ManagerState, req: Request) -> dict[str, Any]:
    return {"node_version": state.node_version, "product_version": state.node_version}


def node_properties(state: ManagerState, req: Request) -> dict[str, Any]:
    return {
        "_schema": "NodeProperties",
        "node_version": state.node_version,
        "product_version": state.node_version,
        "hostname": "nsx-manager-labkit",
        "fully_qualified_domain_name": "nsx-manager-labkit.local",
        "motd": "labkit NSX Manager mock: a teaching stand-in, not VMware NSX",
        "timezone": "UTC",
        "system_datetime": state.now_ms(),
    }


def reverse_proxy_health(state: ManagerState, req: Request) -> dict[str, Any]:
    # Same shape nsx-operator's tests expect (pkg/nsx/cluster_test.go).
    return {"healthy": True, "components_health": "POLICY:UP, SEARCH:UP, MANAGER:UP, NODE_MGMT:UP, UI:UP"}


def cluster_status(state: ManagerState, req: Request) -> dict[str, Any]:
    record = state.store.get(_CLUSTER_ID_KEY)
    if record is None:
        record = {"cluster_id": str(uuid.uuid4())}
        state.store.put(_CLUSTER_ID_KEY, record)
    return {
        "cluster_id": record["cluster_id"],
        "mgmt_cluster_status": {"status": "STABLE"},
        "control_cluster_status": {"status": "STABLE"},
        "detailed_cluster_status": {"overall_status": "STABLE"},
    }


def session_create(state: ManagerState, req: Request) -> Response:
    return state.auth.create_session(req)


def session_destroy(state: ManagerState, req: Request) -> Response:
    return state.auth.destroy_session(req)
