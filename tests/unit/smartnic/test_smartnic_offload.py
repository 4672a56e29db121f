"""Datapath flow parsing, offload classification, profiles, the traffic simulation and the DPU story."""

from __future__ import annotations

import pytest

from labkit.errors import ManifestError
from labkit.model.yamlsrc import load_documents
from labkit.smartnic import (
    CHURN,
    STEADY,
    Workload,
    classify,
    format_flow,
    get_profile,
    host_compromise,
    load_profiles,
    offload,
    offload_stats,
    parse_dump_flows,
    parse_flow,
    reasons_table,
    sample_flows,
    simulate,
)
from labkit.smartnic.profiles import parse_profiles

# Antrea docs/ovs-offload.md, "Check datapath rules are offloaded"
ANTREA_DOC_LINE = ("recirc_id(0),in_port(eth0),eth(src=16:fd:c6:0b:60:52),eth_type(0x0800),ipv4(src=192.168.1.17,"
                   "frag=no), packets:2235857, bytes:147599302, used:0.550s, actions:ct(zone=65520),recirc(0x18)")
# `ovs-appctl dpctl/dump-flows -m` on a kernel datapath with hw-offload: ufid, every key with its mask
# (zero masks = wildcarded), the dp layer and the offloaded flag (lib/dpctl.c, odp-util.c formats).
VERBOSE_LINE = ("ufid:1f9ac6f2-7d33-4b7d-9b4e-0c6b0c3d1e7a, skb_priority(0/0),skb_mark(0/0),ct_state(0x22/0x22),"
                "ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0x18),dp_hash(0/0),in_port(eth0),"
                "packet_type(ns=0/0,id=0/0),eth(src=00:00:00:00:00:00/00:00:00:00:00:00,dst=42:66:d7:45:0d:7e),"
                "eth_type(0x0800),ipv4(src=0.0.0.0/0.0.0.0,dst=192.168.1.0/255.255.255.0,proto=0/0,tos=0/0,ttl=0/0,"
                "frag=no), packets:1520, bytes:2245760, used:0.010s, flags:P., dp:tc, offloaded:yes, actions:eth1")
TUNNEL_LINE = ("tunnel(tun_id=0x0,src=172.18.0.4,dst=172.18.0.3,ttl=64,tp_dst=6081,flags(-df+csum+key)),"
               "recirc_id(0),in_port(genev_sys_6081),eth_type(0x0800),ipv4(frag=no), packets:3, bytes:222, used:never, "
               "actions:ct(zone=65520,nat),recirc(0x5)")


@pytest.fixture(scope="module")
def connectx():
    return get_profile("connectx-class")


# ---------------------------------------------------------------------------- parser

def test_parse_the_antrea_doc_line():
    flow = parse_flow(ANTREA_DOC_LINE)
    assert flow.match == {"recirc_id": "0", "in_port": "eth0", "eth": "src=16:fd:c6:0b:60:52",
                          "eth_type": "0x0800", "ipv4": "src=192.168.1.17,frag=no"}
    assert flow.actions == ("ct(zone=65520)", "recirc(0x18)")
    assert (flow.packets, flow.bytes, flow.used) == (2235857, 147599302, "0.550s")
    assert flow.action_names == ["ct", "recirc"]


def test_parse_verbose_output_with_masks_and_offload_flags(connectx):
    flow = parse_flow(VERBOSE_LINE)
    assert flow.ufid.startswith("1f9ac6f2") and flow.dp == "tc" and flow.offloaded == "yes"
    assert flow.extra["flags"] == "P." and flow.actions == ("eth1",) and flow.action_names == ["output"]
    assert flow.ct_state() == {"est": True, "trk": True}  # 0x22 = est|trk, both required
    assert offload.wildcarded(flow.match["packet_type"]) and not offload.wildcarded(flow.match["eth"])
    assert classify([flow], connectx)[0].reason == offload.OFFLOADED  # zero-masked keys do not count


def test_parse_tunnel_keys_and_nested_flags():
    flow = parse_flow(TUNNEL_LINE)
    assert flow.match["tunnel"].endswith("flags(-df+csum+key)")
    assert flow.used == "never" and flow.actions == ("ct(zone=65520,nat)", "recirc(0x5)")


def test_parse_a_dump_and_write_it_back():
    text = "\n".join([ANTREA_DOC_LINE, "", VERBOSE_LINE, TUNNEL_LINE])
    flows = parse_dump_flows(text)
    assert len(flows) == 3
    assert [parse_flow(format_flow(f)) for f in flows] == flows


def test_set_actions_are_named_by_what_they_set():
    flow = sample_flows()[5]  # Geneve encap towards kind-worker2
    assert flow.action_names == ["set_tunnel", "set_eth", "set_ipv4", "output"]


def test_not_a_flow_line():
    with pytest.raises(ValueError, match="no 'actions:'"):
        parse_flow("recirc_id(0),in_port(1)")


# ---------------------------------------------------------------------------- classification

def test_sample_dump_reasons(connectx):
    decisions = classify(sample_flows(), connectx)
    reasons = [d.reason for d in decisions]
    assert reasons[:4] == [offload.OFFLOADED] * 4  # the Antrea doc's offloaded flows
    assert reasons[4] == offload.FIRST_PACKETS  # ct(commit) of a +new connection
    assert reasons[5:7] == [offload.OFFLOADED] * 2  # Geneve encap and decap
    assert reasons[7:11] == [offload.UNSUPPORTED_ACTION] * 4  # Reject, logging, IPFIX sample, FTP ALG
    assert "controller" in decisions[7].detail and "helper" in decisions[10].detail
    assert reasons[11] == offload.UNSUPPORTED_MATCH and "nd(" in decisions[11].detail


def test_table_full(connectx):
    from dataclasses import replace

    small = replace(connectx, flow_capacity=2)
    reasons = [d.reason for d in classify(sample_flows()[:4], small)]
    assert reasons == [offload.OFFLOADED, offload.OFFLOADED, offload.TABLE_FULL, offload.TABLE_FULL]


def test_a_plain_nic_offloads_nothing():
    decisions = classify(sample_flows(), get_profile("no-offload"))
    assert {d.reason for d in decisions} == {offload.NO_OFFLOAD}
    assert offload_stats(decisions)["packets_nic_share"] == 0


def test_stats_come_from_the_flow_counters(connectx):
    decisions = classify(sample_flows(), connectx)
    stats = offload_stats(decisions)
    nic = sum(d.flow.packets for d in decisions if d.offloaded)
    total = sum(d.flow.packets for d in decisions)
    assert stats["packets_nic_share"] == pytest.approx(nic / total)
    assert stats["packets_nic_share"] + stats["packets_host_share"] == pytest.approx(1)
    assert reasons_table(decisions).loc[offload.UNSUPPORTED_ACTION, "flows"] == 4


# ---------------------------------------------------------------------------- profiles

def test_profiles_load_from_the_topology():
    profiles = load_profiles()
    assert set(profiles) == {"connectx-class", "bluefield-class", "no-offload"}
    assert profiles["bluefield-class"].isolated_from_host and not profiles["connectx-class"].isolated_from_host
    assert "userspace" in profiles["connectx-class"].unsupported_actions


def test_a_bad_profile_reports_every_problem_with_its_line():
    text = """apiVersion: labkit.io/v1alpha1
kind: Topology
metadata: {name: smartnic}
spec:
  nicProfiles:
  - name: broken
    kind: fpga
    flowCapacity: lots
    colour: blue
"""
    with pytest.raises(ManifestError) as info:
        parse_profiles(load_documents(text, source="t.yaml")[0])
    messages = [str(p) for p in info.value.problems]
    assert len(messages) >= 3
    assert any("t.yaml:8" in m and "flowCapacity" in m for m in messages)
    assert any("unknown field 'colour'" in m for m in messages) and any("fpga" in m for m in messages)


# ---------------------------------------------------------------------------- simulation

def test_steady_flows_live_on_the_nic(connectx):
    frame = simulate(connectx, STEADY)
    assert frame.nic_share.iloc[1:].min() == pytest.approx(1.0)
    assert frame.packets_software.iloc[0] == STEADY.long_lived_connections * connectx.setup_packets_in_software


def test_churn_keeps_the_set_up_packets_on_the_host(connectx):
    share = simulate(connectx, CHURN).nic_share.iloc[-1]
    setup, total = connectx.setup_packets_in_software, CHURN.packets_per_connection
    assert share == pytest.approx((total - setup) / total)


def test_churn_beyond_the_insertion_rate_falls_back_to_software(connectx):
    heavy = CHURN.with_(new_connections_per_s=connectx.insertion_rate_per_s * 4)
    assert simulate(connectx, heavy).nic_share.iloc[-1] < simulate(connectx, CHURN).nic_share.iloc[-1]


def test_reject_and_logging_cost_packet_ins(connectx):
    reject = simulate(connectx, Workload(long_lived_connections=0, new_connections_per_s=100, reject_share=1.0))
    drop = simulate(connectx, Workload(long_lived_connections=0, new_connections_per_s=100, drop_share=1.0))
    logged = simulate(connectx, Workload(long_lived_connections=0, new_connections_per_s=100, logged_share=1.0))
    assert reject.packet_ins.mean() == 100 and drop.packet_ins.mean() == 0 and logged.packet_ins.mean() == 100
    assert reject.packets_software.mean() == 200  # SYN up, RST down


def test_a_dpu_spends_no_host_cpu():
    frame = simulate(get_profile("bluefield-class"), CHURN)
    assert frame.host_cpu_cores.max() == 0 and frame.dpu_cpu_cores.max() > 0


# ---------------------------------------------------------------------------- a compromised host

def _matrix():
    from labkit import Lab
    from labkit.smartnic import exercises

    with Lab(backend="sim", profile="workshop", name="nic-unit") as lab:
        lab.apply(exercises.SOLUTION)
        return lab.reachability(port=80)


def test_root_on_the_host_disables_policy_on_an_eswitch_but_not_on_a_dpu():
    expected = _matrix()
    assert expected["z/a", "x/a"] == "drop"
    on_host, log = host_compromise(get_profile("connectx-class"), expected)
    on_dpu, dpu_log = host_compromise(get_profile("bluefield-class"), expected)
    assert set(on_host.codes.ravel()) == {0} and on_host.kind == "observed"
    assert on_dpu.same_as(expected)
    assert log["outcome"].str.startswith("succeeds").all()
    assert not dpu_log["outcome"].str.startswith("succeeds").any()
