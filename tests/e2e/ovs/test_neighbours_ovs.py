"""Two learners' labs side by side: one probes a matrix with more same-node pod pairs than the
kernel's shared neighbour table holds (``gc_thresh3``), the other keeps measuring small matrices
meanwhile. Neither may see a wrong cell (issue 13, item 5: the big matrix used to overflow the
table -- ``arp_cache: neighbor table overflow!`` -- and cause false drops in both labs for ~15 s).

labkit's pods never ARP (permanent neighbour entries for their gateway and same-node peers, which
the kernel exempts from the table's limit), so the big matrix adds no entry at all.
"""

from __future__ import annotations

import os
import threading

import pytest

from labkit import Lab
from labkit.backends.ovs import neigh
from labkit.backends.ovs.names import pod_netns

from ovs_support import REPO, assert_no_leaks, require_ovs

pytestmark = [pytest.mark.root, pytest.mark.slow]

PODS_PER_NODE = 36  # 2 workers x 36 pods: 2 x 36 x 35 = 2,520 same-node pairs, above gc_thresh3 (1,024)
GUARD = str(REPO / "policies" / "guard-x.yaml")  # x guarded on TCP/80: y dropped, z rejected


def many_pods(n: int) -> str:
    docs = ["apiVersion: v1\nkind: Namespace\nmetadata: {name: big, labels: {ns: big}}"]
    docs += [f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: big, labels: {{app: big}}}}\n"
             "spec: {containers: [{name: c, image: agnhost, ports: [{containerPort: 80}]}]}" for i in range(n)]
    return "\n---\n".join(docs)


def test_a_big_matrix_in_one_lab_disturbs_no_other(tmp_path):
    require_ovs()
    tag = os.getpid() % 10000
    big = Lab(backend="ovs", profile=None, name=f"nbig{tag}", state_dir=tmp_path / "big", start=False)
    small = None
    try:
        big.apply(many_pods(2 * PODS_PER_NODE))
        big.start()
        small = Lab(backend="ovs", profile="workshop", name=f"nsml{tag}", state_dir=tmp_path / "small")
        small.apply(GUARD)
        expected_small = small.expected_reachability(port=80)
        pods = [p for p in big.state.pods]
        same_node = sum(1 for a in pods for b in pods if a.key != b.key and a.node_name == b.node_name)
        threshold = neigh.gc_thresh3() or 1024
        assert same_node > threshold, f"the load must exceed the shared table: {same_node} pairs vs {threshold}"
        fulls = neigh.table_fulls()

        small_results = []
        stop = threading.Event()

        def learner_two() -> None:
            while not stop.is_set():
                small_results.append(small.reachability(port=80))

        other = threading.Thread(target=learner_two)
        other.start()
        try:
            matrix = big.reachability(port=80)
            again = big.reachability(port=80, sources=[p.key for p in pods[:6]])  # "later small matrices"
        finally:
            stop.set()
            other.join()
        assert matrix.counts() == {"allow": len(pods) ** 2, "drop": 0, "reject": 0}, matrix.warnings
        assert again.counts()["allow"] == 6 * len(pods) and not again.counts().get("error")
        assert small_results, "the other lab measured while the big matrix ran"
        for m in small_results:
            assert m.to_frame().equals(expected_small.to_frame()), m.diff(expected_small)
        assert neigh.table_fulls() == fulls, "the kernel's neighbour table never filled up"
        for pod in pods[:4]:  # no pod had to ARP: every entry is the static one
            states = {state for state, _ in neigh.dump(pod_netns(big.name, pod.key)).values()}
            assert states - {"NOARP"} == {"PERMANENT"}, states  # NOARP: the kernel's own (loopback, broadcast)
    finally:
        big.stop()
        if small is not None:
            small.stop()
    assert_no_leaks(big.name, tmp_path / "big")
    assert_no_leaks(f"nsml{tag}", tmp_path / "small")
