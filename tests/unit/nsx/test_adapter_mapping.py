"""The adapter's pure mappings: NSX desired state -> Antrea manifests, lab -> NSX inventory.

Each expectation cites the NSX/Antrea behaviour it reproduces (nsx.md §3, §4.2, §5.3, §5.4).
"""

from __future__ import annotations

from typing import Any

import pytest

from labkit import Lab
from labkit.nsx.interworking.inventory_report import (
    external_id,
    inventory_objects,
    inventory_updates,
    label_tags,
)
from labkit.nsx.interworking.realize import (
    CATEGORY_TIERS,
    MANAGED_BY_LABEL,
    group_manifests,
    policy_manifest,
    render,
    rule_id_of,
)

from .conftest import AND, OR, cond, nested

CID = "6b3ff279-4276-4d77-a492-bada7167de71"
G = "/infra/domains/default/groups/"
CCP = "/infra/sites/default/enforcement-points/default/cluster-control-planes/c1"


def group(gid: str, *expression: dict[str, Any]) -> dict[str, Any]:
    return {"id": gid, "path": G + gid, "unique_id": f"uid-{gid}", "display_name": gid, "_revision": 0,
            "group_type": ["ANTREA"], "expression": list(expression)}


def rule(rid: int, **fields: Any) -> dict[str, Any]:
    base = {"id": f"r{rid}", "rule_id": rid, "sequence_number": rid, "source_groups": ["ANY"],
            "destination_groups": ["ANY"], "services": ["ANY"], "scope": ["ANY"], "action": "ALLOW",
            "direction": "IN_OUT", "logged": False, "disabled": False}
    return {**base, **fields}


def policy(pid: str, *rules: dict[str, Any], category: str = "Application", scope: list[str] | None = None) -> dict[str, Any]:
    return {"id": pid, "path": f"/infra/domains/default/security-policies/{pid}", "unique_id": f"uid-{pid}",
            "display_name": pid, "_revision": 3, "category": category, "scope": scope or [CCP],
            "rules": list(rules)}


NAMES = {G + "web": "uid-web", G + "db": "uid-db"}
HTTP = {"/infra/services/HTTP": {"path": "/infra/services/HTTP", "service_entries": [
    {"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP", "destination_ports": ["80"]}]}}


# ---------------------------------------------------------------------------- categories -> tiers

def test_every_category_has_the_tier_the_adapter_creates():
    # nsx.md §5.3 (blog.andreasm.io: tiers observed on an NSX-registered cluster)
    assert CATEGORY_TIERS == {"Ethernet": ("nsx-category-ethernet", 0), "Emergency": ("nsx-category-emergency", 1),
                              "Infrastructure": ("nsx-category-infrastructure", 2),
                              "Environment": ("nsx-category-environment", 3),
                              "Application": ("nsx-category-application", 4)}
    tiers = [m for m in render({}).manifests if m["kind"] == "Tier"]
    assert [(t["metadata"]["name"], t["spec"]["priority"]) for t in tiers] == list(CATEGORY_TIERS.values())
    assert all(t["metadata"]["labels"] == {MANAGED_BY_LABEL: "ccp-adapter"} for t in tiers)


def test_policies_sit_in_their_category_tier_with_order_preserving_priorities():
    desired = {"security_policies": [policy("a", rule(1)), policy("b", rule(2)), policy("c", rule(3)),
                                     policy("e", rule(4), category="Emergency")]}
    acnps = {m["metadata"]["name"]: m["spec"] for m in render(desired).manifests if m["kind"] == "ClusterNetworkPolicy"}
    assert acnps["uid-e"]["tier"] == "nsx-category-emergency"
    app = [acnps[f"uid-{p}"]["priority"] for p in "abc"]
    assert app == sorted(app) and len(set(app)) == 3 and all(1 < p < 2 for p in app)


# ---------------------------------------------------------------------------- groups -> ClusterGroups

def test_one_parent_and_one_child_per_or_ed_criterion():
    # nsx.md §4.2: parent named after the group's UUID, children "<uuid>-<n>", observed selectors
    manifests = group_manifests(group("web", cond("Namespace", "Name", "shop"), OR,
                                      cond("Pod", "Tag", "app|web", scope_operator="EQUALS")))
    by_name = {m["metadata"]["name"]: m for m in manifests}
    assert by_name["uid-web"]["spec"] == {"childGroups": ["uid-web-0", "uid-web-1"]}
    assert by_name["uid-web-0"]["spec"] == {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop"]}]}}
    assert by_name["uid-web-1"]["spec"] == {"podSelector": {"matchLabels": {"app": "web"}}}
    assert by_name["uid-web-1"]["metadata"]["annotations"]["ccp-adapter.antrea.tanzu.vmware.com/parent"] == "uid-web"
    assert [m["metadata"]["name"] for m in manifests][-1] == "uid-web"  # children are applied first


@pytest.mark.parametrize("criterion, spec", [
    # Pod Tag NotEquals -> NotIn (observed); the dis:k8s: scope prefix is stripped
    (cond("Pod", "Tag", "dis:k8s:app|web", "NOTEQUALS"),
     {"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}}),
    (cond("Namespace", "Tag", "tier|prod"), {"namespaceSelector": {"matchLabels": {"tier": "prod"}}}),
    # conditions of one criterion share one child: namespace AND pod
    (nested(cond("Namespace", "Name", "shop"), cond("Pod", "Tag", "app|web")),
     {"podSelector": {"matchLabels": {"app": "web"}}, "namespaceSelector": {"matchExpressions": [
         {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop"]}]}}),
    (nested(cond("Service", "Name", "web"), cond("Namespace", "Name", "shop")),
     {"serviceReference": {"name": "web", "namespace": "shop"}}),
    ({"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.0/24", "10.1.0.0-10.1.0.3"]},
     {"ipBlocks": [{"cidr": "10.0.0.0/24"}, {"cidr": "10.1.0.0/30"}]}),
])
def test_criteria_become_selectors(criterion, spec):
    child = group_manifests(group("g", criterion))[0]
    assert child["spec"] == spec


def test_and_between_two_single_conditions_is_one_child():
    manifests = group_manifests(group("g", cond("Pod", "Tag", "app|web"), AND, cond("Pod", "Tag", "tier|fe")))
    assert [m["spec"] for m in manifests] == [{"podSelector": {"matchLabels": {"app": "web", "tier": "fe"}}},
                                             {"childGroups": ["uid-g-0"]}]


def test_a_tag_without_scope_cannot_be_realized_and_its_policies_fail():
    desired = {"groups": [group("web", cond("Pod", "Tag", "web"))],
               "security_policies": [policy("p", rule(1, source_groups=[G + "web"]))]}
    out = render(desired)
    assert "has no scope" in out.errors[G + "web"][0]
    assert out.errors["/infra/domains/default/security-policies/p"] == [f"uses group {G}web, which could not be realized"]
    assert not [m for m in out.manifests if m["kind"] != "Tier"]


# ---------------------------------------------------------------------------- rules -> ACNP rules

def test_sources_make_ingress_destinations_make_egress():
    spec = policy_manifest(policy("p", rule(1001, source_groups=[G + "web"], scope=[G + "db"], action="DROP",
                                            services=["/infra/services/HTTP"], logged=True),
                                  rule(1002, destination_groups=[G + "db"], action="REJECT")),
                           1.5, NAMES, HTTP)["spec"]
    assert spec["ingress"] == [{"name": "1001", "action": "Drop", "enableLogging": True,
                                "appliedTo": [{"group": "uid-db"}], "ports": [{"protocol": "TCP", "port": 80}],
                                "from": [{"group": "uid-web"}]}]
    # no Applied-To -> every pod (nsx.md §5.4, observed)
    assert spec["egress"] == [{"name": "1002", "action": "Reject", "enableLogging": False,
                               "appliedTo": [{"podSelector": {}}], "to": [{"group": "uid-db"}]}]


def test_policy_applied_to_wins_over_the_rules():
    spec = policy_manifest(policy("p", rule(1, source_groups=[G + "web"], scope=[G + "web"]),
                                  scope=[CCP, G + "db"]), 1.5, NAMES, {})["spec"]
    assert spec["ingress"][0]["appliedTo"] == [{"group": "uid-db"}]


@pytest.mark.parametrize("direction, ingress, egress", [
    ("IN", ["7"], []), ("OUT", [], ["7"]), ("IN_OUT", ["7"], ["7-out"])])
def test_any_to_any_rules_follow_their_direction(direction, ingress, egress):
    spec = policy_manifest(policy("p", rule(7, direction=direction, action="DROP")), 1.5, NAMES, {})["spec"]
    assert [r["name"] for r in spec.get("ingress", [])] == ingress
    assert [r["name"] for r in spec.get("egress", [])] == egress
    assert {rule_id_of(n) for n in ingress + egress} == {"7"}


def test_disabled_rules_are_not_realized_and_port_ranges_become_end_ports():
    entries = [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "UDP", "destination_ports": ["5000-5010", "53"]}]
    spec = policy_manifest(policy("p", rule(1, disabled=True), rule(2, direction="IN", service_entries=entries)),
                           1.5, NAMES, {})["spec"]
    assert [r["name"] for r in spec["ingress"]] == ["2"]
    assert spec["ingress"][0]["ports"] == [{"protocol": "UDP", "port": 5000, "endPort": 5010},
                                          {"protocol": "UDP", "port": 53}]


def test_non_tcp_udp_services_are_realization_errors():
    icmp = {"/infra/services/ICMP-ALL": {"path": "/infra/services/ICMP-ALL", "service_entries": [
        {"id": "ICMP-ALL", "resource_type": "ICMPTypeServiceEntry", "protocol": "ICMPv4"}]}}
    out = render({"security_policies": [policy("p", rule(1, services=["/infra/services/ICMP-ALL"]))],
                  "services": list(icmp.values())})
    assert "TCP and UDP services only" in out.errors["/infra/domains/default/security-policies/p"][0]


def test_every_rendering_parses_as_antrea_objects():
    lab = Lab(profile="workshop", name="render")
    desired = {"groups": [group("web", cond("Pod", "Tag", "pod|a")), group("db", cond("Namespace", "Name", "y"))],
               "security_policies": [policy("p", rule(1, source_groups=[G + "web"], scope=[G + "db"]),
                                            rule(2, action="DROP", direction="IN"))]}
    lab.apply(render(desired).manifests)
    assert lab.reachability(port=80)["x/a", "y/b"] == "allow"
    assert lab.reachability(port=80)["x/b", "y/b"] == "drop"
    lab.stop()


# ---------------------------------------------------------------------------- inventory

def test_labels_become_dis_k8s_tags_sorted_and_capped():
    # nsx-operator inventory/builder.go: sorted keys, at most 20 tags, scope <= 128, tag <= 256
    tags = label_tags({f"k{i:02d}": "v" for i in range(25)} | {"a" * 200: "x" * 300})
    assert len(tags) == 20 and tags[0]["scope"].startswith("dis:k8s:aaa") and len(tags[0]["scope"]) == 128
    assert len(tags[0]["tag"]) == 256 and tags[1] == {"scope": "dis:k8s:k00", "tag": "v"}


def test_inventory_of_the_workshop_and_its_deltas():
    lab = Lab(profile="workshop", name="inv")
    before = inventory_objects(lab.state, CID, "c1")
    kinds = [o["resource_type"] for o in before.values()]
    assert {k: kinds.count(k) for k in set(kinds)} == {"ContainerCluster": 1, "ContainerClusterNode": 3,
                                                        "ContainerProject": 3, "ContainerApplicationInstance": 9}
    pod = before[external_id(CID, "Pod", "x", "a")]
    assert pod["container_project_id"] == external_id(CID, "Namespace", "", "x")
    assert pod["cluster_node_id"] == external_id(CID, "Node", "", lab.pod("x/a").node_name)
    assert pod["origin_properties"] == [{"key": "ip", "value": lab.pod_ip("x/a")}]
    lab.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "deny", "namespace": "y"}, "spec": {"podSelector": {}}})
    netpol = inventory_objects(lab.state, CID, "c1")[external_id(CID, "NetworkPolicy", "y", "deny")]
    assert (netpol["policy_type"], netpol["container_project_id"]) == ("NETWORK_POLICY", external_id(CID, "Namespace", "", "y"))
    assert "podSelector: {}" in netpol["spec"]
    before = inventory_objects(lab.state, CID, "c1")
    lab.label("x/a", role="db")
    lab.delete("pod/y/b")
    updates = inventory_updates(before, inventory_objects(lab.state, CID, "c1"))
    assert [u["object_update_type"] for u in updates] == ["DELETE", "UPDATE"]
    # UPDATE carries only what changed, plus external_id and resource_type (nsx-operator)
    assert updates[1]["container_object"] == {
        "resource_type": "ContainerApplicationInstance", "external_id": pod["external_id"],
        "tags": [{"scope": "dis:k8s:pod", "tag": "a"}, {"scope": "dis:k8s:role", "tag": "db"}]}
    lab.stop()
