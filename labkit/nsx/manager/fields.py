"""The fields NSX's Policy types have, so that a misspelt or invented field is a 400 naming it.

NSX validates request bodies against the JSON schemas of its API types and refuses what they do
not define (issue 6: "unknown fields: a 400 with an NSX-style error naming the field"). The sets
below are the fields of the types the mock stores, from the NSX Policy API reference and
vsphere-automation-sdk-go's model types (Group, Condition, NestedExpression, IPAddressExpression,
ConjunctionOperator, SecurityPolicy, Rule). Read-only metadata (``_revision``, ``path`` ...,
:data:`labkit.nsx.manager.objects.READ_ONLY_FIELDS`) and JSON nulls are still ignored, never refused, so
an object read with GET can be sent back as it is.
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager.objects import READ_ONLY_FIELDS

# PolicyConfigResource / ManagedResource fields every Policy object has.
_COMMON = frozenset({"id", "display_name", "description", "resource_type", "tags", "origin_site_id", "owner_id",
                     "remote_path", "_links", "_schema", "_self"})

FIELDS: dict[str, frozenset[str]] = {
    "Group": _COMMON | {"expression", "extended_expression", "group_type", "reference", "state", "team_id"},
    "Condition": _COMMON | {"member_type", "key", "operator", "value", "scope_operator"},
    "NestedExpression": _COMMON | {"expressions"},
    "IPAddressExpression": _COMMON | {"ip_addresses"},
    "ConjunctionOperator": _COMMON | {"conjunction_operator"},
    "SecurityPolicy": _COMMON | {
        "category", "scope", "rules", "sequence_number", "stateful", "tcp_strict", "locked", "lock_modified_by",
        "lock_modified_time", "comments", "connectivity_strategy", "connectivity_preference",
        "application_connectivity_strategy", "logging_enabled", "internal_sequence_number", "is_default",
        "rule_count", "scheduler_path", "children"},
    "Rule": _COMMON | {
        "action", "direction", "disabled", "ip_protocol", "logged", "notes", "profiles", "scope",
        "sequence_number", "services", "service_entries", "source_groups", "destination_groups",
        "sources_excluded", "destinations_excluded", "tag", "rule_id", "is_default", "log_label"},
}


def unknown_fields(body: Any, kind: str, where: str = "") -> list[str]:
    """A problem per field of ``body`` (a ``kind`` object) that NSX's type does not define; group
    expressions are checked item by item, by their own ``resource_type``."""
    if not isinstance(body, dict) or kind not in FIELDS:
        return []
    prefix = f"{where}." if where else ""
    allowed = FIELDS[kind]
    problems = [f"{prefix}{name}: unknown field of {kind} (known: {', '.join(sorted(allowed - {'_links', '_schema', '_self'}))})"
                for name, value in body.items()
                if value is not None and name not in allowed and name not in READ_ONLY_FIELDS]
    if kind in ("Group", "NestedExpression"):
        items = body.get("expression" if kind == "Group" else "expressions")
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and item.get("resource_type") in FIELDS:
                name = "expression" if kind == "Group" else "expressions"
                problems += unknown_fields(item, item["resource_type"], f"{prefix}{name}[{i}]")
    return problems
