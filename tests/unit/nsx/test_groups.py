"""Antrea group validation (every problem at once) and effective members from the inventory."""

from __future__ import annotations

import pytest

from labkit.nsx.manager import NSXApiError

from .conftest import AND, GROUPS, OR, POLICIES, antrea_group, cond, nested


def _problems(client, group_id, body) -> list[str]:
    with pytest.raises(NSXApiError) as exc:
        client.patch(f"{GROUPS}/{group_id}", body)
    assert exc.value.status == 400 and exc.value.error_code == 990410
    return [e.error_message for e in exc.value.related_errors]


def test_valid_antrea_group_is_stored(admin):
    body = antrea_group(
        nested(cond("Namespace", "Name", "shop"), cond("Pod", "Tag", "app|web", scope_operator="EQUALS")),
        OR,
        {"resource_type": "IPAddressExpression", "ip_addresses": ["10.10.9.0/24", "10.0.0.1-10.0.0.9"]},
    )
    assert admin.patch(f"{GROUPS}/web", body)["group_type"] == ["ANTREA"]


def test_antrea_group_problems_are_all_reported_with_field_paths(admin):
    problems = _problems(admin, "bad", antrea_group(
        cond("VirtualMachine", "Name", "vm1"),
        OR,
        cond("Pod", "Tag", "app|web", operator="CONTAINS"),
        OR,
        nested(cond("Service", "Name", "web"), cond("Pod", "Tag", "app|web")),
        OR,
        {"resource_type": "PathExpression", "paths": ["/infra/segments/s"]},
        OR,
        {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.300"]},
    ))
    text = "\n".join(problems)
    assert "expression[0].member_type 'VirtualMachine' is not allowed" in text
    assert "expression[2].operator 'CONTAINS' is not supported for Antrea groups" in text
    assert "expression[4]: a Service condition cannot be combined with a Pod condition" in text
    assert "expression[4]: a Service condition must be ANDed with a Namespace Name condition" in text
    assert "expression[6]: PathExpression is not allowed in an Antrea group" in text
    assert "expression[8].ip_addresses[0] '10.0.0.300'" in text
    assert len(problems) == 6


@pytest.mark.parametrize("expression, fragment", [
    ([cond("Namespace", "Name", "a", operator="NOTEQUALS")], "Namespace Name allows EQUALS"),
    ([cond("Pod", "Name", "a")], "key 'Name' is not allowed for member_type Pod; use Tag"),
    ([cond("Service", "Name", "web")], "must be ANDed with a Namespace Name"),
    ([cond("Pod", "Tag", "app|web"), AND, cond("Namespace", "Name", "shop")],
     "AND between criteria is allowed only when both are single conditions of the same member type"),
    ([nested(cond("Pod", "Tag", "a|b"), cond("Pod", "Tag", "c|d"))
      | {"expressions": [cond("Pod", "Tag", "a|b"), OR, cond("Pod", "Tag", "c|d")]}],
     "conditions within a criterion are always ANDed"),
    ([cond("Pod", "Tag", "app|")], "non-empty tag"),
    ([cond("Pod", "Tag", "app|web", scope_operator="NOTEQUALS")], "Antrea groups allow EQUALS only"),
    ([cond("Pod", "Tag", "a|b"), OR], "cannot end with a ConjunctionOperator"),
])
def test_single_antrea_group_rules(admin, expression, fragment):
    assert any(fragment in p for p in _problems(admin, "g", antrea_group(*expression)))


def test_and_between_single_conditions_of_one_member_type_is_allowed(admin):
    body = antrea_group(cond("Pod", "Tag", "app|web"), AND, cond("Pod", "Tag", "tier|fe"))
    admin.patch(f"{GROUPS}/g", body)


def test_group_type_cannot_change_once_saved(admin):
    admin.patch(f"{GROUPS}/g", antrea_group(cond("Pod", "Tag", "app|web")))
    problems = _problems(admin, "g", {"group_type": []})
    assert any("group_type cannot be changed" in p for p in problems)


def _apply_policy(cluster, admin, *group_ids):
    admin.patch(f"{POLICIES}/p", {
        "category": "Application", "scope": [cluster.ccp_path],
        "rules": [{"id": f"r-{g}", "source_groups": [f"/infra/domains/default/groups/{g}"],
                   "action": "ALLOW", "direction": "IN"} for g in group_ids],
    })


def test_effective_pod_members_only_once_a_policy_uses_the_group(shop, admin):
    admin.patch(f"{GROUPS}/web", antrea_group(nested(cond("Namespace", "Name", "shop"),
                                                     cond("Pod", "Tag", "dis:k8s:app|web"))))
    members = f"{GROUPS}/web/members/pods"
    assert admin.get(members)["result_count"] == 0  # NSX: computed only when used in a DFW rule
    _apply_policy(shop, admin, "web")
    names = sorted(p["display_name"] for p in admin.get(members)["results"])
    assert names == ["web-1", "web-2"]
    assert admin.get(members, cluster_id=shop.node_id)["result_count"] == 2
    assert admin.get(members, cluster_id="other")["result_count"] == 0


@pytest.mark.parametrize("expression, expected", [
    ([cond("Pod", "Tag", "app|web")], ["dev-1", "web-1", "web-2"]),
    ([cond("Pod", "Tag", "app|web", operator="NOTEQUALS")], ["db-1"]),
    ([cond("Namespace", "Tag", "tier|prod")], ["db-1", "web-1", "web-2"]),
    ([nested(cond("Namespace", "Name", "shop"), cond("Service", "Name", "web"))], ["web-1", "web-2"]),
    ([cond("Pod", "Tag", "app|db"), OR, cond("Namespace", "Name", "dev")], ["db-1", "dev-1"]),
    ([cond("Pod", "Tag", "app|web"), AND, cond("Pod", "Tag", "missing|x")], []),
])
def test_membership_semantics(shop, admin, expression, expected):
    admin.patch(f"{GROUPS}/g", antrea_group(*expression))
    _apply_policy(shop, admin, "g")
    got = sorted(p["display_name"] for p in admin.list_all(f"{GROUPS}/g/members/pods"))
    assert got == expected


def test_service_and_ip_members(shop, admin):
    admin.patch(f"{GROUPS}/g", antrea_group(
        nested(cond("Namespace", "Name", "shop"), cond("Service", "Name", "web")),
        OR, {"resource_type": "IPAddressExpression", "ip_addresses": ["10.9.0.0/16"]}))
    _apply_policy(shop, admin, "g")
    services = admin.get(f"{GROUPS}/g/members/kubernetes-services")["results"]
    assert [s["display_name"] for s in services] == ["web"]
    assert admin.get(f"{GROUPS}/g/members/ip-addresses")["results"] == ["10.9.0.0/16"]
