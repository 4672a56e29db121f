"""The mock's flow collector and flow view (``/labkit/v1/.../flow-records``, ``/labkit/v1/flows``),
over real HTTPS: a cluster's principal identity reports records, the admin reads them as an NSX
security admin would (groups, services, action, flow type, the deciding NSX rule), counts add up,
and bad input is refused with every problem named."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.nsx.manager import NSXApiError

from .conftest import CCPS, GROUPS, POLICIES, antrea_group, cond, nested

LK = "/labkit/v1"
G = "/infra/domains/default/groups/"


def record(src: str, dst: str, port: int = 80, *, sip: str = "10.10.1.5", dip: str = "10.10.1.6",
           ns: str = "shop", dst_ns: str = "shop", sport: int = 40000, **extra) -> dict:
    return {"sourceIP": sip, "destinationIP": dip, "sourceTransportPort": sport, "destinationTransportPort": port,
            "protocolIdentifier": 6, "sourcePodNamespace": ns, "sourcePodName": src, "destinationPodNamespace": dst_ns,
            "destinationPodName": dst, "packetTotalCount": 4, "octetTotalCount": 400, "reversePacketTotalCount": 3,
            "reverseOctetTotalCount": 3000, "flowStartSeconds": 1_767_225_600, "flowEndSeconds": 1_767_225_601,
            **extra}


def post(cluster, records, **body):
    return cluster.client.post(f"{LK}{CCPS.removeprefix('/policy/api/v1')}/{cluster.name}/flow-records",
                               {"records": records, **body})


def test_records_are_kept_in_reports_and_a_resent_chunk_replaces_itself(shop, admin):
    first = post(shop, [record("web-1", "db-1")], label="run 1")
    assert first["report_id"] == "1" and first["report_record_count"] == 1
    post(shop, [record("web-1", "db-1"), record("web-2", "db-1")], report_id="1", chunk=1)
    again = post(shop, [record("web-1", "db-1"), record("web-2", "db-1")], report_id="1", chunk=1)  # a retry
    assert again["report_record_count"] == 3  # not 5
    second = post(shop, [record("web-2", "db-1")])
    reports = admin.get(f"{LK}/flow-reports")["results"]
    assert [(r["report_id"], r["label"], r["record_count"]) for r in reports] == [("1", "run 1", 3),
                                                                                  (second["report_id"], "", 1)]
    assert len(admin.flows()) == 4 and len(admin.flows(report_id="1")) == 3


def test_bad_records_are_refused_with_every_problem(shop):
    with pytest.raises(NSXApiError) as err:
        post(shop, [record("web-1", "db-1", port=70000), {"sourceIP": "nope", "colour": "red"}, 7], chunk=-1)
    problems = [e.error_message for e in err.value.related_errors]
    assert err.value.status == 400
    assert "records[0].destinationTransportPort 70000 must be an integer >= 0 <= 65535" in problems
    assert any(p.startswith("records[1].colour: unknown field") for p in problems)
    assert "records[1].sourceIP 'nope' is not an IP address" in problems
    assert "records[1].destinationIP is required" in problems
    assert "records[2] must be an object of flow record fields" in problems
    assert any(p.startswith("chunk -1 must be") for p in problems)
    assert post(shop, [])["report_record_count"] == 0  # nothing of the refused body was kept


def test_a_cluster_reports_only_its_own_flows_and_sees_only_its_own(shop, register, admin):
    other = register("lab-cluster-2")
    with pytest.raises(NSXApiError) as err:
        other.client.post(f"{LK}/infra/sites/default/enforcement-points/default/cluster-control-planes/"
                          f"{shop.name}/flow-records", {"records": [record("web-1", "db-1")]})
    assert err.value.status == 403
    post(shop, [record("web-1", "db-1")])
    assert other.client.flows() == [] and len(admin.flows()) == 1
    assert len(admin.flows(container_cluster_id=shop.node_id)) == 1
    assert admin.flows(container_cluster_id=other.node_id) == []


def test_the_view_names_groups_services_and_the_deciding_nsx_rule(shop, admin):
    admin.patch(f"{GROUPS}/web", antrea_group(nested(cond("Namespace", "Name", "shop"), cond("Pod", "Tag", "app|web"))))
    admin.patch(f"{GROUPS}/db", antrea_group(cond("Pod", "Tag", "app|db")))
    admin.patch(f"{POLICIES}/p", {"category": "Application", "scope": [shop.ccp_path], "rules": [
        {"id": "allow-web", "source_groups": [G + "web"], "scope": [G + "db"], "services": ["/infra/services/HTTP"],
         "action": "ALLOW", "direction": "IN", "sequence_number": 1},
        {"id": "drop-rest", "scope": [G + "db"], "action": "DROP", "direction": "IN", "sequence_number": 2},
        {"id": "any-any", "action": "REJECT", "sequence_number": 3}]})
    policy = admin.get(f"{POLICIES}/p")
    uid, ids = policy["unique_id"], {r["id"]: r["rule_id"] for r in policy["rules"]}
    post(shop, [
        record("web-1", "db-1", ingressNetworkPolicyType=3, ingressNetworkPolicyName=uid,
               ingressNetworkPolicyRuleName=str(ids["allow-web"]), ingressNetworkPolicyRuleAction=1),
        record("dev-1", "db-1", 5432, ns="dev", ingressNetworkPolicyType=3, ingressNetworkPolicyName=uid,
               ingressNetworkPolicyRuleName=str(ids["drop-rest"]), ingressNetworkPolicyRuleAction=2),
        record("web-2", "web-1", 81, egressNetworkPolicyType=3, egressNetworkPolicyName=uid,
               egressNetworkPolicyRuleName=f"{ids['any-any']}-out", egressNetworkPolicyRuleAction=3),
        record("web-1", "x", 80, dip="192.0.2.7", destinationPodName="", destinationPodNamespace="",
               egressNetworkPolicyType=1, egressNetworkPolicyName="np", egressNetworkPolicyNamespace="shop",
               egressNetworkPolicyRuleAction=1),
    ])
    allowed, dropped, rejected, external = admin.flows()
    assert allowed["action"] == "ALLOW" and allowed["flow_type"] == "ALLOWED"
    assert allowed["source"]["groups"] == [f"{G}web"] and allowed["destination"]["groups"] == [f"{G}db"]
    assert allowed["service"] == "/infra/services/HTTP"  # the NSX service for TCP/80
    assert allowed["rule"]["rule_path"] == f"{policy['path']}/rules/allow-web"
    assert allowed["rule"]["rule_id"] == ids["allow-web"] and allowed["rule"]["direction"] == "INGRESS"
    assert allowed["packet_count"] == 7 and allowed["byte_count"] == 3400
    assert dropped["source"]["namespace"] == "dev" and dropped["source"]["groups"] == ["UNCATEGORIZED"]
    assert dropped["action"] == "DROP" and dropped["flow_type"] == "BLOCKED" and dropped["service"] == "TCP/5432"
    assert dropped["rule"]["rule_path"].endswith("/drop-rest")
    # a Source Any / Destination Any / Applied To Any rule is a catch-all: "unprotected"
    assert rejected["action"] == "REJECT" and rejected["flow_type"] == "UNPROTECTED"
    assert rejected["rule"]["rule_path"].endswith("/any-any") and rejected["rule"]["direction"] == "EGRESS"
    assert external["destination"]["groups"] == ["UNKNOWN"] and external["rule"] is None
    assert external["flow_type"] == "UNPROTECTED"
    assert external["cluster_policy"] == {"kind": "K8sNetworkPolicy", "name": "shop/np", "rule": "",
                                          "direction": "EGRESS"}
    pair = admin.flows(source_group="web", destination_group="db")
    assert [f["id"] for f in pair] == [allowed["id"]]
    assert [f["id"] for f in admin.flows(action="drop,reject")] == [dropped["id"], rejected["id"]]
    by_rule = {r["rule_path"].rsplit("/", 1)[-1]: r["record_count"]
               for r in admin.flow_summary("rule")["results"]}
    assert by_rule == {"allow-web": 1, "drop-rest": 1, "any-any": 1, "": 1}


def test_cascade_deregistration_forgets_the_flows(shop, admin):
    post(shop, [record("web-1", "db-1")])
    shop.client.delete(f"{CCPS}/{shop.name}", cascade=True)
    assert admin.get(f"{LK}/flow-reports")["results"] == [] and admin.flows() == []


def test_summary_refuses_an_unknown_grouping(shop, admin):
    with pytest.raises(NSXApiError, match="group_by 'colour' must be one of cluster, namespace"):
        admin.flow_summary("colour")


PODS = [("web-1", "10.10.1.5"), ("web-2", "10.10.1.5"), ("db-1", "10.10.1.5"), ("ghost", "198.51.100.1")]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(PODS), st.sampled_from(PODS), st.sampled_from([80, 443, 5432]),
                          st.sampled_from([0, 1, 2, 3])), min_size=1, max_size=40))
def test_summaries_count_every_record(shop, admin, flows):
    """Per namespace, service, cluster and rule every record counts once; per group pair once per
    pair of groups its ends are in (a pod in two groups counts twice, as in NSX Intelligence)."""
    admin.patch(f"{GROUPS}/web", antrea_group(cond("Pod", "Tag", "app|web")))
    admin.patch(f"{GROUPS}/shop", antrea_group(cond("Namespace", "Name", "shop")))
    records = [record(s[0], d[0], port, sip=s[1], dip=d[1], ingressNetworkPolicyRuleAction=action,
                      ingressNetworkPolicyType=1 if action else 0) for s, d, port, action in flows]
    report = post(shop, records)["report_id"]
    mine = {"report_id": report}
    for group_by in ("cluster", "namespace", "service", "rule", "talker"):
        summary = admin.flow_summary(group_by, **mine)
        assert summary["record_count"] == len(records)
        assert sum(r["record_count"] for r in summary["results"]) == len(records), group_by
        assert sum(r["dropped_count"] for r in summary["results"]) == sum(a == 2 for *_, a in flows)
    groups_of = {"web-1": 2, "web-2": 2, "db-1": 1, "ghost": 1}  # web: {web, shop}; db: {shop}; ghost: UNKNOWN
    pairs = admin.flow_summary("group", **mine)["results"]
    assert sum(r["record_count"] for r in pairs) == sum(groups_of[s[0]] * groups_of[d[0]] for s, d, *_ in flows)
