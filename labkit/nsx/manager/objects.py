"""NSX object conventions, shared by every handler.

Reproduced from the NSX Policy/MP API (nsx.md §10, vsphere-automation-sdk-go model types):

- Metadata on every object: ``id``, ``display_name`` (defaults to ``id``), ``resource_type``,
  ``_revision`` (0 at create, +1 per change), ``_create_time``/``_last_modified_time`` (epoch ms),
  ``_create_user``/``_last_modified_user``, ``_protection``, ``_system_owned``; policy objects also
  ``path``, ``parent_path``, ``relative_path``, ``unique_id``, ``realization_id``,
  ``marked_for_delete``, ``overridden``.
- PUT = create or replace and must carry the current ``_revision`` (stale or missing -> 412,
  error_code 206). PATCH = create or update; a PATCH that carries ``_revision`` must carry the
  current one too (412 otherwise): NSX's error reference lists 412 for "a PUT or PATCH request
  with an out-of-date _revision property", and vmware-nsxlib relies on it for lost-update
  protection. A PATCH without ``_revision`` is not checked.
- PATCH merges (top-level fields present replace those stored, lists whole) where NSX merges:
  with partial patch (header ``nsx-enable-partial-patch: true`` or the system setting); without
  it, a Group PATCH replaces the group (``partial=False``; see :mod:`labkit.nsx.manager.groups`).
- Clients send read-only fields and explicit JSON nulls back: both are ignored, never rejected.
- ``_protection: PROTECTED`` on objects a principal identity created; any other caller must send
  ``X-Allow-Overwrite: true`` to change or delete them (nsx.md §2.1).
- Lists: ``{results, result_count, cursor, sort_by, sort_ascending}``; ``cursor`` is absent on the
  last page (a client loops forever otherwise); ``page_size`` 1..1000, default 1000.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from labkit.nsx.manager.errors import ErrorCode, NSXApiError
from labkit.nsx.manager.principal import Principal
from labkit.nsx.manager.state import ManagerState

Mode = Literal["PUT", "PATCH"]

READ_ONLY_FIELDS = frozenset(
    {
        "_revision", "_create_time", "_create_user", "_last_modified_time",
        "_last_modified_user", "_protection", "_system_owned", "_links", "_self", "_schema",
        "path", "parent_path", "relative_path", "unique_id", "realization_id",
        "marked_for_delete", "overridden", "children",
    }
)
MAX_PAGE_SIZE = 1000


def clean(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without JSON nulls (at any depth) and without read-only fields."""
    return {k: _strip_nulls(v) for k, v in body.items() if v is not None and k not in READ_ONLY_FIELDS}


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value if v is not None]
    return value


def not_found(what: str, module: str = "policy") -> NSXApiError:
    return NSXApiError(
        404,
        f"The requested object : {what} could not be found. Object identifiers are case sensitive.",
        error_code=ErrorCode.NOT_FOUND,
        module_name=module,
    )


def bad_request(message: str, *, module: str = "policy", hint: str = "",
                code: int = ErrorCode.BAD_REQUEST) -> NSXApiError:
    return NSXApiError(400, message, error_code=code, module_name=module, hint=hint)


def validation_error(subject: str, problems: list[str], *, code: int, module: str = "policy") -> NSXApiError:
    """One 400 naming ``subject`` and listing every problem as a related error."""
    count = len(problems)
    return NSXApiError(
        400,
        f"{subject}: {count} problem{'s' if count != 1 else ''}: " + "; ".join(problems),
        error_code=code,
        module_name=module,
        related_errors=[NSXApiError(400, p, error_code=code, module_name=module) for p in problems],
    )


def check_protection(old: dict[str, Any], principal: Principal, allow_overwrite: bool,
                     module: str = "policy") -> None:
    """Refuse to change a PI-owned object unless its owner asks or ``X-Allow-Overwrite: true``."""
    if old.get("_protection") != "PROTECTED":
        return
    owner = old.get("_create_user", "")
    if principal.name == owner or allow_overwrite:
        return
    raise NSXApiError(
        403,
        f"Principal '{principal.name}' attempts to delete or modify an object of type "
        f"{old.get('resource_type', 'object')} it doesn't own. (createUser={owner}, "
        "allowOverwrite=null)",
        error_code=ErrorCode.PROTECTED_OBJECT,
        module_name=module,
        hint="objects created by a principal identity are PROTECTED; send the header "
        "X-Allow-Overwrite: true to change them anyway",
    )


def check_revision(old: dict[str, Any], given: Any, what: str, module: str = "policy") -> None:
    """``given`` must be the current ``_revision`` of ``old`` (NSX answers 412/206 otherwise)."""
    current = old.get("_revision", 0)
    if given is None:
        problem = "no _revision was given"
    elif not isinstance(given, int) or isinstance(given, bool) or given != current:
        problem = f"_revision {given!r} is stale"
    else:
        return
    raise NSXApiError(
        412,
        f"The object {what} was modified by somebody else: {problem}, the current _revision is "
        f"{current}.",
        error_code=ErrorCode.STALE_REVISION,
        module_name="common-services",
        hint="GET the object, apply your change to it and send it back with its _revision "
        "(or send a PATCH without _revision, which is not checked)",
    )


def stamp(
    state: ManagerState,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    principal: Principal,
    *,
    object_id: str,
    resource_type: str,
) -> dict[str, Any]:
    """Set the metadata every NSX object carries; ``old`` is the stored version (or None)."""
    now = state.now_ms()
    obj["id"] = object_id
    obj["resource_type"] = obj.get("resource_type") or resource_type
    obj.setdefault("display_name", object_id)
    if old is None:
        obj["_create_time"] = now
        obj["_create_user"] = principal.name
        obj["_protection"] = "PROTECTED" if principal.is_principal_identity else "NOT_PROTECTED"
        obj["_revision"] = 0
    else:
        for key in ("_create_time", "_create_user", "_protection"):
            obj[key] = old.get(key)
        obj["_revision"] = int(old.get("_revision", 0)) + 1
    obj["_last_modified_time"] = now
    obj["_last_modified_user"] = principal.name
    obj["_system_owned"] = bool(old.get("_system_owned", False)) if old else False
    return obj


def prepare(
    state: ManagerState,
    *,
    path: str,
    body: dict[str, Any],
    mode: Mode,
    principal: Principal,
    allow_overwrite: bool,
    resource_type: str,
    accepted_types: tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
    module: str = "policy",
    revision_check: bool | None = None,
    partial: bool = True,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The new version of the policy object at ``path`` (not stored yet) and the old one.

    Checks, in NSX's order: id and resource_type of the body, protection, revision: a PUT must
    carry the current ``_revision`` (``revision_check=False``: rules sent inline in their
    policy), and any ``_revision`` given, PUT or PATCH, must be the current one. A PATCH with
    ``partial=False`` replaces the object instead of merging into it (no revision needed).
    """
    object_id = path.rsplit("/", 1)[-1]
    old = state.store.get(path)
    given_revision = body.get("_revision")
    incoming = clean(body)
    if incoming.get("id", object_id) != object_id:
        raise bad_request(
            f"id {incoming['id']!r} in the body does not match {object_id!r} in the URL",
            module=module,
        )
    kinds = (resource_type, *accepted_types)
    if incoming.get("resource_type", resource_type) not in kinds:
        raise bad_request(
            f"resource_type {incoming['resource_type']!r} cannot be written at {path}; "
            f"expected {' or '.join(kinds)}",
            module=module,
        )
    if old is not None:
        check_protection(old, principal, allow_overwrite, module)
        required = mode == "PUT" if revision_check is None else revision_check
        if required or given_revision is not None:
            check_revision(old, given_revision, path, module)
    if old is not None and mode == "PATCH" and partial:
        new = {k: v for k, v in old.items()}
        new.update(incoming)
    else:
        new = {**(defaults or {}), **incoming}
    stamp(state, new, old, principal, object_id=object_id, resource_type=resource_type)
    parent = path.rsplit("/", 1)[0]
    new["path"] = path
    new["relative_path"] = object_id
    new["parent_path"] = parent.rsplit("/", 1)[0] if parent.rsplit("/", 1)[-1] in _LIST_SEGMENTS else parent
    new["unique_id"] = old.get("unique_id") if old else str(uuid.uuid4())
    new["realization_id"] = new["unique_id"]
    new["marked_for_delete"] = False
    new["overridden"] = False
    return new, old


# Collection segments: an object's parent_path is its owner, not the collection
# (/infra/domains/default/groups/web -> parent_path /infra/domains/default).
_LIST_SEGMENTS = frozenset(
    {"groups", "security-policies", "rules", "services", "traceflows", "cluster-control-planes",
     "container-cluster-span", "domains", "sites", "enforcement-points"}
)


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without the mock's private ``_labkit_*`` fields."""
    return {k: v for k, v in obj.items() if not k.startswith("_labkit")}


def list_response(items: list[dict[str, Any]], query: dict[str, str], *,
                  module: str = "policy") -> dict[str, Any]:
    """NSX's list envelope for ``items``, honouring cursor, page_size, sort_by, sort_ascending
    and included_fields."""
    sort_by = query.get("sort_by", "")
    ascending = query.get("sort_ascending", "true").lower() != "false"
    page_size = _int_param(query, "page_size", MAX_PAGE_SIZE, module)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise bad_request(f"page_size {page_size} must be between 1 and {MAX_PAGE_SIZE}", module=module)
    offset = _int_param(query, "cursor", 0, module) if query.get("cursor") else 0
    if offset < 0:
        raise bad_request(f"invalid cursor {query.get('cursor')!r}", module=module)
    ordered = list(items)
    if sort_by:
        ordered.sort(key=lambda o: _sort_key(o.get(sort_by)), reverse=not ascending)
    elif not ascending:
        ordered.reverse()
    page = [public(o) for o in ordered[offset : offset + page_size]]
    fields = [f.strip() for f in query.get("included_fields", "").split(",") if f.strip()]
    if fields:
        page = [{k: v for k, v in o.items() if k in fields} for o in page]
    out: dict[str, Any] = {
        "results": page,
        "result_count": len(ordered),
        "sort_ascending": ascending,
    }
    if sort_by:
        out["sort_by"] = sort_by
    if offset + page_size < len(ordered):
        # NSX cursors are opaque; this one is the offset of the next page. It never starts with
        # "0000", which vmware-nsxlib reads as "no more pages".
        out["cursor"] = str(offset + page_size)
    return out


def _int_param(query: dict[str, str], name: str, default: int, module: str) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"query parameter {name}={raw!r} must be an integer", module=module) from None


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
