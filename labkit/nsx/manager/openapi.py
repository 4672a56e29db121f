"""The OpenAPI description of what the NSX mock implements, generated from its route table.

NSX Manager serves its own API description (``GET /api/v1/spec/openapi/nsx_api.json`` for the
management plane, ``.../nsx_policy_api.json`` for the Policy API; the running manager describes
its own build). The mock does the same at those paths, but describes **only the routes it
implements** (:data:`labkit.nsx.manager.api.ROUTES`), so a client generator or a property-based tester
(``tests/unit/nsx/test_openapi.py`` runs schemathesis against it) sees exactly the mock's surface.

Differences from NSX's documents: OpenAPI 3.0 (NSX serves Swagger 2.0), request bodies are
described as JSON objects without their NSX type schemas (the mock validates them and answers
400 naming the field) except for the bounds NSX's schema puts on SecurityPolicy and Rule
``sequence_number`` (:data:`BODY_SCHEMAS`), and the labkit-only ``/labkit/v1`` routes are in the
management document.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from labkit.nsx.manager import inventory_api
from labkit.nsx.manager.flow_analytics import FILTERS as FLOW_FILTERS
from labkit.nsx.manager.flow_analytics import GROUP_BY
from labkit.nsx.manager.policy_rules import POLICY_SEQUENCE_MAX, SEQUENCE_MIN
from labkit.nsx.manager.revise import DEFAULT_OPERATION, OPERATIONS
from labkit.nsx.manager.routing import Route

MANAGER_SPEC = "/api/v1/spec/openapi/nsx_api.json"
POLICY_SPECS = ("/api/v1/spec/openapi/nsx_policy_api.json", "/policy/api/v1/spec/openapi/nsx_policy_api.json")

_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_LIST_QUERY = [
    ("cursor", _STRING, "opaque cursor from the previous page"),
    ("page_size", {"type": "integer", "minimum": 1, "maximum": 1000}, "results per page (default 1000)"),
    ("sort_by", _STRING, "field to sort by (default id)"),
    ("sort_ascending", _BOOL, "sort order"),
    ("included_fields", _STRING, "comma-separated fields to return"),
]
# Query parameters of individual routes (method, template suffix) -> [(name, schema, required)].
_QUERY: dict[tuple[str, str], list[tuple[str, dict[str, Any], bool]]] = {
    ("DELETE", "/cluster-control-planes/{ccp_id}"): [("cascade", _BOOL, False)],
    ("DELETE", "/groups/{group_id}"): [("force", _BOOL, False)],
    ("POST", "/inventory/container/{cluster_id}"): [("action", {"type": "string", "enum": ["updates"]}, True)],
    ("GET", "/fabric/{collection}"): [(n, _STRING, False) for n in (
        "container_cluster_id", "container_project_id", "container_application_id", "cluster_type", "infra_type")],
    ("GET", "/members/pods"): [("cluster_id", _STRING, False)],
    ("GET", "/members/kubernetes-services"): [("cluster_id", _STRING, False)],
    ("GET", "/members/ip-addresses"): [("cluster_id", _STRING, False)],
    ("GET", "/realized-state/status"): [("intent_path", _STRING, True)],
    ("GET", "/realized-state/realized-entities"): [("intent_path", _STRING, True)],
    ("GET", "/statistics"): [("container_cluster_path", _STRING, False)],
    ("POST", "/traceflows/{tf_id}"): [("action", _STRING, False)],
    ("PATCH", "/policy/api/v1/infra"): [("enforce_revision_check", _BOOL, False)],
    **{("POST", suffix): [("action", {"type": "string", "enum": ["revise"]}, True),
                          ("operation", {"type": "string", "enum": list(OPERATIONS),
                                         "default": DEFAULT_OPERATION}, False),
                          ("anchor_path", _STRING, False)]
       for suffix in ("/security-policies/{policy_id}", "/rules/{rule_id}")},
    ("GET", "/"): [(n, _STRING, False) for n in ("cluster_id", *FLOW_FILTERS)],
    ("GET", "/flow-reports"): [("container_cluster_id", _STRING, False)],
    ("GET", "/labkit/v1/flows"): [(n, _STRING, False) for n in ("container_cluster_id", *FLOW_FILTERS)],
    ("GET", "/flows/summary"): [("group_by", {"type": "string", "enum": list(GROUP_BY)}, True),
                                ("limit", {"type": "integer", "minimum": 1}, False),
                                *((n, _STRING, False) for n in ("container_cluster_id", *FLOW_FILTERS))],
}
# Path parameters the mock accepts only with these values (docs/nsx-mock.md, "Routes").
_ENUMS: dict[str, list[str]] = {
    "site": ["default"], "ep": ["default"], "domain": ["default"],
    "collection": sorted(inventory_api.BY_COLLECTION), "item": sorted(inventory_api.BY_ITEM),
}
_ERROR = {"$ref": "#/components/schemas/ApiError"}
# The parts of NSX's type schemas the mock describes: sequence_number bounds (SecurityPolicy
# 0..999,999, Rule >= 0; vcf-nsx 9.1 model_client). Other fields stay free-form.
_RULE = {"type": "object", "properties": {"sequence_number": {"type": "integer", "minimum": SEQUENCE_MIN}}}
_POLICY = {"type": "object", "properties": {
    "sequence_number": {"type": "integer", "minimum": SEQUENCE_MIN, "maximum": POLICY_SEQUENCE_MAX},
    "rules": {"type": "array", "items": _RULE}}}
BODY_SCHEMAS: dict[str, dict[str, Any]] = {"/security-policies/{policy_id}": _POLICY, "/rules/{rule_id}": _RULE}


def _is_list(route: Route) -> bool:
    return route.method == "GET" and (
        route.template.endswith("s") and not route.template.endswith(("/status", "/statistics", "/version"))
        or route.template.endswith(("/{collection}", "-span", "-status", "/rules")))


def _operation(route: Route, operation_ids: set[str]) -> dict[str, Any]:
    doc = inspect.getdoc(route.handler) or ""
    name = getattr(route.handler, "__name__", "handler").strip("_")
    operation_id = f"{route.method.lower()}_{name}"
    while operation_id in operation_ids:
        operation_id += "_"
    operation_ids.add(operation_id)
    parameters = [{"name": p, "in": "path", "required": True,
                   "schema": {"type": "string", **({"enum": _ENUMS[p]} if p in _ENUMS else {})}}
                  for p in re.findall(r"\{(\w+)\}", route.template)]
    query = next((q for (method, suffix), q in _QUERY.items()
                  if method == route.method and (route.template.endswith(suffix) if suffix != "/" else
                                                 route.template == "/")), [])
    parameters += [{"name": n, "in": "query", "required": required, "schema": schema} for n, schema, required in query]
    if _is_list(route):
        parameters += [{"name": n, "in": "query", "required": False, "schema": s, "description": d}
                       for n, s, d in _LIST_QUERY]
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": doc.splitlines()[0] if doc else f"{route.method} {route.template}",
        "tags": [route.module_name],
        "parameters": parameters,
        "responses": {
            "200" if route.method != "POST" else "default": {
                "description": "success",
                "content": ({"text/html": {"schema": _STRING}} if route.template == "/" else
                            {"application/json": {"schema": {}}})},
            **{code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
               for code, text in (("400", "invalid request (every problem, with field paths)"),
                                  ("401", "no credentials"), ("403", "wrong credentials, or a protected object"),
                                  ("404", "not found"), ("405", "method not allowed"),
                                  ("412", "stale or missing _revision"))},
        },
    }
    if route.method in ("PUT", "PATCH", "POST"):
        schema = next((s for suffix, s in BODY_SCHEMAS.items() if route.template.endswith(suffix)),
                      {"type": "object"})
        op["requestBody"] = {"required": route.method != "POST",
                             "content": {"application/json": {"schema": schema}}}
    if route.public:
        op["security"] = []
    return op


def openapi_document(routes: Iterable[Route], *, title: str, server_url: str = "") -> dict[str, Any]:
    """An OpenAPI 3.0 document for ``routes`` (``server_url``: where this mock answers; clients
    otherwise use the URL they fetched the document from, as with NSX's)."""
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for route in routes:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route, operation_ids)
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "labkit",
                 "description": "What labkit's NSX Manager mock implements (docs/nsx-mock.md); not VMware NSX."},
        "paths": paths,
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic",
                                              "description": "admin; principal identities use a TLS client "
                                              "certificate instead"}},
            "schemas": {"ApiError": {"type": "object", "required": ["httpStatus", "error_code", "error_message"],
                                     "properties": {"httpStatus": _STRING, "error_code": {"type": "integer"},
                                                    "module_name": _STRING, "error_message": _STRING,
                                                    "details": _STRING,
                                                    "related_errors": {"type": "array", "items": {"type": "object"}}}}},
        },
        "security": [{"basicAuth": []}],
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
