"""What a write replaces, as NSX documents it.

- PUT of a security policy is "a full replace. All the rules are replaced." (Policy API, PUT
  /infra/domains/{domain-id}/security-policies/{security-policy-id}): rules it does not carry are
  deleted, also when it carries no ``rules`` at all. PATCH merges the rules it carries.
- PATCH of a Group without partial patch (no ``nsx-enable-partial-patch: true``, system setting
  off, as by default) replaces the group (PartialPatchConfig: "complete object data is required for
  both PUT and PATCH"); with partial patch the fields sent replace those stored, lists whole.
"""

from __future__ import annotations

import pytest

from labkit.nsx.manager import NSXApiError

from .conftest import GROUPS, POLICIES, antrea_group, cond, nested

PARTIAL = {"nsx-enable-partial-patch": "true"}
CONFIG = "/policy/api/v1/system-config/nsx-partial-patch-config"


def _rules(admin, policy_id: str) -> list[str]:
    return [r["id"] for r in admin.get(f"{POLICIES}/{policy_id}")["rules"]]


def test_put_of_a_policy_without_rules_deletes_its_rules(admin):
    policy = admin.patch(f"{POLICIES}/p", {"rules": [{"id": "r1"}, {"id": "r2", "sequence_number": 2}]})
    assert _rules(admin, "p") == ["r1", "r2"]
    replaced = admin.put(f"{POLICIES}/p", {"description": "no rules", "_revision": policy["_revision"]})
    assert replaced["rules"] == [] and _rules(admin, "p") == []
    assert admin.get(f"{POLICIES}/p/rules")["result_count"] == 0
    with pytest.raises(NSXApiError) as exc:
        admin.get(f"{POLICIES}/p/rules/r1")
    assert exc.value.status == 404


def test_put_with_rules_replaces_them_and_patch_merges_them(admin):
    admin.patch(f"{POLICIES}/p", {"rules": [{"id": "r1"}, {"id": "r2"}]})
    admin.patch(f"{POLICIES}/p", {"rules": [{"id": "r3"}]})
    assert _rules(admin, "p") == ["r1", "r2", "r3"]
    revision = admin.get(f"{POLICIES}/p")["_revision"]
    admin.put(f"{POLICIES}/p", {"rules": [{"id": "r2", "action": "DROP"}], "_revision": revision})
    assert _rules(admin, "p") == ["r2"]


def test_group_patch_without_partial_patch_replaces_the_group(admin):
    admin.patch(f"{GROUPS}/g", {"description": "one", "tags": [{"scope": "s", "tag": "t"}],
                                "expression": [cond("VirtualMachine", "Name", "web", "STARTSWITH")]})
    replaced = admin.patch(f"{GROUPS}/g", {"display_name": "G"})
    assert replaced["display_name"] == "G" and replaced["_revision"] == 1
    assert "description" not in replaced and "tags" not in replaced and replaced["expression"] == []
    assert admin.get(f"{GROUPS}/g") == replaced


def test_group_patch_with_the_header_merges_and_replaces_lists_whole(admin):
    web, db = cond("Pod", "Tag", "app|web"), cond("Pod", "Tag", "app|db")
    admin.patch(f"{GROUPS}/g", antrea_group(nested(web), description="kept"))
    merged = admin.request("PATCH", f"{GROUPS}/g", body={"expression": [db]}, headers=PARTIAL)
    assert merged["description"] == "kept" and merged["group_type"] == ["ANTREA"]
    assert merged["expression"] == [db]  # "array properties are entirely replaced, not merged"


def test_antrea_group_patch_missing_group_type_says_how_to_fix_it(admin):
    admin.patch(f"{GROUPS}/g", antrea_group(cond("Pod", "Tag", "app|web")))
    with pytest.raises(NSXApiError) as exc:
        admin.patch(f"{GROUPS}/g", {"description": "only this"})
    err = exc.value
    assert err.status == 400 and "group_type cannot be changed" in err.error_message
    assert "nsx-enable-partial-patch: true" in err.error_message
    assert admin.get(f"{GROUPS}/g")["group_type"] == ["ANTREA"]


def test_partial_patch_system_setting(admin):
    assert admin.get(CONFIG) == {"enable_partial_patch": False}
    admin.patch(f"{GROUPS}/g", {"description": "kept"})
    assert admin.patch(CONFIG, {"enable_partial_patch": True}) == {"enable_partial_patch": True}
    assert admin.patch(f"{GROUPS}/g", {"display_name": "G"})["description"] == "kept"
    # The header of one request wins over the setting.
    off = admin.request("PATCH", f"{GROUPS}/g", body={"display_name": "H"},
                        headers={"nsx-enable-partial-patch": "false"})
    assert "description" not in off
    with pytest.raises(NSXApiError) as exc:
        admin.patch(CONFIG, {"enable_partial_patch": "yes"})
    assert exc.value.status == 400 and "true or false" in exc.value.error_message


def test_hierarchical_api_replaces_groups_even_with_partial_patch_on(admin):
    admin.patch(CONFIG, {"enable_partial_patch": True})
    admin.patch(f"{GROUPS}/g", {"description": "gone"})
    admin.patch("/policy/api/v1/infra", {"resource_type": "Infra", "children": [{
        "resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain",
        "children": [{"resource_type": "ChildGroup", "Group": {"id": "g", "resource_type": "Group",
                                                               "display_name": "G"}}]}]})
    assert "description" not in admin.get(f"{GROUPS}/g")
