"""NSX conventions: metadata, PUT/PATCH/DELETE, _revision, paging, error bodies, protection."""

from __future__ import annotations

import pytest
import requests

from labkit.nsx.manager import NSXApiError
from labkit.nsx.manager.server import DEFAULT_ADMIN_PASSWORD

from .conftest import GROUPS, POLICIES


def test_patch_creates_with_nsx_metadata(admin):
    g = admin.patch(f"{GROUPS}/web", {"description": "d"})
    assert g["id"] == "web" and g["display_name"] == "web" and g["resource_type"] == "Group"
    assert g["path"] == "/infra/domains/default/groups/web"
    assert g["parent_path"] == "/infra/domains/default" and g["relative_path"] == "web"
    assert g["_revision"] == 0 and g["_create_user"] == "admin" == g["_last_modified_user"]
    assert g["_protection"] == "NOT_PROTECTED" and g["unique_id"] == g["realization_id"]
    assert isinstance(g["_create_time"], int) and g["_create_time"] == g["_last_modified_time"]


PARTIAL = {"nsx-enable-partial-patch": "true"}


def test_partial_patch_merges_put_replaces_and_stale_revision_is_412(admin):
    admin.patch(f"{GROUPS}/g", {"description": "one", "tags": [{"scope": "s", "tag": "t"}]})
    merged = admin.request("PATCH", f"{GROUPS}/g", body={"display_name": "G"}, headers=PARTIAL)
    assert merged["description"] == "one" and merged["display_name"] == "G" and merged["_revision"] == 1
    replaced = admin.put(f"{GROUPS}/g", {"display_name": "G2", "_revision": 1})
    assert "description" not in replaced and replaced["_revision"] == 2
    assert replaced["_create_time"] == merged["_create_time"]
    with pytest.raises(NSXApiError) as exc:
        admin.put(f"{GROUPS}/g", {"display_name": "late", "_revision": 1})
    err = exc.value
    assert err.status == 412 and err.error_code == 206 and err.http_status == "PRECONDITION_FAILED"
    assert "current _revision is 2" in err.error_message
    with pytest.raises(NSXApiError) as exc:
        admin.put(f"{GROUPS}/g", {"display_name": "no revision"})
    assert exc.value.status == 412
    assert admin.get(f"{GROUPS}/g")["display_name"] == "G2"


def test_put_creates_without_revision(admin):
    assert admin.put(f"{GROUPS}/new", {"display_name": "N"})["_revision"] == 0


def test_read_only_fields_and_nulls_sent_back_are_ignored(admin):
    g = admin.patch(f"{GROUPS}/g", {"description": "x"})
    g["description"] = None
    g["path"] = "/somewhere/else"
    again = admin.put(f"{GROUPS}/g", g)
    assert again["path"] == "/infra/domains/default/groups/g" and "description" not in again


def test_delete_is_200_and_idempotent_then_404_on_get(admin):
    admin.patch(f"{GROUPS}/g", {})
    assert admin.delete(f"{GROUPS}/g") is None
    assert admin.delete(f"{GROUPS}/g") is None
    with pytest.raises(NSXApiError) as exc:
        admin.get(f"{GROUPS}/g")
    assert exc.value.status == 404 and exc.value.error_code == 600
    assert exc.value.module_name == "policy"


def test_error_bodies_have_nsx_shape(nsx):
    r = requests.get(f"{nsx.url}{GROUPS}/missing", auth=("admin", DEFAULT_ADMIN_PASSWORD),
                     verify=str(nsx.ca_path))
    body = r.json()
    assert r.status_code == 404
    assert body["httpStatus"] == "NOT_FOUND" and body["error_code"] != 500090
    assert body["error_message"].startswith("The requested object : /infra/domains/default/groups/missing")
    r = requests.get(f"{nsx.url}/api/v1/nothing-here", auth=("admin", DEFAULT_ADMIN_PASSWORD),
                     verify=str(nsx.ca_path))
    assert r.status_code == 404 and "docs/nsx-mock.md" in r.json()["error_message"]
    r = requests.post(f"{nsx.url}{GROUPS}/g", json={}, auth=("admin", DEFAULT_ADMIN_PASSWORD),
                      verify=str(nsx.ca_path))
    assert r.status_code == 405 and "allowed: DELETE, GET, PATCH, PUT" in r.json()["error_message"]
    r = requests.patch(f"{nsx.url}{GROUPS}/g", data=b"{not json", auth=("admin", DEFAULT_ADMIN_PASSWORD),
                       verify=str(nsx.ca_path), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error_message"]


def test_keep_alive_connection_survives_an_error_with_a_body(nsx):
    with requests.Session() as s:
        s.trust_env = False
        s.verify, s.auth = str(nsx.ca_path), ("admin", DEFAULT_ADMIN_PASSWORD)
        bad = s.put(f"{nsx.url}{GROUPS}/g", json={"group_type": ["NOPE"], "padding": "x" * 5000})
        assert bad.status_code == 400
        assert s.get(f"{nsx.url}/api/v1/node/version").status_code == 200


def test_paging_with_cursor_and_sorting(admin, nsx):
    for i in range(7):
        admin.patch(f"{GROUPS}/g{i}", {"display_name": f"group {6 - i}"})
    first = admin.get(GROUPS, page_size=3)
    assert [g["id"] for g in first["results"]] == ["g0", "g1", "g2"]
    assert first["result_count"] == 7 and first["cursor"]
    second = admin.get(GROUPS, page_size=3, cursor=first["cursor"])
    third = admin.get(GROUPS, page_size=3, cursor=second["cursor"])
    assert [g["id"] for g in third["results"]] == ["g6"] and "cursor" not in third
    assert len(admin.list_all(GROUPS, page_size=2)) == 7
    by_name = admin.get(GROUPS, sort_by="display_name", sort_ascending=False, included_fields="id")
    assert by_name["results"][0] == {"id": "g0"} and by_name["sort_by"] == "display_name"
    # requests, following the cursor by hand
    r = requests.get(f"{nsx.url}{GROUPS}", params={"page_size": 5}, auth=("admin", DEFAULT_ADMIN_PASSWORD),
                     verify=str(nsx.ca_path)).json()
    assert len(r["results"]) == 5 and r["cursor"] == "5"
    with pytest.raises(NSXApiError):
        admin.get(GROUPS, page_size=0)


def test_pi_objects_are_protected_until_x_allow_overwrite(cluster, admin, nsx):
    cluster.client.patch(f"{GROUPS}/owned", {"description": "mine"})
    with pytest.raises(NSXApiError) as exc:
        admin.patch(f"{GROUPS}/owned", {"description": "admin's"})
    assert exc.value.status == 403
    assert "doesn't own" in exc.value.error_message and "X-Allow-Overwrite" in exc.value.error_message
    with pytest.raises(NSXApiError):
        admin.delete(f"{GROUPS}/owned")
    overriding = nsx.client(allow_overwrite=True)
    assert overriding.patch(f"{GROUPS}/owned", {"description": "admin's"})["_protection"] == "PROTECTED"
    assert cluster.client.patch(f"{GROUPS}/owned", {"description": "mine again"})["_revision"] == 2
    overriding.delete(f"{GROUPS}/owned")


def test_group_in_use_cannot_be_deleted_without_force(admin):
    admin.patch(f"{GROUPS}/g", {"expression": [{"resource_type": "IPAddressExpression",
                                                 "ip_addresses": ["10.0.0.0/24"]}]})
    admin.patch(f"{POLICIES}/p",
                {"rules": [{"id": "r", "source_groups": ["/infra/domains/default/groups/g"]}]})
    with pytest.raises(NSXApiError) as exc:
        admin.delete(f"{GROUPS}/g")
    assert exc.value.error_code == 500030 and "security-policies/p/rules/r" in exc.value.error_message
    admin.delete(f"{GROUPS}/g", force=True)


def test_node_cluster_status_and_health(admin):
    assert admin.get("/api/v1/node")["node_version"]
    assert admin.get("/api/v1/cluster/status")["mgmt_cluster_status"]["status"] == "STABLE"
    assert admin.get("/api/v1/reverse-proxy/node/health")["healthy"] is True


def test_default_services_are_seeded(admin):
    ids = {s["id"] for s in admin.list_all("/policy/api/v1/infra/services")}
    assert {"HTTP", "HTTPS", "DNS-UDP", "ICMP-ALL"} <= ids
    with pytest.raises(NSXApiError):
        admin.delete("/policy/api/v1/infra/services/HTTP")
    with pytest.raises(NSXApiError) as exc:
        admin.patch("/policy/api/v1/infra/services/bad", {"service_entries": [
            {"resource_type": "L4PortSetServiceEntry", "l4_protocol": "SCTP", "destination_ports": ["0"]}]})
    assert len(exc.value.related_errors) == 2


def test_concurrent_writers_are_serialized(admin):
    from concurrent.futures import ThreadPoolExecutor

    admin.patch(f"{GROUPS}/hot", {})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: admin.patch(f"{GROUPS}/hot", {"description": str(i)}), range(40)))
    assert admin.get(f"{GROUPS}/hot")["_revision"] == 40


def test_plain_http_mode(tmp_path):
    from labkit.nsx.manager import NSXManagerServer

    with NSXManagerServer(tmp_path, tls=False) as server:
        assert server.url.startswith("http://")
        assert server.client().get("/api/v1/node/version")["node_version"]


def test_unknown_fields_are_a_400_naming_each_one_and_get_results_can_be_sent_back(admin):
    from .conftest import cond

    with pytest.raises(NSXApiError) as err:
        admin.patch(f"{GROUPS}/g", {"group_type": ["ANTREA"], "colour": "red",
                                    "expression": [{**cond("Pod", "Tag", "app|web"), "scope_operater": "EQUALS"}]})
    assert err.value.status == 400
    assert [e.error_message.split(":")[0] for e in err.value.related_errors] == [
        "colour", "expression[0].scope_operater"]
    with pytest.raises(NSXApiError) as err:
        admin.patch(f"{POLICIES}/p", {"category": "Application", "rule": [],
                                      "rules": [{"id": "r", "action": "ALLOW", "sources": ["ANY"]}]})
    assert {e.error_message.split(":")[0] for e in err.value.related_errors} == {"rule", "rules[0] (r).sources"}
    admin.patch(f"{POLICIES}/q", {"category": "Application"})
    with pytest.raises(NSXApiError, match="rule r.src: unknown field of Rule"):
        admin.patch(f"{POLICIES}/q/rules/r", {"action": "ALLOW", "src": 1})
    # what GET answers (read-only metadata, rule_id, _revision) goes back unchanged
    admin.patch(f"{GROUPS}/ok", {"group_type": ["ANTREA"], "expression": [cond("Namespace", "Name", "x")]})
    admin.patch(f"{POLICIES}/ok", {"category": "Application", "rules": [{"id": "r", "action": "ALLOW"}]})
    assert admin.put(f"{GROUPS}/ok", admin.get(f"{GROUPS}/ok"))["_revision"] == 1
    assert admin.put(f"{POLICIES}/ok", admin.get(f"{POLICIES}/ok"))["_revision"] == 1
