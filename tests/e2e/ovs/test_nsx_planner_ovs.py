"""The flows -> NSX micro-segmentation loop on the ovs backend: real connections, records from Open
vSwitch's IPFIX export and conntrack, the NSX mock over HTTPS, the planned policy realized as
OpenFlow and verified with real packets.

Done when (issue 17): every observed allowed flow is allowed after ``push()``, every unobserved
pod pair on the observed ports is dropped (measured), realization SUCCESS, the flow view's counts
equal the aggregator's records, the next run is counted on the rules and a new connection is seen
dropped with the planned rule. Runtime: about 40 s on the 2-core machine.
"""

from __future__ import annotations

import os
from collections import Counter

import pandas as pd
import pytest

from labkit import Lab
from labkit.flows import SHOP_TRAFFIC, TrafficProfile, TrafficRule
from labkit.nsx import start_nsx
from labkit.nsx.planner.tiers import observe

from ovs_support import assert_no_leaks, require_ovs

pytestmark = [pytest.mark.root, pytest.mark.slow]

P = "/policy/api/v1"
V2 = TrafficProfile("shop-v2", SHOP_TRAFFIC.apps().rules + (
    TrafficRule("api-caches-in-redis", "backend/app=api", "data/app=redis", 6379),))


def test_flows_to_planned_policy_to_verified_loop_on_ovs(tmp_path):
    require_ovs()
    name = f"pln{os.getpid() % 100000}"
    lab = Lab(backend="ovs", profile="shop", name=name, state_dir=tmp_path / "lab")
    try:
        with start_nsx(lab, tmp_path / "nsx", register=True, key_type="ec") as nsx:
            learning = lab.flows(lab.generate_traffic("shop", duration_s=120, seed=1))
            assert len(learning) and set(learning.verdict) == {"allow"}
            report = nsx.report_flows(learning, label="learning")
            # the flow view counts what the aggregator exported, namespace pair by namespace pair
            by_ns = nsx.flow_summary("namespace", report_id=report["report_id"])
            assert by_ns.record_count.sum() == len(learning) == report["report_record_count"]
            assert {(r.source_namespace, r.destination_namespace): r.record_count for r in by_ns.itertuples()} == \
                learning.groupby(["sourcePodNamespace", "destinationPodNamespace"]).size().to_dict()

            plan = nsx.plan_segmentation(learning)
            preview = plan.preview()
            assert preview.ok
            result = plan.push()
            assert result.ok and set(result.realization.values()) == {"SUCCESS"}

            # measured with real packets: the observed pairs pass, every other pair is dropped
            obs = observe(learning, lab.state)
            for (protocol, port), intended in obs.intended().items():
                measured = lab.reachability(port=port, protocol=protocol)
                differences = [d for d in measured.diff(intended) if {d[2], d[3]} != {"drop", "reject"}]
                assert differences == [], (protocol, port, differences[:5])
                assert measured.diff(preview.after[(protocol, port)]) == []  # as previewed

            # the next run: counted on the rules; the new connection dropped by the planned rule
            v2 = lab.flows(lab.generate_traffic(V2, duration_s=60, seed=3))
            blocked = v2[v2.verdict != "allow"]
            assert len(blocked) and set(zip(blocked.sourcePodName.str[:3], blocked.destinationPodName)) == {
                ("api", "redis")}
            second = nsx.report_flows(v2, label="v2")["report_id"]
            view = nsx.flows(report_id=second, source_group="shop-backend-api", destination_group="shop-data-redis")
            assert len(view) == len(blocked) and set(view.action) == {"DROP"}
            assert set(zip(view.policy, view.rule)) == {("shop-segmentation", "default-drop")}
            stats = nsx.client().get(f"{P}/infra/domains/default/security-policies/shop-segmentation/statistics",
                                     container_cluster_path=nsx.adapter.ccp_path)
            hits = Counter({r["rule"].rsplit("/", 1)[-1]: r["hit_count"]
                            for r in stats["results"][0]["statistics"]["results"]})
            connections = v2.drop_duplicates(["sourceIP", "destinationIP", "sourceTransportPort",
                                              "destinationTransportPort", "flowStartSeconds"])
            assert hits["default-drop"] == int((connections.verdict != "allow").sum())
            assert hits["allow-frontend-web-to-backend-api"] == int(
                ((connections.destinationServicePortName == "backend/api:http")
                 & connections.sourcePodName.str.startswith("web")).sum()) > 0

            # adjust: the re-plan adds the two rules, and the new connection passes for real
            plan = nsx.plan_segmentation(pd.concat([learning, v2]), approve=blocked)
            assert sorted(c.path.rsplit("/", 1)[-1] for c in plan.changes()) == [
                "allow-backend-api-to-data-redis", "allow-backend-api-to-data-redis-egress"]
            assert plan.push().ok
            after = lab.reachability(port=6379, sources=[p.key for p in lab.state.pods if p.name.startswith("api")],
                                     destinations=["data/redis"])
            assert set(after.to_frame().values.ravel()) == {"allow"}
    finally:
        lab.stop()
    assert_no_leaks(name, tmp_path / "lab")
