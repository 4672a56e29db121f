"""Benchmark the ovs backend (needs root and Open vSwitch). Prints figures; asserts nothing.

* start/stop of the workshop profile (9 pods, 2 workers) and of 2 x 100 pods;
* flows for one rule with N source x M destination pods (conjunctive match) against N x M;
* apply -> enforced latency over many policy changes (median / p99), and apply -> first probe
  that observes the new verdict;
* time to measure the workshop matrix (all allowed, and with drops, where the drop timeout rules).

    sudo .venv/bin/python bench/bench_ovs.py               # everything (about a minute)
    sudo .venv/bin/python bench/bench_ovs.py --quick       # smaller sizes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit import Lab
from labkit.backends.ovs.topology import build_topology, load_topology
from labkit.datapath import compile_flows, decode_cookie


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def pods_manifest(namespaces: dict[str, int]) -> str:
    docs = []
    for ns, n in namespaces.items():
        docs.append(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{role: {ns}}}}}")
        for i in range(n):
            docs.append(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: {ns}, labels: {{app: {ns}}}}}\n"
                        "spec: {containers: [{name: c, image: agnhost, ports: [{containerPort: 80}]}]}")
    return "\n---\n".join(docs)


def big_rule(src: str, dst: str) -> str:
    return f"""
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: big}}
spec:
  priority: 1
  appliedTo: [{{namespaceSelector: {{matchLabels: {{role: {dst}}}}}}}]
  ingress:
  - action: Allow
    from: [{{namespaceSelector: {{matchLabels: {{role: {src}}}}}}}]
    ports: [{{protocol: TCP, port: 80}}]
"""


def bench_start_stop(runs: int = 3) -> None:
    starts, stops = [], []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            lab = Lab(backend="ovs", profile="workshop", name=f"bench{i}", state_dir=tmp)
            starts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            lab.stop()
            stops.append(time.perf_counter() - t0)
    print(f"workshop (9 pods, 2 workers): start median {statistics.median(starts):.2f} s, "
          f"stop median {statistics.median(stops):.2f} s over {runs} runs")


def bench_scale(per_namespace: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(backend="ovs", profile=None, name="benchscale", state_dir=tmp, start=False)
        lab.apply(pods_manifest({"s": per_namespace, "d": per_namespace}))
        t0 = time.perf_counter()
        lab.start()
        start_s = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            lab.apply(big_rule("s", "d"))
            apply_s = time.perf_counter() - t0
            installed = sum(int((lab.backend.dump_flows(n.name).category == "policy").sum()) for n in lab.state.nodes)
            t0 = time.perf_counter()
            # 4 sources, as in earlier runs (comparable figures). Pods have static neighbour entries,
            # so bigger matrices no longer fill the kernel's shared neighbour table (docs/backend-ovs.md).
            m = lab.reachability(port=80, sources=[f"s/p{i}" for i in range(4)],
                                 destinations=[f"d/p{i}" for i in range(per_namespace)])
            probe_s = time.perf_counter() - t0
        finally:
            t0 = time.perf_counter()
            lab.stop()
            stop_s = time.perf_counter() - t0
    n = 2 * per_namespace
    print(f"2 x {per_namespace} pods: start {start_s:.2f} s, stop {stop_s:.2f} s; "
          f"rule {per_namespace} x {per_namespace} applied in {apply_s:.2f} s, {installed} policy flows installed "
          f"({per_namespace * per_namespace} if expanded N x M); {m.codes.size} probes in {probe_s:.2f} s "
          f"({m.counts()['allow']} allowed); {n} pods")


def bench_flow_count(n_src: int = 200, n_dst: int = 200) -> None:
    lab = Lab(profile=None)
    lab.apply(pods_manifest({"src": n_src, "dst": n_dst}))
    lab.apply(big_rule("src", "dst"))
    topology = build_topology(load_topology(), lab.state)
    t0 = time.perf_counter()
    total = 0
    for node in topology.nodes:
        total += sum(1 for f in compile_flows(lab.policy_set, topology, node.name) if decode_cookie(f.cookie)[0] == "policy")
    compile_s = time.perf_counter() - t0
    print(f"rule {n_src} src x {n_dst} dst pods: {total} flows over {len(topology.nodes)} nodes "
          f"(conjunctive match) vs {n_src * n_dst} for N x M; compiled in {compile_s * 1000:.0f} ms")


def bench_apply_latency(changes: int = 100, observed: int = 10) -> None:
    deny = """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: flip}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: b}}, namespaceSelector: {matchLabels: {ns: y}}}]
  ingress: [{action: Reject, from: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: x}}}]}]
"""
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(backend="ovs", profile="workshop", name="benchlat", state_dir=tmp)
        try:
            installed, seen = [], []
            for i in range(changes):
                t0 = time.perf_counter()
                if i % 2 == 0:
                    lab.apply(deny)
                else:
                    lab.delete("acnp/flip")
                installed.append(time.perf_counter() - t0)
                if i < observed:
                    want = "reject" if i % 2 == 0 else "allow"
                    while lab.reachability(port=80, sources=["x/a"], destinations=["y/b"])["x/a", "y/b"] != want:
                        pass
                    seen.append(time.perf_counter() - t0)
        finally:
            lab.stop()
    print(f"apply -> flows installed and verified on every node ({changes} changes): median "
          f"{statistics.median(installed) * 1000:.0f} ms, p99 {pct(installed, 0.99) * 1000:.0f} ms; "
          f"apply -> first probe observing the new verdict: median {statistics.median(seen) * 1000:.0f} ms "
          f"(n={len(seen)})")


def bench_matrix() -> None:
    drop = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(backend="ovs", profile="workshop", name="benchmx", state_dir=tmp)
        try:
            out = []
            for label, protocol, port in (("TCP/80", "TCP", 80), ("UDP/80", "UDP", 80), ("ICMP", "ICMP", None)):
                t0 = time.perf_counter()
                lab.reachability(port=port, protocol=protocol)
                out.append(f"{label} {time.perf_counter() - t0:.2f} s")
            lab.apply(drop)
            t0 = time.perf_counter()
            m = lab.reachability(port=80)
            out.append(f"TCP/80 with {m.counts()['drop']} drops {time.perf_counter() - t0:.2f} s")
        finally:
            lab.stop()
    print("workshop 9 x 9 matrix measured: " + ", ".join(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    bench_flow_count(*(50, 50) if args.quick else (200, 200))
    bench_start_stop(1 if args.quick else 3)
    bench_matrix()
    bench_apply_latency(20 if args.quick else 100, 5 if args.quick else 10)
    bench_scale(20 if args.quick else 100)


if __name__ == "__main__":
    main()
