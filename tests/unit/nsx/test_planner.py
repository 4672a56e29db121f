"""The micro-segmentation planner on the shop (sim), end to end through the real NSX mock over
HTTPS: flows -> plan (nothing written) -> preview (the adapter's mapping on a copy of the lab) ->
push (one hierarchical PATCH, realized by the adapter) -> the next run is counted and an unplanned
connection is seen dropped by the plan -> a re-plan that approves it changes only what differs."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from labkit import Lab
from labkit.errors import CheckFailed
from labkit.flows import SHOP_TRAFFIC, TrafficProfile, TrafficRule
from labkit.nsx import start_nsx
from labkit.nsx.interworking.realize import is_managed, render
from labkit.nsx.planner import PlanError
from labkit.nsx.planner.tiers import observe
from labkit.widgets import check_segmentation

P = "/policy/api/v1"
POLICY = f"{P}/infra/domains/default/security-policies/shop-segmentation"
V2 = TrafficProfile("shop-v2", SHOP_TRAFFIC.rules + (
    TrafficRule("api-v2-to-redis", "backend/app=api", "data/app=redis", 6379, connections_per_minute=6),))


@pytest.fixture
def shop(tmp_path: Path):
    with Lab(profile="shop", name="planner", state_dir=tmp_path / "lab") as lab, \
            start_nsx(lab, tmp_path / "nsx", register=True, key_type="ec") as nsx:
        yield lab, nsx, lab.flows(lab.generate_traffic("shop", duration_s=120, seed=1))


def _nsx_objects(nsx) -> dict:
    admin = nsx.client()
    return {"groups": {g["id"]: g for g in admin.list_all(f"{P}/infra/domains/default/groups")},
            "policies": {p["id"]: p for p in admin.list_all(f"{P}/infra/domains/default/security-policies")}}


def test_a_plan_is_nsx_bodies_and_writes_nothing(shop):
    lab, nsx, flows = shop
    before_nsx, before_lab = _nsx_objects(nsx), lab.state.generation
    plan = nsx.plan_segmentation(flows)
    assert _nsx_objects(nsx) == before_nsx and lab.state.generation == before_lab

    groups = {g["id"]: g for g in plan.groups}
    assert set(groups) == {"shop-frontend-web", "shop-backend-api", "shop-backend-cart", "shop-data-postgres",
                           "shop-data-redis", "shop-monitoring-prometheus", "shop-scope", "shop-dns"}
    assert all(g["group_type"] == ["ANTREA"] for g in groups.values())
    # a tier as a security admin writes it: Namespace Name Equals AND Pod Tag Equals app|<value>
    nested = groups["shop-backend-api"]["expression"][0]["expressions"]
    assert [(c.get("member_type"), c.get("key"), c.get("value")) for c in nested] == [
        ("Namespace", "Name", "backend"), (None, None, None), ("Pod", "Tag", "app|api")]
    [policy] = plan.policies
    assert policy["category"] == "Application" and policy["scope"] == [nsx.adapter.ccp_path]
    rules = plan.to_frame()
    assert list(rules.columns[:5]) == ["rule", "source_group", "destination_group", "service", "action"]
    web_api = rules[rules.rule == "allow-frontend-web-to-backend-api"].iloc[0]
    assert (web_api.source_group, web_api.destination_group, web_api.service, web_api.action, web_api.direction,
            web_api.applied_to, web_api.observed_pod_pairs) == (
        "shop-frontend-web", "shop-backend-api", "HTTP-8080", "ALLOW", "IN", "shop-backend-api", 4)
    egress = rules[rules.rule == "allow-frontend-web-to-backend-api-egress"].iloc[0]
    assert (egress.direction, egress.applied_to) == ("OUT", "shop-frontend-web")
    last = rules.iloc[-1]
    assert (last.rule, last.source_group, last.destination_group, last.action, last.direction) == (
        "default-drop", "ANY", "shop-scope", "DROP", "IN_OUT")
    assert rules.iloc[-2].rule == "allow-dns" and rules.iloc[-2].service == "DNS, DNS-UDP"
    assert plan.warnings == []


def test_preview_uses_the_adapters_mapping_and_push_realizes_exactly_that(shop):
    lab, nsx, flows = shop
    plan = nsx.plan_segmentation(flows)
    preview = plan.preview()
    assert preview.ok and (preview.connections["after"] == "allow").all()
    assert (preview.cells["after"] != "allow").all() and not preview.cells["observed"].any()
    result = plan.push()
    assert result.ok and set(result.realization.values()) == {"SUCCESS"}
    assert {c.op for c in result.changes} == {"create"} and len(result.changes) == len(plan.groups) + 1 + len(
        plan.rules)
    # the matrix the preview predicted is the one the lab now enforces
    for (protocol, port), after in preview.after.items():
        assert lab.reachability(port=port, protocol=protocol).diff(after) == []
    # previewing the pushed plan: nothing changes, and the rendering is the adapter's, object for object
    again = plan.preview()
    assert again.cells.empty and again.ok
    realized = {f"{o.ref.kind}/{o.ref.name}": dict(o.raw) for o in lab.state.objects.values()
                if is_managed(getattr(o, "raw", None))}
    rendered = {f"{m['kind']}/{m['metadata']['name']}": m for m in again.manifests}
    assert rendered.keys() == realized.keys()
    for key, manifest in rendered.items():
        assert manifest["spec"] == realized[key]["spec"], key
    assert render(nsx.client().desired_state(nsx.adapter.cluster_name)).manifests == again.manifests


def test_after_push_observed_flows_pass_and_every_other_pair_is_dropped(shop):
    lab, nsx, flows = shop
    with pytest.raises(CheckFailed):
        check_segmentation(lab, flows, title="before")  # nothing isolates yet
    nsx.plan_segmentation(flows).push()
    check_segmentation(lab, flows, title="after push")
    obs = observe(flows, lab.state)
    for (protocol, port), intended in obs.intended().items():
        observed = lab.reachability(port=port, protocol=protocol)
        assert observed.diff(intended) == []
        assert observed.counts()["drop"] == intended.counts()["drop"] > 0


def test_the_loop_statistics_count_the_next_run_and_an_unplanned_connection_is_seen_dropped(shop):
    lab, nsx, flows = shop
    nsx.report_flows(flows, label="learning")
    plan = nsx.plan_segmentation(flows)
    plan.push()
    admin = nsx.client()
    stats = admin.get(f"{POLICY}/statistics", container_cluster_path=nsx.adapter.ccp_path)
    assert all(r["hit_count"] == 0 for r in stats["results"][0]["statistics"]["results"])  # no traffic since

    run2 = lab.flows(lab.generate_traffic(V2, duration_s=60, seed=3))
    new = run2[run2.verdict != "allow"]
    assert len(new) and set(zip(new.sourcePodName.str[:3], new.destinationPodName)) == {("api", "redis")}
    report = nsx.report_flows(run2, label="v2")
    assert report["report_record_count"] == len(run2)

    # rule statistics: sessions of this run, per NSX rule (both sides of a connection count)
    stats = admin.get(f"{POLICY}/statistics", container_cluster_path=nsx.adapter.ccp_path)
    hits = {r["rule"].rsplit("/", 1)[-1]: r for r in stats["results"][0]["statistics"]["results"]}
    connections = run2.drop_duplicates(["sourceIP", "destinationIP", "sourceTransportPort",
                                        "destinationTransportPort", "flowStartSeconds"])
    web_api = connections[connections.destinationServicePortName == "backend/api:http"]
    web_api = web_api[web_api.sourcePodName.str.startswith("web")]
    assert hits["allow-frontend-web-to-backend-api"]["hit_count"] == len(web_api) > 0
    assert hits["allow-frontend-web-to-backend-api-egress"]["hit_count"] == len(web_api)
    dropped = connections[connections.verdict != "allow"]
    assert hits["default-drop"]["hit_count"] == len(dropped)  # the egress half, at the api pods
    assert sum(r["hit_count"] for r in hits.values()) == 2 * (len(connections) - len(dropped)) + len(dropped)

    # the NSX flow view: the new connection, dropped, decided by the planned policy's default drop
    view = nsx.flows(report_id=report["report_id"], source_group="shop-backend-api",
                     destination_group="shop-data-redis")
    assert len(view) == len(new) and set(view.action) == {"DROP"} and set(view.flow_type) == {"BLOCKED"}
    assert set(view.policy) == {"shop-segmentation"} and set(view.rule) == {"default-drop"}
    assert set(view.rule_id) == {plan_rule_id(admin, "default-drop")}


def plan_rule_id(admin, rule: str) -> int:
    return admin.get(f"{POLICY}/rules/{rule}")["rule_id"]


def test_replanning_changes_only_what_differs(shop):
    lab, nsx, flows = shop
    nsx.plan_segmentation(flows).push()
    before = _nsx_objects(nsx)
    run2 = lab.flows(lab.generate_traffic(V2, duration_s=60, seed=3))
    both = pd.concat([flows, run2], ignore_index=True)
    assert nsx.plan_segmentation(both).changes() == []  # a denied flow is not planned by itself
    plan = nsx.plan_segmentation(both, approve=run2[run2.verdict != "allow"])
    assert [(c.op, c.kind, c.path.rsplit("/", 1)[-1]) for c in plan.changes()] == [
        ("create", "Rule", "allow-backend-api-to-data-redis"),
        ("create", "Rule", "allow-backend-api-to-data-redis-egress")]
    body = plan.hierarchical_body()
    [domain] = body["children"]
    [policy] = domain["children"]
    assert set(policy["SecurityPolicy"]) == {"id", "resource_type", "children"}  # rules only: no rewrite
    assert plan.preview().cells[["source", "destination", "port", "after"]].assign(
        source=lambda f: f.source.str[:11]).drop_duplicates().values.tolist() == [
        ["backend/api", "data/redis", 6379, "allow"]]
    result = plan.push()
    assert result.ok and len(result.changes) == 2
    after = _nsx_objects(nsx)
    assert {g: v["_revision"] for g, v in after["groups"].items()} == {
        g: v["_revision"] for g, v in before["groups"].items()}
    check_segmentation(lab, both, approve=run2[run2.verdict != "allow"], title="v2 approved")


def test_tiers_no_longer_seen_are_removed_with_their_rules(shop):
    lab, nsx, flows = shop
    nsx.plan_segmentation(flows).push()
    quiet = flows[(flows.sourcePodNamespace != "monitoring") & (flows.destinationPodNamespace != "monitoring")]
    plan = nsx.plan_segmentation(quiet)
    found = {(c.op, c.kind, c.path.rsplit("/", 1)[-1]) for c in plan.changes()}
    assert ("delete", "Group", "shop-monitoring-prometheus") in found
    assert ("delete", "Rule", "allow-monitoring-prometheus-to-backend-api") in found
    assert ("update", "Group", "shop-scope") in found  # monitoring leaves the application's scope
    assert all(op == "delete" or kind == "Group" for op, kind, _ in found)
    assert plan.push().ok
    assert "shop-monitoring-prometheus" not in _nsx_objects(nsx)["groups"]
    check_segmentation(lab, quiet, title="without monitoring")


def test_ingress_only_isolation_plans_no_egress_rules(shop):
    lab, nsx, flows = shop
    plan = nsx.plan_segmentation(flows, direction="IN", default_action="REJECT", name="shop-in")
    rules = plan.to_frame()
    assert set(rules.direction) == {"IN"} and "shop-in-dns" not in {g["id"] for g in plan.groups}
    assert rules.iloc[-1].rule == "default-reject" and rules.iloc[-1].action == "REJECT"
    assert plan.push().ok
    check_segmentation(lab, flows, title="ingress only")


def test_plans_say_what_is_wrong(shop, tmp_path):
    lab, nsx, flows = shop
    with pytest.raises(PlanError, match="no allowed pod-to-pod TCP/UDP flow"):
        nsx.plan_segmentation(flows.iloc[:0])
    with pytest.raises(PlanError, match="lacks column.*verdict"):
        nsx.plan_segmentation(flows.drop(columns=["verdict"]))
    with pytest.raises(PlanError, match="direction 'OUT'"):
        nsx.plan_segmentation(flows, direction="OUT")
    with pytest.raises(PlanError, match="approve= takes a flow DataFrame"):
        nsx.plan_segmentation(flows, approve=[1, 2])
    sctp = copy.deepcopy(flows.iloc[:1]).assign(protocolIdentifier=132)
    plan = nsx.plan_segmentation(pd.concat([flows, sctp]))
    assert len(plan.warnings) == 1 and "TCP and UDP services only" in plan.warnings[0]
    other = Lab(profile="shop", name="planner2", state_dir=tmp_path / "other")
    with other, start_nsx(other, tmp_path / "nsx2", key_type="ec") as unregistered:
        with pytest.raises(PlanError, match="not registered with NSX: call adapter.register"):
            unregistered.plan_segmentation(flows)
