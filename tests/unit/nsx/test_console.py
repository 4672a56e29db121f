"""NSXConsole without a browser: build it on a registered lab, use its editors and buttons, and
assert on what the browser would draw (the widget models' state) and on NSX itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import Lab
from labkit.nsx import NSXAdapter, NSXClient, NSXManagerServer
from labkit.widgets.nsx_console import NSXConsole, group_body, rule_body

from .conftest import GROUPS, POLICIES

G = "/infra/domains/default/groups/"


@pytest.fixture
def setup(tmp_path: Path, nsx: NSXManagerServer, admin: NSXClient):
    lab = Lab(profile="workshop", name="console", state_dir=tmp_path / "lab")
    with lab, NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=tmp_path / "cert", key_type="ec") as adapter:
        adapter.register()
        yield lab, adapter, NSXConsole(nsx.client(), adapter=adapter)


def test_inventory_comes_from_nsx(setup):
    lab, adapter, console = setup
    assert console.cluster_id == adapter.cluster_id
    pods = {f"{p['namespace']}/{p['name']}": p for p in console.tables["pods"]}
    assert sorted(pods) == sorted(p.key for p in lab.state.pods)
    assert pods["x/a"]["ip"] == lab.pod_ip("x/a") and pods["x/a"]["tags"] == "pod=a"
    assert [n["name"] for n in console.tables["namespaces"]] == ["x", "y", "z"]
    html = console.inventory_html.get_state()["value"]
    assert "<h4>Pods</h4>" in html and lab.pod_ip("z/c") in html
    lab.label("x/a", team="blue")
    console.run_adapter()  # the cluster-side change reaches NSX, and the console reads it back
    assert {p["name"]: p["tags"] for p in console.tables["pods"] if p["namespace"] == "x"}["a"] == "pod=a, team=blue"
    assert console.tabs.get_state()["titles"] == ("Inventory", "Groups", "Policies", "Realization", "Traceflow",
                                                     "Flows")


def test_group_and_policy_editors_write_through_the_api_and_the_lab_follows(setup, admin: NSXClient):
    lab, adapter, console = setup
    for gid, ns in (("ns-x", "x"), ("ns-y", "y")):
        console._group_id.value, console._group_ns.value = gid, ns
        assert console.save_group() is not None, console.message
    assert admin.get(f"{GROUPS}/ns-x")["expression"] == group_body(namespace="x")["expression"]
    assert [g["id"] for g in console.tables["groups"]] == ["ns-x", "ns-y"]

    c = console
    c._policy_id.value, c._rule_id.value, c._rule_sequence.value = "protect-x", "allow-y", 10
    c._rule_src.value, c._rule_applied.value = G + "ns-y", G + "ns-x"
    c._rule_service.value = "/infra/services/HTTP"
    assert c.save_policy() is not None and c.ok
    c._rule_id.value, c._rule_sequence.value, c._rule_src.value = "drop-rest", 20, "ANY"
    c._rule_service.value, c._rule_action.value, c._rule_direction.value = "ANY", "DROP", "IN"
    c.save_policy()
    policy = admin.get(f"{POLICIES}/protect-x")
    assert [(r["id"], r["direction"]) for r in policy["rules"]] == [("allow-y", "IN"), ("drop-rest", "IN")]
    assert policy["scope"] == [adapter.ccp_path]
    assert c.tables["policies"][0]["rules"] == 2

    c.run_adapter()
    assert lab.reachability(port=80)["z/a", "x/b"] == "drop"
    assert lab.reachability(port=80)["y/a", "x/b"] == "allow"
    assert c.tables["realization"] == [{"policy": "protect-x", "version": "1", "status": "SUCCESS", "errors": ""}]
    assert [(s["rule"], s["hits"]) for s in c.tables["statistics"]] == [("allow-y", 9), ("drop-rest", 87)]
    assert "SUCCESS" in c.realization_html.get_state()["value"]


def test_editors_show_what_nsx_refuses_and_json_mode_round_trips(setup, admin: NSXClient):
    _lab, adapter, c = setup
    c._group_id.value = "bad"
    c._group_mode.value = "JSON"
    assert json.loads(c._group_json.value) == group_body()  # the form's body, to start from
    c._group_json.value = json.dumps({"group_type": ["ANTREA"], "expression": [
        {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "CONTAINS", "value": "a|b"}]})
    assert c.save_group() is None and not c.ok
    assert "CONTAINS" in c.message and "border-left:6px solid #D55E00" in c.status_html.get_state()["value"]
    c._group_json.value = "{not json"
    assert c.save_group() is None and "not valid JSON" in c.message
    c._policy_id.value = "p"
    c._policy_mode.value = "JSON"
    body = json.loads(c._policy_json.value)
    assert body["scope"] == [adapter.ccp_path] and "rules" not in body
    body["rules"] = [rule_body("r", source=G + "nope")]
    c._policy_json.value = json.dumps(body)
    assert c.save_policy() is None and "Invalid path" in c.message


def test_traceflow_button_round_trip(setup, admin: NSXClient):
    _lab, adapter, c = setup
    admin.patch(f"{GROUPS}/ns-x", group_body(namespace="x"))
    admin.patch(f"{POLICIES}/deny-x", {"scope": [adapter.ccp_path], "rules": [
        rule_body("drop-in", applied_to=G + "ns-x", action="DROP", direction="IN")]})
    c.refresh()
    c._tf_src.label, c._tf_dst.label = "z/a", "x/b"
    c._tf_protocol.value, c._tf_port.value = "TCP", 80
    c.traceflow_form.children[1].children[-1].click()  # the Trace button
    rows = c.tables["traceflow"]
    assert rows[-1]["component"] == "ANTREA_DFW" and rows[-1]["observation"] == "Dropped"
    assert rows[-1]["policy"] == f"AntreaClusterNetworkPolicy:{adapter.acnp_name('deny-x')}"
    assert "SUCCEEDED" in c.traceflow_html.get_state()["value"]
    result = c.trace("x/a", "y/b", protocol="UDP", port=80)
    assert result["phase"] == "SUCCEEDED"
    assert result["observations"][-1]["observation_type"] == "AntreaTraceflowObservationDelivered"
    with pytest.raises(ValueError, match="not in the NSX inventory"):
        c.trace("nope/a", "x/b")


def test_without_the_adapter_a_traceflow_waits_and_the_cluster_can_be_switched(
        setup, nsx: NSXManagerServer, tmp_path: Path):
    _lab, adapter, _ = setup
    other_lab = Lab(profile="workshop", name="console2", state_dir=tmp_path / "lab2")
    other = NSXAdapter(other_lab, nsx.client(), ca_path=nsx.ca_path, cert_dir=tmp_path / "c2", key_type="ec")
    other.register()
    console = NSXConsole(nsx.client(), cluster_id=adapter.cluster_id)
    assert console.trace("x/a", "y/a")["phase"] == "RUNNING"
    assert "waiting for the adapter" in console.traceflow_html.get_state()["value"]
    adapter.sync()
    assert console.show_traceflow()["phase"] == "SUCCEEDED"
    console.cluster_id = other.cluster_id
    assert console._cluster.value == other.cluster_id and len(console.tables["pods"]) == 9
    with pytest.raises(Exception, match="no container cluster"):
        console.cluster_id = "nope"
    other.close()
    other_lab.stop()
