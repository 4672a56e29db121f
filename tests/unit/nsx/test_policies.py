"""Security policies on Antrea clusters: restrictions, rules, H-API, realization, statistics."""

from __future__ import annotations

import pytest

from labkit.nsx.manager import NSXApiError

from .conftest import GROUPS, POLICIES, antrea_group, cond

G = "/infra/domains/default/groups"


@pytest.fixture
def groups(admin):
    admin.patch(f"{GROUPS}/fe", antrea_group(cond("Pod", "Tag", "app|fe")))
    admin.patch(f"{GROUPS}/be", antrea_group(cond("Pod", "Tag", "app|be")))
    admin.patch(f"{GROUPS}/with-ip", antrea_group(
        cond("Pod", "Tag", "app|x"), {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
        {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.0/8"]}))
    admin.patch(f"{GROUPS}/generic", {"expression": [cond("VirtualMachine", "Name", "vm")]})
    admin.patch(f"{GROUPS}/ips", {"group_type": ["IPAddress"], "expression": [
        {"resource_type": "IPAddressExpression", "ip_addresses": ["192.168.0.0/24"]}]})


def _policy(cluster, *rules, **extra):
    return {"resource_type": "SecurityPolicy", "display_name": "shop", "category": "Application",
            "scope": [cluster.ccp_path], "rules": list(rules), **extra}


def _rule(rule_id, **fields):
    return {"resource_type": "Rule", "id": rule_id, "action": "ALLOW", "direction": "IN", **fields}


def _problems(client, body) -> list[str]:
    with pytest.raises(NSXApiError) as exc:
        client.patch(f"{POLICIES}/p", body)
    assert exc.value.status == 400 and exc.value.error_code == 990420
    return [e.error_message for e in exc.value.related_errors]


def test_antrea_policy_with_rules_gets_rule_ids(cluster, admin, groups):
    p = admin.patch(f"{POLICIES}/p", _policy(
        cluster,
        _rule("fe-to-be", source_groups=[f"{G}/fe"], scope=[f"{G}/be"],
              service_entries=[{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                                "destination_ports": ["8080"]}]),
        _rule("deny", sequence_number=2, action="DROP", scope=[f"{G}/be"]),
    ))
    assert [r["id"] for r in p["rules"]] == ["fe-to-be", "deny"]
    ids = [r["rule_id"] for r in p["rules"]]
    assert len(set(ids)) == 2 and all(isinstance(i, int) and i > 0 for i in ids)
    again = admin.patch(f"{POLICIES}/p", {"rules": [_rule("deny", sequence_number=2, action="REJECT",
                                                          scope=[f"{G}/be"])]})
    assert [r["rule_id"] for r in again["rules"]] == ids  # kept on update, other rule kept (PATCH)
    listed = admin.get(POLICIES)["results"][0]
    assert listed["rule_count"] == 2 and "rules" not in listed


def test_antrea_restrictions_are_reported_together(cluster, admin, groups):
    problems = _problems(admin, _policy(
        cluster,
        _rule("a", source_groups=[f"{G}/generic"], scope=[f"{G}/with-ip"]),
        _rule("b", source_groups=[f"{G}/fe"], destination_groups=[f"{G}/be"]),
        _rule("c", services=["/infra/services/ICMP-ALL"], source_groups=[f"{G}/ips"]),
        _rule("d", service_entries=[{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                                     "destination_ports": ["80"], "source_ports": ["1024-2000"]}]),
        _rule("e", action="JUMP_TO_APPLICATION", sources_excluded=True,
              profiles=["/infra/context-profiles/HTTP"]),
        _rule("f", source_groups=[f"{G}/nope"], services=["/infra/services/nope"]),
        category="Ethernet",
    ))
    text = "\n".join(problems)
    assert "category Ethernet is not supported for Antrea clusters" in text
    assert "rules[0] (a).source_groups[0]: /infra/domains/default/groups/generic is a Generic group" in text
    assert "has IP addresses and cannot be used in Applied To" in text
    assert "rules[1] (b): set sources or destinations, not both" in text
    assert "ICMPTypeServiceEntry is not supported for Antrea clusters; only TCP and UDP" in text
    assert "/groups/ips is an IP-only group" in text
    assert "source ports are not supported" in text
    assert "JUMP_TO_APPLICATION is allowed in the Environment category only" in text
    assert "sources_excluded: negated sources/destinations are not supported" in text
    assert "profiles: L7 and context profiles are not supported" in text
    assert "Invalid path /infra/domains/default/groups/nope" in text
    assert "Invalid path '/infra/services/nope'" in text
    assert admin.get(POLICIES)["result_count"] == 0  # nothing was stored


def test_antrea_groups_only_in_antrea_scoped_policies(admin, groups):
    problems = _problems(admin, {"rules": [_rule("r", source_groups=[f"{G}/fe"])]})
    assert any("is an Antrea group; use it only in policies applied to Antrea clusters" in p
               for p in problems)


def test_applied_to_cannot_switch_back_to_dfw(cluster, admin, groups):
    admin.patch(f"{POLICIES}/p", _policy(cluster, _rule("r", scope=[f"{G}/be"])))
    problems = _problems(admin, {"scope": ["ANY"], "rules": [_rule("r")]})
    assert any("cannot be switched to DFW" in p for p in problems)


def test_unknown_cluster_in_scope(admin):
    problems = _problems(admin, {"scope": [
        "/infra/sites/default/enforcement-points/default/cluster-control-planes/ghost"]})
    assert any("not a registered cluster control plane" in p for p in problems)


def test_individual_rule_routes_validate_against_the_policy(cluster, admin, groups):
    admin.patch(f"{POLICIES}/p", _policy(cluster))
    rev = admin.get(f"{POLICIES}/p")["_revision"]
    rule = admin.put(f"{POLICIES}/p/rules/r1", _rule("r1", scope=[f"{G}/be"]))
    assert rule["path"].endswith("/security-policies/p/rules/r1") and rule["parent_path"].endswith("/p")
    assert admin.get(f"{POLICIES}/p")["_revision"] == rev + 1
    with pytest.raises(NSXApiError) as exc:
        admin.patch(f"{POLICIES}/p/rules/r2", _rule("r2", source_groups=[f"{G}/generic"]))
    assert exc.value.status == 400
    assert [r["id"] for r in admin.get(f"{POLICIES}/p/rules")["results"]] == ["r1"]
    admin.delete(f"{POLICIES}/p/rules/r1")
    assert admin.get(f"{POLICIES}/p")["rules"] == []


def test_put_with_rules_replaces_the_rule_set(cluster, admin, groups):
    p = admin.patch(f"{POLICIES}/p", _policy(cluster, _rule("a"), _rule("b")))
    p = admin.put(f"{POLICIES}/p", {**_policy(cluster, _rule("b")), "_revision": p["_revision"]})
    assert [r["id"] for r in p["rules"]] == ["b"]


def test_hierarchical_api_is_atomic(cluster, admin):
    def tree(policy_rules, extra_group=None):
        children = [{"resource_type": "ChildGroup", "Group": {
            "id": "web", "resource_type": "Group", "group_type": ["ANTREA"],
            "expression": [cond("Pod", "Tag", "app|web")]}}]
        if extra_group:
            children.append(extra_group)
        children.append({"resource_type": "ChildSecurityPolicy", "SecurityPolicy": {
            "id": "hp", "resource_type": "SecurityPolicy", "category": "Environment",
            "scope": [cluster.ccp_path],
            "children": [{"resource_type": "ChildRule", "Rule": r} for r in policy_rules]}})
        return {"resource_type": "Infra", "children": [{"resource_type": "ChildResourceReference",
                                                         "id": "default", "target_type": "Domain",
                                                         "children": children}]}

    with pytest.raises(NSXApiError):
        admin.patch("/policy/api/v1/infra",
                    tree([_rule("r", scope=[f"{G}/web"], action="JUMP_TO_APPLICATION")]))
    assert admin.get(GROUPS)["result_count"] == 0  # the group of the failed call was rolled back
    admin.patch("/policy/api/v1/infra", tree([_rule("r", scope=[f"{G}/web"])]))
    assert admin.get(f"{POLICIES}/hp")["rules"][0]["scope"] == [f"{G}/web"]
    admin.patch("/policy/api/v1/infra", {"resource_type": "Infra", "children": [{
        "resource_type": "ChildDomain", "Domain": {"id": "default", "resource_type": "Domain", "children": [
            {"resource_type": "ChildSecurityPolicy", "marked_for_delete": True,
             "SecurityPolicy": {"id": "hp", "resource_type": "SecurityPolicy"}},
            {"resource_type": "ChildGroup", "marked_for_delete": True,
             "Group": {"id": "web", "resource_type": "Group"}},
        ]}}]})
    assert admin.get(POLICIES)["result_count"] == 0 and admin.get(GROUPS)["result_count"] == 0


def test_realization_status_follows_the_adapter_reports(cluster, register, admin, groups):
    other = register("lab-cluster-2")
    p = admin.patch(f"{POLICIES}/p", _policy(cluster, _rule("r", scope=[f"{G}/be"]),
                                             scope=[cluster.ccp_path, other.ccp_path]))
    path = "/infra/domains/default/security-policies/p"
    status = admin.get("/policy/api/v1/infra/realized-state/status", intent_path=path)
    assert status["consolidated_status"]["consolidated_status"] == "IN_PROGRESS"
    assert status["intent_version"] == str(p["_revision"])
    assert [e["enforcement_point_id"] for e in status["consolidated_status_per_enforcement_point"]] == [
        "lab-cluster-1", "lab-cluster-2"]
    cluster.client.report_realization(path, "SUCCESS", realization_specific_identifier=p["unique_id"])
    other.client.report_realization(path, "ERROR", errors=["webhook denied the ACNP"])
    status = admin.get("/policy/api/v1/infra/realized-state/status", intent_path=path)
    assert status["consolidated_status"]["consolidated_status"] == "ERROR"
    assert status["publish_status"] == "ERROR"
    entities = admin.get("/policy/api/v1/infra/realized-state/realized-entities", intent_path=path)["results"]
    assert entities[1]["alarms"] == [{"message": "webhook denied the ACNP"}]
    other.client.report_realization(path, "SUCCESS")
    assert admin.get("/policy/api/v1/infra/realized-state/status",
                     intent_path=path)["consolidated_status"]["consolidated_status"] == "SUCCESS"
    admin.patch(f"{POLICIES}/p", {"description": "changed"})  # new intent version
    assert admin.get("/policy/api/v1/infra/realized-state/status",
                     intent_path=path)["consolidated_status"]["consolidated_status"] == "IN_PROGRESS"
    with pytest.raises(NSXApiError) as exc:  # a PI reports only for its own cluster
        cluster.client.report_realization(path, "SUCCESS", cluster_name="lab-cluster-2")
    assert exc.value.status == 403


def test_rule_statistics_written_by_the_adapter(cluster, admin, groups):
    p = admin.patch(f"{POLICIES}/p", _policy(cluster, _rule("a", scope=[f"{G}/be"]),
                                             _rule("b", scope=[f"{G}/fe"], action="DROP")))
    rule_a, rule_b = (r["rule_id"] for r in p["rules"])
    cluster.client.report_rule_statistics("p", cluster.name, [
        {"internal_rule_id": str(rule_a), "hit_count": 7, "packet_count": 70, "byte_count": 7000}])
    stats = admin.get(f"{POLICIES}/p/statistics", container_cluster_path=cluster.ccp_path)
    figures = {s["internal_rule_id"]: s for s in stats["results"][0]["statistics"]["results"]}
    assert figures[str(rule_a)]["hit_count"] == 7 and figures[str(rule_b)]["hit_count"] == 0
    one = admin.get(f"{POLICIES}/p/rules/a/statistics")["results"][0]["statistics"]["results"]
    assert one == [figures[str(rule_a)]]
    with pytest.raises(NSXApiError):
        cluster.client.report_rule_statistics("p", cluster.name, [{"internal_rule_id": "999999"}])


def test_desired_state_for_the_adapter(cluster, admin, groups):
    admin.patch(f"{POLICIES}/p", _policy(cluster, _rule("a", scope=[f"{G}/be"], source_groups=[f"{G}/fe"],
                                                      services=["/infra/services/HTTP"])))
    admin.patch(f"{POLICIES}/dfw", {"rules": [_rule("x", source_groups=[f"{G}/ips"])]})
    before = cluster.client.desired_state(cluster.name)
    assert [p["id"] for p in before["security_policies"]] == ["p"]
    assert sorted(g["id"] for g in before["groups"]) == ["be", "fe"]
    assert [s["id"] for s in before["services"]] == ["HTTP"]
    admin.request("PATCH", f"{GROUPS}/fe", body={"description": "touched"},
                  headers={"nsx-enable-partial-patch": "true"})
    assert cluster.client.desired_state(cluster.name)["generation"] > before["generation"]


def test_container_cluster_span_children_make_a_policy_antrea_scoped(cluster, admin, groups):
    admin.patch(f"{POLICIES}/p", {"rules": [_rule("r")]})
    admin.put(f"{POLICIES}/p/container-cluster-span/c1", {"container_cluster_path": cluster.ccp_path})
    assert [p["id"] for p in cluster.client.desired_state(cluster.name)["security_policies"]] == ["p"]
    with pytest.raises(NSXApiError):
        admin.patch(f"{POLICIES}/p/rules/bad", _rule("bad", services=["/infra/services/ICMP-ALL"]))
