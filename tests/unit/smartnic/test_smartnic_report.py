"""The offload report type, pmd-stats parsing, SmartNIC topology data and the dashboard (no root needed)."""

from __future__ import annotations

import pytest

from labkit import Lab
from labkit.backends.ovs.smartnic import SmartNics
from labkit.backends.ovs.topology import load_topology
from labkit.errors import ManifestError
from labkit.smartnic.report import OffloadReport, parse_pmd_stats
from labkit.widgets import OffloadDashboard

# `ovs-appctl dpif-netdev/pmd-stats-show` of a lab node (OVS 3.1, userspace datapath, no PMD threads)
PMD_STATS = """\
main thread:
  packets received: 541
  packet recirculations: 677
  avg. datapath passes per packet: 2.25
  phwol hits: 0
  mfex opt hits: 0
  simple match hits: 4
  emc hits: 303
  smc hits: 0
  megaflow hits: 867
  avg. subtable lookups per megaflow hit: 3.76
  miss with success upcall: 44
  miss with failed upcall: 0
  avg. packets per output batch: 1.83
"""


def test_pmd_stats_are_summed_and_hits_plus_upcalls_are_all_passes():
    c = parse_pmd_stats(PMD_STATS + PMD_STATS.replace("main thread", "pmd thread numa_id 0 core_id 1"))
    assert c["packets_received"] == 2 * 541 and c["upcalls"] == 2 * 44
    assert c["hits"] == 2 * (4 + 303 + 867)
    assert c["hits"] + c["upcalls"] == c["packets_received"] + c["recirculations"]


@pytest.fixture(scope="module")
def sim_lab():
    with Lab(backend="sim", profile="workshop", name="nicunit") as lab:
        yield lab


def test_sim_report_is_the_same_type_and_labelled_modelled(sim_lab):
    report = sim_lab.offload_report()
    assert isinstance(report, OffloadReport) and report.source == "modelled"
    frame = report.flows()
    assert {"node", "match", "actions", "packets", "where", "reason"} <= set(frame.columns)
    assert 0 < report.nic_share < 1
    small = sim_lab.offload_report(flow_capacity=1)
    assert small.nodes[0].flows_offloaded == 1 and "table full" in set(small.flows().reason)
    assert small.packets_nic < report.packets_nic
    assert sim_lab.offload_report(profile="no-offload").packets_nic == 0


def test_dashboard_is_a_view_of_the_report(sim_lab):
    dash = OffloadDashboard(sim_lab)
    assert "flow table (4096)" in dash._summary.value
    dash.capacity = 2
    assert dash.report.nodes[0].flows_offloaded == 2 and "flow table (2)" in dash._summary.value
    dash.where = "NIC"
    assert dash._flows.value.count("<td>NIC</td>") == 2 and "<td>host CPU</td>" not in dash._flows.value
    with pytest.raises(Exception, match="capacity must be"):
        dash.capacity = -1


def test_smartnic_topology_gives_each_node_a_profile():
    spec = load_topology("smartnic")
    nics = SmartNics("unit", spec.hardware_offload, spec.path)
    assert nics.profile("kind-worker").name == "connectx-class" and not nics.is_dpu("kind-worker")
    assert nics.profile("kind-worker2").name == "bluefield-class" and nics.is_dpu("kind-worker2")
    assert load_topology("default").hardware_offload is None


def test_bad_hardware_offload_reports_every_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: labkit.io/v1alpha1\nkind: Topology\nmetadata: {name: bad}\nspec:\n"
                    "  hardwareOffload: {nic: connectx-9000, nodes: {w1: nope}, speed: 3}\n")
    with pytest.raises(ManifestError) as info:
        load_topology(str(path))
    text = str(info.value)
    for needle in ("spec.hardwareOffload.nic", "connectx-9000", "spec.hardwareOffload.nodes.w1",
                   "spec.hardwareOffload.speed", "known profiles: connectx-class"):
        assert needle in text


def test_sim_refuses_real_traffic_and_attacks_and_names_the_alternative(sim_lab):
    from labkit.errors import UnsupportedOperation

    with pytest.raises(UnsupportedOperation, match="backend='ovs'.*simulate"):
        sim_lab.steady_traffic([("x/a", "y/b")])
    with pytest.raises(UnsupportedOperation, match="host_compromise"):
        sim_lab.compromise_host("kind-worker2")
