"""Drift between a switch and the compiled flows: ``ovs-ofctl diff-flows`` output read back, grouped
by table and cookie; the exact comparison and the per-table counts the cheap check uses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import Lab
from labkit.backends.ovs.topology import build_topology, load_topology
from labkit.datapath.compile import compile_flows
from labkit.datapath.drift import compare, count_by_table, counts_differ, parse_diff
from labkit.datapath.openflow import FlowEntry
from labkit.datapath.pipeline import PIPELINE, table_id

# What ovs-ofctl 3.1 printed for one node after `del-flows` of two isolation flows and an
# `add-flow` by hand (labkit's e2e lab, table 17 = IngressDefaultRule, 7 = AntreaPolicyEgressRule).
DIFF = """\
-table=7 priority=5,ip,nw_dst=1.2.3.4 actions=drop
+table=17 priority=200,ip,reg1=0x3 cookie=0x3000000000002 actions=drop
+table=17 priority=200,ip,reg1=0x4 cookie=0x3000000000002 actions=drop
"""


def test_diff_flows_output_is_read_per_table_and_cookie():
    drift = parse_diff(DIFF)
    assert not drift.ok
    assert [f.match for f in drift.missing] == ["ip,reg1=0x3", "ip,reg1=0x4"]
    assert drift.missing[0].table == "IngressDefaultRule" and drift.missing[0].cookie == 0x3000000000002
    assert [f.table for f in drift.unexpected] == ["AntreaPolicyEgressRule"] and drift.unexpected[0].cookie == 0
    groups = drift.groups()
    assert [(g.table, g.cookie, g.missing, g.unexpected) for g in groups] == [
        ("AntreaPolicyEgressRule", 0, 0, 1), ("IngressDefaultRule", 0x3000000000002, 2, 0)]
    assert groups[1].examples[0].startswith("-cookie=0x3000000000002,table=IngressDefaultRule,priority=200")
    assert "table IngressDefaultRule cookie 0x3000000000002: 2 missing" in str(drift)
    assert parse_diff("").ok and str(parse_diff("")) == "no drift"


def test_a_flow_with_other_actions_counts_once_as_changed():
    drift = parse_diff("-table=4 priority=200,ip,in_port=3 cookie=0x1000000000000 actions=NORMAL\n"
                       "+table=4 priority=200,ip,in_port=3 cookie=0x1000000000000 actions=goto_table:5\n")
    (group,) = drift.groups()
    assert (group.table, group.missing, group.unexpected, group.changed) == ("SpoofGuard", 0, 0, 1)


def test_counts_of_a_compiled_node():
    lab = Lab(backend="sim", profile="workshop")
    lab.apply("""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
""")
    flows = compile_flows(lab.policy_set, build_topology(load_topology(None), lab.state), "kind-worker")
    counts = count_by_table(flows)
    assert sum(counts.values()) == len(flows) and set(counts) <= {t.id for t in PIPELINE}
    assert counts_differ(counts, dict(counts)) == []
    fewer = dict(counts)
    fewer[table_id("IngressDefaultRule")] -= 1
    assert counts_differ(counts, fewer) == [
        f"IngressDefaultRule: {fewer[table_id('IngressDefaultRule')]} on the switch, "
        f"{counts[table_id('IngressDefaultRule')]} compiled"]


flow_entries = st.builds(
    FlowEntry,
    table=st.sampled_from([t.name for t in PIPELINE]),
    priority=st.integers(0, 65535),
    match=st.sampled_from(["", "ip", "ip,nw_src=10.244.1.2", "arp", "ip,reg1=0x3", "tcp,tp_dst=80"]),
    actions=st.sampled_from(["drop", "NORMAL", "goto_table:5", "controller(max_len=65535)"]),
    cookie=st.integers(0, 2 ** 50))


@settings(max_examples=200, deadline=None)
@given(st.lists(flow_entries, max_size=20), st.lists(flow_entries, max_size=20))
def test_compare_partitions_both_sides(expected, actual):
    drift = compare(expected, actual)
    want, have = set(expected), set(actual)
    assert set(drift.missing) == want - have and set(drift.unexpected) == have - want
    assert drift.ok == (want == have)
    assert compare(expected, expected).ok
    groups = drift.groups()
    assert sum(g.missing + g.changed for g in groups) == len(drift.missing)
    assert sum(g.unexpected for g in groups) == len(drift.unexpected) - len(
        [f for f in drift.unexpected if f.key in drift.changed_keys()])
