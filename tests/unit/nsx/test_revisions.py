"""Lost-update protection: a PATCH that carries a stale ``_revision`` answers 412 like a PUT.

NSX's error reference lists 412 for "the client sent a PUT or PATCH request with an out-of-date
_revision property"; vmware-nsxlib relies on it. Checked on every type the mock writes with a
``_revision`` through PATCH; a PATCH without ``_revision`` is not checked. The hierarchical API
checks revisions only with ``?enforce_revision_check=true``.
"""

from __future__ import annotations

import pytest

from labkit.nsx.manager import NSXApiError

from .conftest import CCPS, GROUPS, POLICIES, cond

SERVICES = "/policy/api/v1/infra/services"
TRACEFLOWS = "/policy/api/v1/infra/antrea/traceflows"
G = "/infra/domains/default/groups"


def _traceflow(cluster, dst_port: int) -> dict:
    return {"container_cluster_id": cluster.node_id, "source_external_id": "pod-web-1",
            "destination_external_id": "pod-db-1",
            "packet": {"resource_type": "FIELDS_PACKET_DATA", "ip_header": {"protocol": 6},
                       "transport_header": {"tcp_header": {"dst_port": dst_port, "tcp_flags": 2}}}}


@pytest.fixture
def writable(shop, admin):
    """Every object type with a ``_revision`` and a PATCH route: (path, body version n)."""
    admin.patch(f"{POLICIES}/p", {"category": "Application", "scope": [shop.ccp_path]})
    admin.patch(f"{GROUPS}/web", {"group_type": ["ANTREA"], "expression": [cond("Pod", "Tag", "app|web")]})
    return {
        "Group": (f"{GROUPS}/g", lambda n: {"description": f"v{n}"}),
        "Service": (f"{SERVICES}/s", lambda n: {"service_entries": [
            {"resource_type": "L4PortSetServiceEntry", "id": "e", "l4_protocol": "TCP",
             "destination_ports": [str(8000 + n)]}]}),
        "SecurityPolicy": (f"{POLICIES}/p", lambda n: {"description": f"v{n}"}),
        "Rule": (f"{POLICIES}/p/rules/r", lambda n: {"source_groups": [f"{G}/web"], "sequence_number": n}),
        "SecurityPolicyContainerCluster": (f"{POLICIES}/p/container-cluster-span/c1",
                                           lambda n: {"container_cluster_path": shop.ccp_path,
                                                      "description": f"v{n}"}),
        "AntreaTraceflowConfig": (f"{TRACEFLOWS}/tf", lambda n: _traceflow(shop, 5000 + n)),
        "AntreaHeartbeatConfig": (f"{CCPS}/{shop.name}/heartbeat-config", lambda n: {"report_interval": 60 + n}),
    }


@pytest.mark.parametrize("kind", ["Group", "Service", "SecurityPolicy", "Rule", "SecurityPolicyContainerCluster",
                                  "AntreaTraceflowConfig", "AntreaHeartbeatConfig"])
def test_patch_with_a_stale_revision_is_412_and_changes_nothing(admin, writable, kind):
    path, body = writable[kind]
    admin.patch(path, body(1))
    current = admin.patch(path, body(2))
    revision = current["_revision"]
    with pytest.raises(NSXApiError) as exc:
        admin.patch(path, {**body(3), "_revision": revision - 1})
    err = exc.value
    assert (err.status, err.error_code, err.http_status) == (412, 206, "PRECONDITION_FAILED")
    assert f"the current _revision is {revision}" in err.error_message
    assert admin.get(path) == current
    # The current revision passes, and a PATCH without _revision is not checked.
    assert admin.patch(path, {**body(4), "_revision": revision})["_revision"] == revision + 1
    assert admin.patch(path, body(5))["_revision"] == revision + 2


def test_rule_sent_inline_with_a_stale_revision_is_412(admin, writable):
    admin.patch(f"{POLICIES}/p/rules/r", {"source_groups": [f"{G}/web"]})
    rule = admin.patch(f"{POLICIES}/p/rules/r", {"source_groups": [f"{G}/web"], "action": "DROP"})
    with pytest.raises(NSXApiError) as exc:
        admin.patch(f"{POLICIES}/p", {"rules": [{**rule, "action": "ALLOW", "_revision": rule["_revision"] - 1}]})
    assert exc.value.status == 412
    assert admin.get(f"{POLICIES}/p/rules/r")["action"] == "DROP"


def test_hierarchical_api_checks_revisions_only_when_asked(admin):
    admin.patch(f"{GROUPS}/g", {"description": "v0"})
    admin.patch(f"{GROUPS}/g", {"description": "v1"})

    def tree(description: str) -> dict:
        return {"resource_type": "Infra", "children": [{
            "resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain",
            "children": [{"resource_type": "ChildGroup",
                          "Group": {"id": "g", "resource_type": "Group", "description": description,
                                    "_revision": 0}}]}]}

    admin.patch("/policy/api/v1/infra", tree("v2"))  # NSX's default: _revision in the tree ignored
    assert admin.get(f"{GROUPS}/g")["description"] == "v2"
    with pytest.raises(NSXApiError) as exc:
        admin.patch("/policy/api/v1/infra", tree("v3"), enforce_revision_check=True)
    assert exc.value.status == 412
    assert admin.get(f"{GROUPS}/g")["description"] == "v2"
