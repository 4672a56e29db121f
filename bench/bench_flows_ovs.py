"""Benchmark: flow visibility on the ovs backend, end to end (needs root and Open vSwitch).

2 nodes x 20 pods; every pod opens a TCP connection to every other pod ("full probe rate": 1,560
connections, 40 x 39), a third of the destinations dropped and a third rejected by an ACNP, played
in a few seconds of real time. Each packet goes through real OVS, is sampled by the pipeline's
``sample`` actions, exported by OVS's IPFIX exporter (cache active timeout 1 s) to a labkit
collector in each node's namespace, and turned into Antrea-style records. Prints:

* how long after its last packet each connection's record reached the DataFrame (p50 / max),
  against Antrea's ``activeFlowExportTimeout`` (5 s);
* losses: OVS's own counters (``dump-flows`` n_packets of the sampling flow, ``dump-ipfix-flow``
  sampled packets) against the packets the IPFIX records carry, and records against connections;
* whether every flow's verdict and deciding rule agree with the policy engine.

    sudo .venv/bin/python bench/bench_flows_ovs.py            # 2 x 20 pods
    sudo .venv/bin/python bench/bench_flows_ovs.py --pods 5   # 2 x 5 pods (CI smoke)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit import Lab  # noqa: E402
from labkit.flows.traffic import ACTIVE_FLOW_EXPORT_TIMEOUT_S, TrafficProfile, TrafficRule  # noqa: E402


def cluster(pods_per_node: int) -> str:
    docs = ["apiVersion: v1\nkind: Namespace\nmetadata: {name: mesh}"]
    for i in range(2 * pods_per_node):
        role = ("allow", "drop", "reject")[i % 3]
        docs.append(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: mesh, labels: {{role: {role}}}}}\n"
                    "spec: {containers: [{name: c, image: agnhost, ports: [{containerPort: 80}]}]}")
    return "\n---\n".join(docs)


POLICY = """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: mesh-guard}
spec:
  priority: 1
  tier: securityops
  ingress:
  - action: Drop
    name: drop-role-drop
    appliedTo: [{podSelector: {matchLabels: {role: drop}}}]
    from: [{namespaceSelector: {}}]
    ports: [{protocol: TCP, port: 80}]
  egress:
  - action: Reject
    name: reject-role-reject
    appliedTo: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: mesh}}}]
    to: [{podSelector: {matchLabels: {role: reject}}}]
    ports: [{protocol: TCP, port: 80}]
"""


def bench(pods_per_node: int = 20, real_time_s: float = 3.0, name: str = "flwbench") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(backend="ovs", profile=None, name=name, state_dir=tmp, start=False)
        lab.apply(cluster(pods_per_node))
        lab.start()
        try:
            lab.apply(POLICY)
            per_node = lab.pods.groupby("node").size().to_dict()
            n = 2 * pods_per_node
            profile = TrafficProfile("mesh", (TrafficRule("mesh", "mesh/*", "mesh/*", 80, connections_per_minute=1,
                                                          request_bytes=200, probe=True),))
            lab.backend.enable_flow_export()  # before the clock starts: IPFIX set up, sampling flows installed
            t0 = time.time()
            run = lab.backend.generate_traffic(lab.state, lab.policy_set, profile, duration_s=60, seed=1,
                                               real_time_s=real_time_s)
            frame = run.frame()
            ready = time.time()
            flows = run.aggregate().flows()
            aggregated = time.time()
        finally:
            lab.stop()
    # When did each connection's complete counts leave its source node's exporter? (The first export
    # whose totals equal the last one's.) Latency = that minus the client's last activity.
    complete: dict[tuple, float] = {}
    final: dict[tuple, tuple] = {}
    for e in run.exports:
        r = e.record
        key = (e.exporter, r.source_ip, r.source_transport_port)
        totals = (r.packet_total_count, r.reverse_packet_total_count)
        if final.get(key) != totals:
            final[key], complete[key] = totals, e.export_time_s
    pods = {p.key: p for p in lab.state.pods}
    latencies = sorted(complete[(pods[o.planned.source].node_name, o.planned.key.source_ip,
                                 o.planned.key.source_transport_port)] - o.ended_s for o in run.outcomes)
    predicted = {(c.planned.key.source_ip, c.planned.key.source_transport_port): c.verdict for c in run.connections}
    observed = {(ip, port): v for ip, port, v in zip(flows.sourceIP, flows.sourceTransportPort, flows.verdict)}
    counters = run.datapath
    result = {
        "pods": per_node, "connections": len(run.connections), "records": len(frame), "flows": len(flows),
        "verdicts": flows.verdict.value_counts().to_dict(),
        "agree": sum(observed.get(k) == v for k, v in predicted.items()),
        "missing": len(set(predicted) - set(observed)),
        "latency_p50_s": statistics.median(latencies), "latency_max_s": latencies[-1],
        "traffic_s": run.real_elapsed_s, "settle_s": run.settle_s, "total_s": ready - t0,
        "aggregate_s": aggregated - ready,
        "accounting": {k: (c.accounting_flow_packets, c.accounting_ipfix_packets) for k, c in counters.items()},
        "sampled": {k: (c.ovs_sampled_packets, c.ipfix_sampled_packets) for k, c in counters.items()},
        "ipfix_records": sum(c.ipfix_records for c in counters.values()),
        "lost": sum(c.lost_packets for c in counters.values()),
        "n": n,
    }
    print(f"{n} pods ({per_node}), {result['connections']} connections in {result['traffic_s']:.1f} s of real "
          f"traffic (a minute of profile time), verdicts {result['verdicts']}")
    print(f"every record in the DataFrame {result['total_s']:.1f} s after the first connection; each connection's "
          f"final counts exported after the client's last packet: p50 {result['latency_p50_s']:.2f} s, max "
          f"{result['latency_max_s']:.2f} s (activeFlowExportTimeout {ACTIVE_FLOW_EXPORT_TIMEOUT_S:.0f} s; IPFIX "
          f"settle after the traffic {result['settle_s']:.2f} s)")
    print(f"OVS counted vs IPFIX delivered, per node: sampling-flow n_packets {result['accounting']}, "
          f"dump-ipfix-flow sampled pkts {result['sampled']}: {result['lost']} lost; "
          f"{result['ipfix_records']} IPFIX records -> {result['records']} per-node flow records -> "
          f"{result['flows']} flows; {result['missing']} connections missing")
    print(f"verdicts agreeing with the policy engine: {result['agree']} / {result['connections']}; "
          f"aggregation {result['aggregate_s']:.2f} s")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20, help="pods per node (default 20)")
    parser.add_argument("--real-time", type=float, default=3.0, help="real seconds to play the minute of traffic")
    args = parser.parse_args(argv)
    bench(args.pods, args.real_time)


if __name__ == "__main__":
    main()
