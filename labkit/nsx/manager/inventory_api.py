"""Container inventory: the batched write path the adapter uses and the read lists NSX serves.

Reproduced (nsx.md §3; go-vmware-nsxt ``api_container_inventory.go``; nsx-operator
``pkg/nsx/services/inventory``):

- ``POST /api/v1/inventory/container/{cluster-id}?action=updates`` with
  ``{container_inventory_objects: [{object_update_type: CREATE|UPDATE|DELETE, container_object}]}``.
  UPDATE carries only changed fields plus ``external_id`` and ``resource_type``. The whole batch is
  validated first and applied atomically; every problem is reported at once.
- ``POST /api/v1/fabric/container-clusters`` (201) and ``DELETE .../container-clusters/{id}``
  (which removes the cluster's whole inventory).
- Read lists under ``/api/v1/fabric/`` with ``cursor, page_size, sort_by, sort_ascending,
  included_fields`` and the per-type filters (``container_cluster_id`` ...); item paths are
  plural except ``container-egress``, ``container-ip-pool``, ``container-gateway``.
- ``id`` == ``external_id`` (the Kubernetes UID; for the cluster, the cluster UUID).
- The inventory is read-only in NSX: objects reported by a PI are PROTECTED.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.clusters import cluster_exists, require_cluster_owner
from labkit.nsx.manager.errors import ErrorCode, NSXApiError
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import bad_request, check_protection, clean, list_response, not_found, public, stamp
from labkit.nsx.manager.state import ManagerState

MODULE = "container-inventory"


@dataclass(frozen=True)
class InventoryType:
    resource_type: str
    collection: str           # /api/v1/fabric/<collection>
    item: str                 # /api/v1/fabric/<item>/{id}
    filters: tuple[str, ...]  # list query parameters -> object field of the same name
    enums: tuple[tuple[str, tuple[str, ...]], ...] = ()


_STATUS = ("network_status", ("HEALTHY", "UNHEALTHY"))
INVENTORY_TYPES: tuple[InventoryType, ...] = (
    InventoryType(
        "ContainerCluster", "container-clusters", "container-clusters", ("cluster_type", "infra_type"),
        (
            ("cni_type", ("ANTREA", "NCP", "OTHER")),
            ("cluster_type", ("PAS", "PKS", "Kubernetes", "Openshift", "WCP", "WCP_Guest", "AKS",
                              "EKS", "TKGm", "TKGi", "GKE", "Gardener", "Rancher", "TAS",
                              "SupervisorCluster", "WorkloadCluster", "Other")),
            _STATUS,
        ),
    ),
    InventoryType("ContainerClusterNode", "container-cluster-nodes", "container-cluster-nodes",
                  ("container_cluster_id",),
                  (("cni_agent_status", ("HEALTHY", "UNHEALTHY")), _STATUS)),
    InventoryType("ContainerProject", "container-projects", "container-projects",
                  ("container_cluster_id",), (_STATUS,)),
    InventoryType("ContainerApplication", "container-applications", "container-applications",
                  ("container_cluster_id", "container_project_id"),
                  (("status", ("UNKNOWN", "HEALTHY", "UP", "DOWN", "DEGRADED")), _STATUS)),
    InventoryType("ContainerApplicationInstance", "container-application-instances",
                  "container-application-instances",
                  ("container_cluster_id", "container_project_id", "container_application_id"),
                  (("status", ("UNKNOWN", "HEALTHY", "UP", "DOWN", "DEGRADED")), _STATUS)),
    InventoryType("ContainerIngressPolicy", "container-ingress-policies", "container-ingress-policies",
                  ("container_cluster_id", "container_project_id"), (_STATUS,)),
    InventoryType("ContainerNetworkPolicy", "container-network-policies", "container-network-policies",
                  ("container_cluster_id", "container_project_id"),
                  (("policy_type", ("NETWORK_POLICY", "ASG", "ACNP", "ANP")), _STATUS)),
    # Field details of these three are not researched (nsx.md §3.2); stored as sent.
    InventoryType("ContainerEgress", "container-egresses", "container-egress", ("container_cluster_id",)),
    InventoryType("ContainerIpPool", "container-ip-pools", "container-ip-pool", ("container_cluster_id",)),
    InventoryType("ContainerGateway", "container-gateways", "container-gateway", ("container_cluster_id",)),
)
BY_RESOURCE_TYPE = {t.resource_type: t for t in INVENTORY_TYPES}
BY_COLLECTION = {t.collection: t for t in INVENTORY_TYPES}
BY_ITEM = {t.item: t for t in INVENTORY_TYPES}
UPDATE_TYPES = ("CREATE", "UPDATE", "DELETE")


def key_of(kind: InventoryType, object_id: str) -> str:
    return f"{paths.FABRIC}/{kind.collection}/{object_id}"


def objects_of_cluster(state: ManagerState, cluster_id: str, resource_type: str) -> list[dict[str, Any]]:
    kind = BY_RESOURCE_TYPE[resource_type]
    return [o for o in state.store.list(f"{paths.FABRIC}/{kind.collection}")
            if o.get("container_cluster_id") == cluster_id]


def delete_cluster_inventory(state: ManagerState, cluster_id: str) -> int:
    """Remove the ContainerCluster ``cluster_id`` and every object that belongs to it."""
    removed = 0
    for kind in INVENTORY_TYPES:
        for obj in state.store.list(f"{paths.FABRIC}/{kind.collection}"):
            if obj.get("container_cluster_id") == cluster_id or (
                kind.resource_type == "ContainerCluster" and obj.get("id") == cluster_id
            ):
                removed += state.store.delete(key_of(kind, obj["id"]))
    return removed


# -- read path ---------------------------------------------------------------------------------
def list_objects(state: ManagerState, req: Request) -> dict[str, Any]:
    kind = BY_COLLECTION[req.params["collection"]] if req.params.get("collection") in BY_COLLECTION else None
    if kind is None:
        raise not_found(f"/api/v1/fabric/{req.params.get('collection')}", MODULE)
    items = state.store.list(f"{paths.FABRIC}/{kind.collection}")
    for name in kind.filters:
        wanted = req.query.get(name)
        if wanted:
            items = [o for o in items if _matches(o, name, wanted)]
    return list_response(items, req.query, module=MODULE)


def get_object(state: ManagerState, req: Request) -> dict[str, Any]:
    kind = BY_ITEM.get(req.params["item"])
    if kind is None:
        raise not_found(f"/api/v1/fabric/{req.params['item']}", MODULE)
    obj = state.store.get(key_of(kind, req.params["object_id"]))
    if obj is None:
        raise not_found(f"{kind.resource_type}/{req.params['object_id']}", MODULE)
    return public(obj)


def _matches(obj: dict[str, Any], name: str, wanted: str) -> bool:
    if name == "container_application_id":
        return wanted in (obj.get("container_application_ids") or [])
    if name == "infra_type":
        return (obj.get("infrastructure") or {}).get("infra_type") == wanted
    return obj.get(name) == wanted


# -- write path --------------------------------------------------------------------------------
def create_container_cluster(state: ManagerState, req: Request) -> Response:
    body = clean(req.json_object())
    body.setdefault("resource_type", "ContainerCluster")
    problems = _object_problems(body, "", expect_type="ContainerCluster")
    if problems:
        raise _batch_error(problems)
    cluster_id = body["external_id"]
    require_cluster_owner(state.store, req.principal, cluster_id, "create the container cluster", MODULE)  # type: ignore[arg-type]
    kind = BY_RESOURCE_TYPE["ContainerCluster"]
    if state.store.get(key_of(kind, cluster_id)) is not None:
        raise NSXApiError(
            400, f"ContainerCluster {cluster_id} already exists.",
            error_code=ErrorCode.ALREADY_EXISTS, module_name=MODULE,
            hint="send updates with POST /api/v1/inventory/container/{id}?action=updates",
        )
    obj = _store_object(state, req, kind, body, None, cluster_id)
    return Response(201, public(obj))


def delete_container_cluster(state: ManagerState, req: Request) -> Response:
    cluster_id = req.params["object_id"]
    kind = BY_RESOURCE_TYPE["ContainerCluster"]
    old = state.store.get(key_of(kind, cluster_id))
    if old is None:
        raise not_found(f"ContainerCluster/{cluster_id}", MODULE)
    check_protection(old, req.principal, req.allow_overwrite, MODULE)  # type: ignore[arg-type]
    delete_cluster_inventory(state, cluster_id)
    return Response(200)


def inventory_updates(state: ManagerState, req: Request) -> Response:
    """``POST /api/v1/inventory/container/{cluster_id}?action=updates``."""
    cluster_id = req.params["cluster_id"]
    if req.query.get("action") != "updates":
        raise bad_request(
            f"action={req.query.get('action')!r} is not supported; use ?action=updates", module=MODULE
        )
    principal = req.principal
    assert principal is not None
    require_cluster_owner(state.store, principal, cluster_id, "report inventory", MODULE)
    body = req.json_object()
    updates = body.get("container_inventory_objects")
    if not isinstance(updates, list):
        raise bad_request("container_inventory_objects must be a list", module=MODULE)
    problems: list[str] = []
    creates_cluster = False
    for i, update in enumerate(updates):
        where = f"container_inventory_objects[{i}]"
        if not isinstance(update, dict):
            problems.append(f"{where} must be an object")
            continue
        kind = update.get("object_update_type")
        if kind not in UPDATE_TYPES:
            problems.append(f"{where}.object_update_type {kind!r} must be one of {', '.join(UPDATE_TYPES)}")
        obj = update.get("container_object")
        if not isinstance(obj, dict):
            problems.append(f"{where}.container_object must be an object")
            continue
        obj = clean(obj)
        problems += _object_problems(obj, f"{where}.container_object", partial=kind != "CREATE",
                                     cluster_id=cluster_id)
        if obj.get("resource_type") == "ContainerCluster" and kind in ("CREATE", "UPDATE"):
            creates_cluster = True
    if not creates_cluster and not cluster_exists(state.store, cluster_id):
        problems.append(
            f"container cluster {cluster_id} does not exist: register the cluster "
            "(cluster-control-planes) and POST /api/v1/fabric/container-clusters first"
        )
    if problems:
        raise _batch_error(problems)
    for update in updates:
        obj = clean(update["container_object"])
        kind = BY_RESOURCE_TYPE[obj["resource_type"]]
        key = key_of(kind, obj["external_id"])
        old = state.store.get(key)
        if update["object_update_type"] == "DELETE":
            if old is not None:
                check_protection(old, principal, req.allow_overwrite, MODULE)
                state.store.delete(key)
            continue
        if old is not None:
            check_protection(old, principal, req.allow_overwrite, MODULE)
        if update["object_update_type"] == "UPDATE" and old is not None:
            merged = {k: v for k, v in old.items()}
            merged.update(obj)
            obj = merged
        _store_object(state, req, kind, obj, old, cluster_id)
    return Response(200)


def _store_object(state: ManagerState, req: Request, kind: Any, obj: dict[str, Any],
                  old: dict[str, Any] | None, cluster_id: str) -> dict[str, Any]:
    if kind.resource_type != "ContainerCluster":
        obj.setdefault("container_cluster_id", cluster_id)
    stamp(state, obj, old, req.principal, object_id=obj["external_id"],  # type: ignore[arg-type]
          resource_type=kind.resource_type)
    obj["_last_sync_time"] = state.now_ms()
    state.store.put(key_of(kind, obj["id"]), obj)
    return obj


def _object_problems(obj: dict[str, Any], where: str, *, partial: bool = False,
                     cluster_id: str = "", expect_type: str = "") -> list[str]:
    prefix = f"{where}." if where else ""
    problems = []
    rt = obj.get("resource_type")
    if rt not in BY_RESOURCE_TYPE or (expect_type and rt != expect_type):
        allowed = expect_type or ", ".join(BY_RESOURCE_TYPE)
        return [f"{prefix}resource_type {rt!r} must be {allowed}"]
    if not isinstance(obj.get("external_id"), str) or not obj.get("external_id"):
        problems.append(f"{prefix}external_id is required (the Kubernetes UID)")
    if cluster_id:
        if rt == "ContainerCluster" and obj.get("external_id") not in (None, cluster_id):
            problems.append(
                f"{prefix}external_id {obj.get('external_id')!r} must be the cluster id {cluster_id}"
            )
        owner = obj.get("container_cluster_id")
        if rt != "ContainerCluster" and owner not in (None, cluster_id):
            problems.append(
                f"{prefix}container_cluster_id {owner!r} does not match the cluster in the URL {cluster_id}"
            )
    if not partial and not obj.get("display_name"):
        problems.append(f"{prefix}display_name is required")
    for field_name, allowed in BY_RESOURCE_TYPE[rt].enums:
        value = obj.get(field_name)
        if value is not None and value not in allowed:
            problems.append(f"{prefix}{field_name} {value!r} must be one of {', '.join(allowed)}")
    for i, tag in enumerate(obj.get("tags") or []):
        if not isinstance(tag, dict) or "tag" not in tag:
            problems.append(f"{prefix}tags[{i}] must be {{scope, tag}}")
    return problems


def _batch_error(problems: list[str]) -> NSXApiError:
    return NSXApiError(
        400,
        f"Invalid container inventory: {len(problems)} problem(s); nothing was applied: "
        + "; ".join(problems),
        module_name=MODULE,
        related_errors=[NSXApiError(400, p, module_name=MODULE) for p in problems],
    )
