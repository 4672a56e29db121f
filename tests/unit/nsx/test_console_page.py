"""The read-only console page at ``GET /`` of the NSX mock, read over real HTTPS without a browser
(the browser test is tests/widgets/test_nsx_console_browser.py)."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request

import pytest

from labkit.nsx.manager import NSXManagerServer

from .conftest import GROUPS, POLICIES, Cluster, cond, namespace, pod


def fetch(nsx: NSXManagerServer, target: str = "/", *, auth: bool = True, cert: Cluster | None = None) -> str:
    ctx = ssl.create_default_context(cafile=str(nsx.ca_path))
    if cert is not None:
        ctx.load_cert_chain(cert.cert.cert_path, cert.cert.key_path)
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{nsx.admin_user}:{nsx.admin_password}".encode()).decode()
    with urllib.request.urlopen(urllib.request.Request(nsx.url + target, headers=headers), context=ctx) as answer:
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        return answer.read().decode()


def test_the_page_needs_a_login_like_the_api(nsx):
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch(nsx, auth=False)
    assert err.value.code == 401 and err.value.headers["WWW-Authenticate"].startswith("Basic")


def test_empty_manager_says_what_is_missing(nsx):
    html = fetch(nsx)
    assert "0 container cluster(s)" in html and "no container clusters: register a cluster" in html
    assert "no security policies" in html and "no traceflows" in html


def test_views_follow_the_api_and_escape_what_users_wrote(nsx, admin, cluster, register):
    ns_id, pod_id = "ns-uid-x", "pod-uid-a"
    cluster.client.post(f"/api/v1/inventory/container/{cluster.node_id}", {"container_inventory_objects": [
        {"object_update_type": "CREATE", "container_object": {**namespace(ns_id, "x"),
                                                              "container_cluster_id": cluster.node_id}},
        {"object_update_type": "CREATE", "container_object": {**pod(pod_id, "a", ns_id, {"app": "web"}),
                                                              "container_cluster_id": cluster.node_id}}]},
        action="updates")
    admin.patch(f"{GROUPS}/web", {"group_type": ["ANTREA"], "display_name": "<script>alert(1)</script>",
                                  "expression": [cond("Pod", "Tag", "app|web")]})
    admin.patch(f"{POLICIES}/p1", {"category": "Emergency", "scope": [cluster.ccp_path], "rules": [
        {"id": "r1", "source_groups": ["/infra/domains/default/groups/web"], "action": "DROP"}]})
    html = fetch(nsx)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-category="Emergency"' in html and 'data-id="p1"' in html
    assert f"{cluster.name}: a" in html  # the group's effective pods, computed by the mock
    assert "<td>a</td><td>10.10.1.5</td>" in html
    # a second cluster, and the filter that keeps one
    other = register("lab-cluster-2")
    assert "2 container cluster(s)" in fetch(nsx)
    only = fetch(nsx, f"/?cluster_id={other.node_id}")
    assert f'data-id="{other.node_id}"' in only and f'data-id="{cluster.node_id}"' not in only
    # a principal identity (client certificate, no password) reads the same page
    assert 'data-id="p1"' in fetch(nsx, auth=False, cert=cluster)
