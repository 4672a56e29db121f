"""Lookups that tie a registered cluster's three names together.

An Antrea cluster has one name and one UUID in NSX (nsx.md §2.1, §2.4, §3.2):

- the ClusterControlPlane (CCP) id == the PI name == the certificate CN == ``clusterName``;
- the CCP ``node_id`` (UUID, assigned at registration) == the cluster ID the adapter writes into
  ``cluster-id.conf`` == the ContainerCluster ``id``/``external_id`` == every inventory object's
  ``container_cluster_id``.

A principal identity may act only for its own cluster; ``admin`` may act for any.
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.errors import ErrorCode, NSXApiError
from labkit.nsx.manager.principal import Principal
from labkit.nsx.manager.store import ObjectStore


def ccp_by_node_id(store: ObjectStore, node_id: str) -> dict[str, Any] | None:
    for ccp in store.list(paths.CLUSTER_CONTROL_PLANES):
        if ccp.get("node_id") == node_id:
            return ccp
    return None


def container_cluster(store: ObjectStore, cluster_id: str) -> dict[str, Any] | None:
    return store.get(f"{paths.FABRIC}/container-clusters/{cluster_id}")


def cluster_exists(store: ObjectStore, cluster_id: str) -> bool:
    """True when ``cluster_id`` names a ContainerCluster or a registered CCP's node_id."""
    return container_cluster(store, cluster_id) is not None or ccp_by_node_id(store, cluster_id) is not None


def require_owner(principal: Principal, ccp_id: str, what: str, module: str = "policy") -> None:
    """A PI may only act for the cluster that carries its name (403 otherwise)."""
    if principal.is_principal_identity and principal.name != ccp_id:
        raise NSXApiError(
            403,
            f"Principal identity '{principal.name}' may not {what} of cluster '{ccp_id}'.",
            error_code=ErrorCode.PROTECTED_OBJECT,
            module_name=module,
            hint="each cluster's adapter uses its own principal identity (CN = cluster name)",
        )


def require_cluster_owner(store: ObjectStore, principal: Principal, cluster_id: str, what: str,
                          module: str = "policy") -> None:
    """Like :func:`require_owner`, for a cluster named by its UUID."""
    if not principal.is_principal_identity:
        return
    ccp = ccp_by_node_id(store, cluster_id)
    if ccp is None or ccp["id"] != principal.name:
        owner = ccp["id"] if ccp else "an unregistered cluster"
        raise NSXApiError(
            403,
            f"Principal identity '{principal.name}' may not {what} of cluster {cluster_id} "
            f"({owner}).",
            error_code=ErrorCode.PROTECTED_OBJECT,
            module_name=module,
            hint="an adapter writes only its own cluster's data; check cluster-id.conf",
        )
