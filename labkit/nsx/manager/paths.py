"""The NSX paths the mock serves, written down once.

Policy objects are keyed by their NSX ``path`` (``/infra/domains/default/groups/web``): the URL is
``/policy/api/v1`` + path. Management-plane objects (``/api/v1/...``) have no ``path`` field in
NSX, so the mock keys them by their item URL. Records that NSX keeps privately (realization
reports, statistics, heartbeats) are keyed under ``labkit:`` so no NSX path can collide with them.
"""

from __future__ import annotations

POLICY_API = "/policy/api/v1"
MP_API = "/api/v1"
LABKIT_API = "/labkit/v1"

INFRA = "/infra"
DEFAULT_DOMAIN = "default"
DOMAIN = f"{INFRA}/domains/{DEFAULT_DOMAIN}"
GROUPS = f"{DOMAIN}/groups"
SECURITY_POLICIES = f"{DOMAIN}/security-policies"
SERVICES = f"{INFRA}/services"
TRACEFLOWS = f"{INFRA}/antrea/traceflows"
ENFORCEMENT_POINT = f"{INFRA}/sites/default/enforcement-points/default"
CLUSTER_CONTROL_PLANES = f"{ENFORCEMENT_POINT}/cluster-control-planes"

PRINCIPAL_IDENTITIES = f"{MP_API}/trust-management/principal-identities"
CERTIFICATES = f"{MP_API}/trust-management/certificates"
FABRIC = f"{MP_API}/fabric"

# Private records (never shown under these keys).
REALIZED = "labkit:/realized"
STATISTICS = "labkit:/statistics"
HEARTBEATS = "labkit:/heartbeats"
TRACEFLOW_RESULTS = "labkit:/traceflow-results"
FLOW_REPORTS = "labkit:/flow-reports"  # /<ccp id>/<report id>: one report's header
FLOW_RECORDS = "labkit:/flow-records"  # /<ccp id>/<report id>/<chunk>: its records
FLOW_REPORT_COUNTER = "flow-report"
GENERATION_COUNTER = "policy-generation"
RULE_ID_COUNTER = "rule-id"


def group_path(group_id: str) -> str:
    return f"{GROUPS}/{group_id}"


def policy_path(policy_id: str) -> str:
    return f"{SECURITY_POLICIES}/{policy_id}"


def rule_path(policy_id: str, rule_id: str) -> str:
    return f"{policy_path(policy_id)}/rules/{rule_id}"


def service_path(service_id: str) -> str:
    return f"{SERVICES}/{service_id}"


def ccp_path(cluster_id: str) -> str:
    return f"{CLUSTER_CONTROL_PLANES}/{cluster_id}"


def traceflow_path(traceflow_id: str) -> str:
    return f"{TRACEFLOWS}/{traceflow_id}"


def is_ccp_path(path: object) -> bool:
    """True for ``/infra/sites/default/enforcement-points/default/cluster-control-planes/<id>``."""
    return (
        isinstance(path, str)
        and path.startswith(CLUSTER_CONTROL_PLANES + "/")
        and "/" not in path[len(CLUSTER_CONTROL_PLANES) + 1 :]
    )


def ccp_id(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def is_group_path(path: object) -> bool:
    return isinstance(path, str) and path.startswith(f"{INFRA}/domains/") and "/groups/" in path

