"""Groups: ``/policy/api/v1/infra/domains/default/groups[/{id}]`` and their effective members.

Reproduced (nsx.md §4.1; Admin Guide "Antrea Groups"): GET list/item, PUT (create or replace,
``_revision`` required), PATCH (create or update; a ``_revision`` it carries must be current),
DELETE (200 even if absent; 400/500030 while a policy uses the group unless ``?force=true``);
validation per :mod:`labkit.nsx.manager.group_rules`. Antrea groups exist in the Default domain only.

PATCH without partial patch (no ``nsx-enable-partial-patch: true`` header, system setting off, as
by default) **replaces** the group: what the body leaves out is gone (``expression`` becomes
empty, ``tags`` and ``description`` go), since NSX then requires "complete object data" for PATCH
as for PUT (NSX REST API reference, PartialPatchConfig; :mod:`labkit.nsx.manager.system_config`).
With partial patch, the fields sent replace those stored (``expression`` whole: "array properties
are entirely replaced, not merged") and the others stay. The hierarchical API never partial-patches
("Partial Patch does not support certain objects, such as 'Infra'").

Effective members (nsx.md §4.1): ``.../groups/{id}/members/pods``, ``/members/ip-addresses``,
``/members/kubernetes-services`` with optional ``cluster_id`` (the cluster UUID). Pods and
services come from the inventory of the clusters where the group is realized
(:func:`labkit.nsx.manager.span.group_clusters`); IP members are never shown as effective pod members.
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.errors import ErrorCode
from labkit.nsx.manager.fields import unknown_fields
from labkit.nsx.manager.group_rules import group_problems
from labkit.nsx.manager.inventory_api import objects_of_cluster
from labkit.nsx.manager.membership import ClusterInventory, ip_members, pod_members, service_members
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import (
    Mode,
    bad_request,
    check_protection,
    list_response,
    not_found,
    prepare,
    public,
    validation_error,
)
from labkit.nsx.manager.principal import Principal
from labkit.nsx.manager.span import group_clusters, referrers
from labkit.nsx.manager.state import ManagerState
from labkit.nsx.manager.system_config import partial_patch


def require_default_domain(req: Request) -> None:
    domain = req.params.get("domain", paths.DEFAULT_DOMAIN)
    if domain != paths.DEFAULT_DOMAIN:
        raise not_found(f"/infra/domains/{domain}")


def list_groups(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    return list_response(state.store.list(paths.GROUPS), req.query)


def get_group(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    path = paths.group_path(req.params["group_id"])
    group = state.store.get(path)
    if group is None:
        raise not_found(path)
    return public(group)


def put_group(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    return write_group(state, req.params["group_id"], req.json_object(), "PUT",
                       req.principal, req.allow_overwrite)  # type: ignore[arg-type]


def patch_group(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    return write_group(state, req.params["group_id"], req.json_object(), "PATCH",
                       req.principal, req.allow_overwrite,  # type: ignore[arg-type]
                       partial=partial_patch(state, req))


def write_group(state: ManagerState, group_id: str, body: dict[str, Any], mode: Mode,
                principal: Principal, allow_overwrite: bool, *, partial: bool = False) -> dict[str, Any]:
    """Validate and store one group (used by the REST routes and the hierarchical API); a PATCH
    merges into the stored group only when ``partial`` (partial patch, see the module docstring)."""
    path = paths.group_path(group_id)
    new, old = prepare(
        state, path=path, body=body, mode=mode, principal=principal,
        allow_overwrite=allow_overwrite, resource_type="Group",
        defaults={"expression": [], "group_type": []}, partial=partial,
    )
    problems = unknown_fields(body, "Group") + group_problems(new, old)
    if problems:
        subject = f"Invalid group {path}"
        if mode == "PATCH" and old is not None and not partial:
            subject += (" (a PATCH without the header nsx-enable-partial-patch: true replaces the whole "
                        "group: send every field, or that header)")
        raise validation_error(subject, problems, code=ErrorCode.INVALID_GROUP)
    state.store.put(path, new)
    return public(new)


def delete_group(state: ManagerState, req: Request) -> Response:
    require_default_domain(req)
    remove_group(state, req.params["group_id"], req.principal, req.allow_overwrite,  # type: ignore[arg-type]
                 force=req.flag("force"))
    return Response(200)


def remove_group(state: ManagerState, group_id: str, principal: Principal, allow_overwrite: bool,
                 *, force: bool = False) -> None:
    path = paths.group_path(group_id)
    old = state.store.get(path)
    if old is None:
        return  # Policy API DELETE is idempotent.
    check_protection(old, principal, allow_overwrite)
    users = referrers(state.store, path)
    if users and not force:
        raise bad_request(
            f"The object path=[{path}] cannot be deleted as either it has children or it is being "
            f"referenced by other objects path=[{', '.join(users)}].",
            code=ErrorCode.RESOURCE_IN_USE,
            hint="remove it from those rules first, or DELETE with ?force=true",
        )
    state.store.delete_tree(path)


# -- effective members -------------------------------------------------------------------------
def _group_and_inventories(
    state: ManagerState, req: Request
) -> tuple[dict[str, Any], list[ClusterInventory]]:
    require_default_domain(req)
    path = paths.group_path(req.params["group_id"])
    group = state.store.get(path)
    if group is None:
        raise not_found(path)
    wanted = req.query.get("cluster_id")
    inventories = []
    for ccp_path in group_clusters(state.store, path):
        ccp = state.store.get(ccp_path)
        node_id = (ccp or {}).get("node_id", "")
        if not node_id or (wanted and wanted != node_id):
            continue
        inventories.append(ClusterInventory(
            pods=tuple(objects_of_cluster(state, node_id, "ContainerApplicationInstance")),
            namespaces={n["id"]: n for n in objects_of_cluster(state, node_id, "ContainerProject")},
            services=tuple(objects_of_cluster(state, node_id, "ContainerApplication")),
        ))
    return group, inventories


def member_pods(state: ManagerState, req: Request) -> dict[str, Any]:
    group, inventories = _group_and_inventories(state, req)
    pods = [p for inv in inventories for p in pod_members(group, inv)]
    return list_response(pods, req.query)


def member_services(state: ManagerState, req: Request) -> dict[str, Any]:
    group, inventories = _group_and_inventories(state, req)
    services = [s for inv in inventories for s in service_members(group, inv)]
    return list_response(services, req.query)


def member_ip_addresses(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    path = paths.group_path(req.params["group_id"])
    group = state.store.get(path)
    if group is None:
        raise not_found(path)
    ips = ip_members(group)
    return {"results": ips, "result_count": len(ips)}
