"""The NSX mock's route table (declared once, in order) and its dispatcher.

:class:`NSXApi` turns one HTTP request into one :class:`~labkit.nsx.manager.routing.Response`:
match the route (404/405), authenticate (401/403), run the handler inside one store transaction
(a handler that raises changes nothing), and answer errors as NSX ApiError bodies. It does no
socket I/O, so it can be driven directly in tests; :mod:`labkit.nsx.manager.server` puts it behind HTTPS.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from labkit.nsx.manager import (
    ccp,
    console_page,
    desired,
    flows_api,
    groups,
    hapi,
    inventory_api,
    node,
    policies,
    realization,
    services,
    statistics_api,
    system_config,
    traceflow_api,
    trust,
)
from labkit.nsx.manager.errors import ErrorCode, NSXApiError
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.openapi import MANAGER_SPEC, POLICY_SPECS, openapi_document
from labkit.nsx.manager.paths import GENERATION_COUNTER
from labkit.nsx.manager.routing import Route, Router
from labkit.nsx.manager.state import ManagerState

log = logging.getLogger("labkit.nsx")

_EP = "/infra/sites/{site}/enforcement-points/{ep}"
_CCP = f"{_EP}/cluster-control-planes/{{ccp_id}}"
_DOMAIN = "/infra/domains/{domain}"
_GROUP = f"{_DOMAIN}/groups/{{group_id}}"
_POLICY = f"{_DOMAIN}/security-policies/{{policy_id}}"
_TF = "/infra/antrea/traceflows/{tf_id}"
P = "/policy/api/v1"
MP = "/api/v1"
LK = "/labkit/v1"



def _console(state: ManagerState, req: Request) -> Response:
    """``GET /``: the read-only console page (:mod:`labkit.nsx.manager.console_page`). Each view is read
    through the GET routes below, as the principal who asked, so the page shows what the API does."""
    router = Router(ROUTES)

    def get(path: str, **query: object) -> object:
        route, params = router.match("GET", path)
        sub = Request(method="GET", path=path, query={k: str(v) for k, v in query.items()},
                      headers=req.headers, principal=req.principal, params=params, module_name=route.module_name)
        result = route.handler(state, sub)
        return result.body if isinstance(result, Response) else result

    page = console_page.render(get, cluster_id=req.query.get("cluster_id", ""),
                               flow_filters={k: v for k, v in req.query.items() if k in console_page.FLOW_FILTERS})
    return Response(200, page, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


def _manager_spec(state: ManagerState, req: Request) -> dict:
    """The OpenAPI description of the management-plane (and labkit) routes the mock implements."""
    return openapi_document([r for r in ROUTES if not r.template.startswith(P)],
                            title="NSX Manager API (labkit mock)")


def _policy_spec(state: ManagerState, req: Request) -> dict:
    """The OpenAPI description of the Policy API routes the mock implements."""
    return openapi_document([r for r in ROUTES if r.template.startswith(P)], title="NSX Policy API (labkit mock)")


ROUTES: tuple[Route, ...] = (
    # The read-only console page for browsers (NSX Manager's UI lives at / too)
    Route("GET", "/", _console),
    # OpenAPI descriptions of what the mock implements, at NSX's own spec paths
    Route("GET", MANAGER_SPEC, _manager_spec),
    *(Route("GET", path, _policy_spec) for path in POLICY_SPECS),
    # Manager node and sessions
    Route("GET", f"{MP}/node/version", node.node_version),
    Route("GET", f"{MP}/node", node.node_properties),
    Route("GET", f"{MP}/reverse-proxy/node/health", node.reverse_proxy_health),
    Route("GET", f"{MP}/cluster/status", node.cluster_status),
    Route("POST", "/api/session/create", node.session_create, public=True),
    Route("POST", "/api/session/destroy", node.session_destroy),
    # Trust management: principal identities and their certificates
    Route("GET", f"{MP}/trust-management/principal-identities", trust.list_principal_identities),
    Route("POST", f"{MP}/trust-management/principal-identities/with-certificate",
          trust.create_principal_identity),
    Route("GET", f"{MP}/trust-management/principal-identities/{{pi_id}}", trust.get_principal_identity),
    Route("DELETE", f"{MP}/trust-management/principal-identities/{{pi_id}}",
          trust.delete_principal_identity),
    Route("GET", f"{MP}/trust-management/certificates", trust.list_certificates),
    Route("GET", f"{MP}/trust-management/certificates/{{cert_id}}", trust.get_certificate),
    Route("DELETE", f"{MP}/trust-management/certificates/{{cert_id}}", trust.delete_certificate),
    # Cluster control planes (registration, health)
    Route("GET", f"{P}{_EP}/cluster-control-planes", ccp.list_ccps),
    Route("GET", f"{P}{_EP}/cluster-control-planes-status", ccp.list_ccp_status),
    Route("GET", f"{P}{_CCP}", ccp.get_ccp),
    Route("PUT", f"{P}{_CCP}", ccp.put_ccp),
    Route("DELETE", f"{P}{_CCP}", ccp.delete_ccp),
    Route("GET", f"{P}{_CCP}/status", ccp.get_ccp_status),
    Route("GET", f"{P}{_CCP}/heartbeat-config", ccp.get_heartbeat_config),
    Route("PUT", f"{P}{_CCP}/heartbeat-config", ccp.put_heartbeat_config),
    Route("PATCH", f"{P}{_CCP}/heartbeat-config", ccp.patch_heartbeat_config),
    # Container inventory
    Route("POST", f"{MP}/inventory/container/{{cluster_id}}", inventory_api.inventory_updates,
          module_name=inventory_api.MODULE),
    Route("POST", f"{MP}/fabric/container-clusters", inventory_api.create_container_cluster,
          module_name=inventory_api.MODULE),
    Route("DELETE", f"{MP}/fabric/container-clusters/{{object_id}}", inventory_api.delete_container_cluster,
          module_name=inventory_api.MODULE),
    Route("GET", f"{MP}/fabric/{{collection}}", inventory_api.list_objects, module_name=inventory_api.MODULE),
    Route("GET", f"{MP}/fabric/{{item}}/{{object_id}}", inventory_api.get_object,
          module_name=inventory_api.MODULE),
    # Partial patch (does a PATCH merge or replace)
    Route("GET", f"{P}/system-config/nsx-partial-patch-config", system_config.get_partial_patch_config),
    Route("PATCH", f"{P}/system-config/nsx-partial-patch-config", system_config.patch_partial_patch_config),
    # Hierarchical API
    Route("PATCH", f"{P}/infra", hapi.patch_infra),
    # Services
    Route("GET", f"{P}/infra/services", services.list_services),
    Route("GET", f"{P}/infra/services/{{service_id}}", services.get_service),
    Route("PUT", f"{P}/infra/services/{{service_id}}", services.put_service),
    Route("PATCH", f"{P}/infra/services/{{service_id}}", services.patch_service),
    Route("DELETE", f"{P}/infra/services/{{service_id}}", services.delete_service),
    # Groups and effective members
    Route("GET", f"{P}{_DOMAIN}/groups", groups.list_groups),
    Route("GET", f"{P}{_GROUP}", groups.get_group),
    Route("PUT", f"{P}{_GROUP}", groups.put_group),
    Route("PATCH", f"{P}{_GROUP}", groups.patch_group),
    Route("DELETE", f"{P}{_GROUP}", groups.delete_group),
    Route("GET", f"{P}{_GROUP}/members/pods", groups.member_pods),
    Route("GET", f"{P}{_GROUP}/members/kubernetes-services", groups.member_services),
    Route("GET", f"{P}{_GROUP}/members/ip-addresses", groups.member_ip_addresses),
    # Security policies, rules, spans, statistics
    Route("GET", f"{P}{_DOMAIN}/security-policies", policies.list_policies),
    Route("GET", f"{P}{_POLICY}", policies.get_policy),
    Route("PUT", f"{P}{_POLICY}", policies.put_policy),
    Route("PATCH", f"{P}{_POLICY}", policies.patch_policy),
    Route("POST", f"{P}{_POLICY}", policies.revise_policy),
    Route("DELETE", f"{P}{_POLICY}", policies.delete_policy),
    Route("GET", f"{P}{_POLICY}/statistics", statistics_api.get_policy_statistics),
    Route("GET", f"{P}{_POLICY}/rules", policies.list_rules),
    Route("GET", f"{P}{_POLICY}/rules/{{rule_id}}", policies.get_rule),
    Route("PUT", f"{P}{_POLICY}/rules/{{rule_id}}", policies.put_rule),
    Route("PATCH", f"{P}{_POLICY}/rules/{{rule_id}}", policies.patch_rule),
    Route("POST", f"{P}{_POLICY}/rules/{{rule_id}}", policies.revise_rule),
    Route("DELETE", f"{P}{_POLICY}/rules/{{rule_id}}", policies.delete_rule),
    Route("GET", f"{P}{_POLICY}/rules/{{rule_id}}/statistics", statistics_api.get_rule_statistics),
    Route("GET", f"{P}{_POLICY}/container-cluster-span", policies.list_spans),
    Route("GET", f"{P}{_POLICY}/container-cluster-span/{{span_id}}", policies.get_span),
    Route("PUT", f"{P}{_POLICY}/container-cluster-span/{{span_id}}", policies.put_span),
    Route("PATCH", f"{P}{_POLICY}/container-cluster-span/{{span_id}}", policies.patch_span),
    Route("DELETE", f"{P}{_POLICY}/container-cluster-span/{{span_id}}", policies.delete_span),
    # Realization
    Route("GET", f"{P}/infra/realized-state/status", realization.get_status),
    Route("GET", f"{P}/infra/realized-state/realized-entities", realization.get_realized_entities),
    # Antrea traceflow
    Route("GET", f"{P}/infra/antrea/traceflows", traceflow_api.list_traceflows),
    Route("GET", f"{P}{_TF}", traceflow_api.get_traceflow),
    Route("PUT", f"{P}{_TF}", traceflow_api.put_traceflow),
    Route("PATCH", f"{P}{_TF}", traceflow_api.patch_traceflow),
    Route("POST", f"{P}{_TF}", traceflow_api.rerun_traceflow),
    Route("DELETE", f"{P}{_TF}", traceflow_api.delete_traceflow),
    Route("GET", f"{P}{_TF}/status", traceflow_api.get_status),
    Route("GET", f"{P}{_TF}/observations", traceflow_api.get_observations),
    # labkit-only write side for the adapter (what NSX receives over its private channel)
    Route("PUT", f"{LK}{_CCP}/status", ccp.put_ccp_status, module_name="labkit"),
    Route("GET", f"{LK}{_CCP}/desired-state", desired.get_desired_state, module_name="labkit"),
    Route("PUT", f"{LK}/realized-state/status", realization.put_report, module_name="labkit"),
    Route("PUT", f"{LK}{_POLICY}/statistics", statistics_api.put_policy_statistics, module_name="labkit"),
    Route("PUT", f"{LK}{_TF}/result", traceflow_api.put_result, module_name="labkit"),
    # labkit-only flow collector and flow view (NSX takes no Antrea flows; docs/nsx-mock.md)
    Route("POST", f"{LK}{_CCP}/flow-records", flows_api.post_flow_records, module_name=flows_api.MODULE),
    Route("GET", f"{LK}/flow-reports", flows_api.list_flow_reports, module_name=flows_api.MODULE),
    Route("GET", f"{LK}/flows", flows_api.list_flows, module_name=flows_api.MODULE),
    Route("GET", f"{LK}/flows/summary", flows_api.flow_summary, module_name=flows_api.MODULE),
)


class NSXApi:
    """Dispatches requests over :data:`ROUTES` against one :class:`ManagerState`."""

    def __init__(self, state: ManagerState, routes: tuple[Route, ...] = ROUTES) -> None:
        self.state = state
        self.router = Router(routes)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes,
               peer_cert_der: bytes | None = None) -> Response:
        url = urlsplit(target)
        req = Request(method=method.upper(), path=url.path or "/",
                      query=dict(parse_qsl(url.query, keep_blank_values=True)),
                      headers=headers, body=body)
        try:
            route, params = self.router.match(req.method, req.path)
            req.params, req.module_name = params, route.module_name
            if not route.public:
                req.principal = self.state.auth.authenticate(req, peer_cert_der)
            response = self._run(route, req)
        except NSXApiError as exc:
            response = self._error(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must answer 500, not drop the connection
            log.exception("NSX mock: %s %s failed", method, target)
            response = self._error(NSXApiError(
                500, f"labkit NSX mock internal error: {type(exc).__name__}: {exc}",
                error_code=ErrorCode.INTERNAL,
            ))
        log.debug("%s %s -> %s", method, target, response.status)
        return response

    def _run(self, route: Route, req: Request) -> Response:
        state = self.state
        state.trust_changed = False
        with state.store.transaction():
            result = route.handler(state, req)
            response = result if isinstance(result, Response) else Response(200, result)
            if req.method != "GET" and req.path.startswith("/policy/") and response.status < 300:
                state.store.next_value(GENERATION_COUNTER)
        if state.trust_changed:
            state.trust_changed = False
            state.auth.reload()
            state.on_trust_changed()
        return response

    @staticmethod
    def _error(exc: NSXApiError) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="NSX Manager"'} if exc.status == 401 else {}
        return Response(exc.status, exc.body(), headers)
