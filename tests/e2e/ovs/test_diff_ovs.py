"""lab.diff on the ovs backend: computed by the engine (no packet, the switches untouched), equal
to sim's, and borne out by real packets once the change is applied."""

from __future__ import annotations

import os

import pytest

from labkit import Lab
from ovs_support import assert_no_leaks

pytestmark = [pytest.mark.root, pytest.mark.slow]

REJECT_Z = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "reject-z"},
            "spec": {"priority": 5, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}],
                     "ingress": [{"action": "Reject", "name": "no-x", "from": [
                         {"namespaceSelector": {"matchLabels": {"ns": "x"}}}]}]}}
CHANGE = {"apply": "policies/deny-all.yaml", "delete": ["acnp/reject-z"]}
PROBES = [("TCP", 80), ("UDP", 80)]


def flows(lab):
    return {node.name: lab.dump_flows(node.name)[["table", "priority", "match", "actions"]].to_csv()
            for node in lab.state.nodes}


def test_diff_on_ovs_is_the_engines_and_leaves_the_datapath_alone(ovs_required, tmp_path):
    name = f"df{os.getpid() % 100000}"
    state_dir = tmp_path / "lab"
    try:
        with Lab(backend="ovs", profile="workshop", name=name, state_dir=state_dir) as lab:
            lab.apply(REJECT_Z)
            before_flows = flows(lab)
            measured = {p: lab.reachability(port=p[1], protocol=p[0]) for p in PROBES}
            d = lab.diff(probes=PROBES, **CHANGE)
            assert flows(lab) == before_flows  # the backend was never synced
            with Lab(profile="workshop") as sim:
                sim.apply(REJECT_Z)
                want = sim.diff(probes=PROBES, **CHANGE)
            assert d.to_frame().equals(want.to_frame()) and d.counts()["reject->drop"] > 0
            # the diff's "before" is what packets show now, its "after" what they show once applied
            frame = d.to_frame()
            for (protocol, port), m in measured.items():
                rows = frame[(frame.protocol == protocol) & (frame.port == port)]
                for row in rows.itertuples():
                    assert m[row.src, row.dst] == row.before, (protocol, port, row)
            lab.delete(CHANGE["delete"])
            lab.apply(CHANGE["apply"])
            for (protocol, port), m in measured.items():
                after = lab.reachability(port=port, protocol=protocol)
                assert after.kind == "observed"
                changed = {(s, d_, b, after[s, d_]) for s, d_, b in m.cells() if after[s, d_] != b}
                rows = frame[(frame.protocol == protocol) & (frame.port == port)]
                assert changed == set(zip(rows.src, rows.dst, rows.before, rows.after)), (protocol, port)
    finally:
        assert_no_leaks(name, state_dir)
