"""Benchmark: the NSX interworking adapter against the NSX Manager mock (real HTTPS on 127.0.0.1).

Prints figures; asserts nothing about time.

(a) Inventory sync: a sim lab with ``--pods`` pods (bench/clusters.py, 10 namespaces) is registered
    with the mock; the clock runs from ``adapter.register()`` (certificate, principal identity,
    cluster control plane, ContainerCluster, inventory in batches of 50 as the product's
    ``InventoryBatchSize``) until a read-back of the mock's container inventory as the NSX admin
    (``/api/v1/fabric/container-*`` lists, paged) equals the lab: node, namespace and pod names,
    pod IPs and labels (as ``dis:k8s:`` tags). Then a delta (relabel 10 % of the pods, delete 1 %,
    add 1 %) is timed the same way.
(b) Policy realization latency: on a sim lab (``--latency-profile``, default ``workshop``), one
    NSX PATCH of an Antrea-scoped DFW security policy
    (``/policy/api/v1/infra/domains/default/security-policies/<id>``) flips a rule between ALLOW
    and DROP; the clock runs until ``lab.reachability`` shows the new verdict. The adapter runs
    one ``sync()`` pass per change (desired state, render, ``lab.apply``, realization and
    statistics reports): the figure is the work, not the wait. A running adapter loop polls every
    ``interval_s`` (2 s by default), which adds up to that much on top.

    .venv/bin/python bench/bench_nsx.py                       # 1,000 pods, 100 changes
    .venv/bin/python bench/bench_nsx.py --pods 200 --changes 20
    .venv/bin/python bench/bench_nsx.py --latency-pods 1000     # (b) also on the 1,000-pod lab
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clusters import cluster_docs  # noqa: E402

from labkit import Lab  # noqa: E402
from labkit.nsx import NSXAdapter, NSXClient, NSXManagerServer  # noqa: E402

FABRIC = "/api/v1/fabric"
POLICY = "/policy/api/v1/infra/domains/default/security-policies/bench-flip"
GROUPS = "/policy/api/v1/infra/domains/default/groups"


def _lab_view(lab: Lab) -> dict[str, Any]:
    """The inventory as the lab has it (independent of the adapter's mapping code)."""
    return {
        "nodes": sorted(n.name for n in lab.state.nodes),
        "namespaces": sorted(ns.name for ns in lab.state.namespaces),
        "pods": {p.key: (p.pod_ip, dict(sorted(p.labels.items()))) for p in lab.state.pods},
    }


def _nsx_view(admin: NSXClient, cluster_id: str) -> dict[str, Any]:
    """The same, read back from the mock as the NSX admin sees it."""
    mine = {"container_cluster_id": cluster_id}
    nodes = admin.list_all(f"{FABRIC}/container-cluster-nodes", **mine)
    projects = {p["id"]: p["display_name"] for p in admin.list_all(f"{FABRIC}/container-projects", **mine)}
    pods = {}
    for p in admin.list_all(f"{FABRIC}/container-application-instances", **mine):
        ip = next((o["value"] for o in p.get("origin_properties", []) if o["key"] == "ip"), "")
        labels = {t["scope"].removeprefix("dis:k8s:"): t["tag"] for t in p.get("tags", [])}
        pods[f"{projects[p['container_project_id']]}/{p['display_name']}"] = (ip, dict(sorted(labels.items())))
    return {"nodes": sorted(n["display_name"] for n in nodes), "namespaces": sorted(projects.values()),
            "pods": pods}


def _until_consistent(lab: Lab, admin: NSXClient, cluster_id: str) -> int:
    want = _lab_view(lab)
    got = _nsx_view(admin, cluster_id)
    if got != want:
        missing = sorted(set(want["pods"]) ^ set(got["pods"]))[:5]
        raise SystemExit(f"bench_nsx: the mock's inventory differs from the lab's (pods differing: {missing})")
    return len(want["pods"])


def bench_inventory(n_pods: int = 1000, root: Path | None = None) -> dict[str, float]:
    root = root or Path(tempfile.mkdtemp(prefix="labkit-bench-nsx-"))
    lab = Lab(profile=None, name="benchinv", state_dir=root / "lab")
    lab.apply(cluster_docs(n_pods))
    lab.start()
    with NSXManagerServer(root / "nsx") as nsx:
        admin = nsx.client()
        adapter = NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=root / "cert", key_type="ec")
        try:
            t0 = time.perf_counter()
            cluster_id = adapter.register()
            t_pushed = time.perf_counter()
            count = _until_consistent(lab, admin, cluster_id)
            t_full = time.perf_counter()
            objects = len(admin.list_all(f"{FABRIC}/container-cluster-nodes", container_cluster_id=cluster_id)) \
                + len(lab.state.namespaces) + count + 1
            print(f"inventory sync: {count} pods, {len(lab.state.namespaces)} namespaces, "
                  f"{len(lab.state.nodes)} nodes ({objects} container objects, batches of {adapter.batch_size})")
            print(f"  register + full inventory pushed: {t_pushed - t0:.2f} s; "
                  f"read-back equal to the lab: +{t_full - t_pushed:.2f} s; "
                  f"time to full consistency {t_full - t0:.2f} s")

            # a delta: relabel 10 %, delete 1 %, add 1 %
            pods = list(lab.state.pods)
            step = max(1, len(pods) // max(1, len(pods) // 10))
            relabel = pods[::step]
            gone = pods[1::max(1, len(pods) // max(1, len(pods) // 100))]
            gone = [p for p in gone if p not in relabel]
            t0 = time.perf_counter()
            for p in relabel:
                lab.label(p.key, bench="relabelled")
            for p in gone:
                lab.delete(f"pod/{p.key}")
            lab.apply([{"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"new{i}", "namespace": "ns0", "labels": {"app": "app0"}},
                        "spec": {"containers": [{"name": "c", "image": "agnhost"}]}} for i in range(len(gone))])
            t_lab = time.perf_counter()
            updates = adapter.sync().inventory_updates
            t_pushed = time.perf_counter()
            _until_consistent(lab, admin, cluster_id)
            t_full = time.perf_counter()
            print(f"  delta ({len(relabel)} relabelled, {len(gone)} deleted, {len(gone)} added -> {updates} updates): "
                  f"sync {t_pushed - t_lab:.2f} s, consistent after {t_full - t_lab:.2f} s "
                  f"(lab changes took {t_lab - t0:.2f} s)")
            return {"full_s": t_full - t0, "delta_s": t_full - t_lab}
        finally:
            adapter.close()
            lab.stop()


def _flip_policy(admin: NSXClient, ccp_path: str, action: str) -> None:
    """One PATCH: the rule "HTTP from group src-ns into group dst-ns" gets ``action``."""
    groups = GROUPS.removeprefix("/policy/api/v1")
    admin.patch(POLICY, {"category": "Application", "scope": [ccp_path], "rules": [
        {"id": "src-to-dst", "sequence_number": 10, "source_groups": [f"{groups}/src-ns"],
         "scope": [f"{groups}/dst-ns"], "services": ["/infra/services/HTTP"], "action": action, "direction": "IN"}]})


def bench_realization(changes: int = 100, profile: str = "workshop", root: Path | None = None,
                      n_pods: int = 0) -> dict[str, float]:
    """``n_pods`` > 0: a bench/clusters.py lab of that size instead of ``profile``."""
    root = root or Path(tempfile.mkdtemp(prefix="labkit-bench-nsx-"))
    lab = Lab(profile=None if n_pods else profile, name="benchrl", state_dir=root / "lab")
    if n_pods:
        lab.apply(cluster_docs(n_pods))
        profile = f"bench/clusters.py {n_pods}-pod"
    with lab, NSXManagerServer(root / "nsx") as nsx:
        admin = nsx.client()
        with NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=root / "cert", key_type="ec") as adapter:
            adapter.register()
            namespaces = sorted(ns.name for ns in lab.state.namespaces if any(p.namespace == ns.name
                                                                              for p in lab.state.pods))
            src_ns, dst_ns = (("y", "x") if {"x", "y"} <= set(namespaces) else (namespaces[1], namespaces[0]))
            for group, ns in (("src-ns", src_ns), ("dst-ns", dst_ns)):
                admin.patch(f"{GROUPS}/{group}", {"group_type": ["ANTREA"], "expression": [
                    {"resource_type": "Condition", "member_type": "Namespace", "key": "Name",
                     "operator": "EQUALS", "value": ns}]})
            src = next(p.key for p in lab.state.pods if p.namespace == src_ns)
            dst = next(p.key for p in lab.state.pods if p.namespace == dst_ns)
            total, patch_s, sync_s, check_s = [], [], [], []
            for i in range(changes):
                action = "DROP" if i % 2 == 0 else "ALLOW"
                want = "drop" if action == "DROP" else "allow"
                t0 = time.perf_counter()
                _flip_policy(admin, adapter.ccp_path, action)
                t1 = time.perf_counter()
                adapter.sync()
                t2 = time.perf_counter()
                got = lab.reachability(port=80, sources=[src], destinations=[dst])[src, dst]
                t3 = time.perf_counter()
                if got != want:
                    raise SystemExit(f"bench_nsx: change {i}: {src} -> {dst} TCP/80 is {got}, NSX wants {want}")
                total.append(t3 - t0)
                patch_s.append(t1 - t0)
                sync_s.append(t2 - t1)
                check_s.append(t3 - t2)
            p99 = statistics.quantiles(total, n=100, method="inclusive")[98] if len(total) > 1 else total[0]
            med = statistics.median(total)
            print(f"policy realization: {changes} NSX PATCHes of one DFW rule (ALLOW <-> DROP, {src} -> {dst} "
                  f"TCP/80), {len(lab.state.pods)}-pod '{profile}' lab on sim")
            print(f"  PATCH -> enforced: median {med * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
                  f"(PATCH {statistics.median(patch_s) * 1000:.0f} ms, adapter sync "
                  f"{statistics.median(sync_s) * 1000:.0f} ms, reachability {statistics.median(check_s) * 1000:.0f} ms, "
                  f"medians); a running adapter loop adds up to interval_s={adapter.interval_s:g} s of poll wait")
            return {"median_s": med, "p99_s": p99}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=1000, help="pods in the inventory benchmark (default 1000)")
    parser.add_argument("--changes", type=int, default=100, help="policy changes timed (default 100)")
    parser.add_argument("--latency-profile", default="workshop", help="lab profile for the latency benchmark")
    parser.add_argument("--latency-pods", type=int, default=0,
                        help="also time realization on a bench/clusters.py lab of this many pods (e.g. 1000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="labkit-bench-nsx-") as tmp:
        bench_inventory(args.pods, Path(tmp) / "inventory")
        bench_realization(args.changes, args.latency_profile, Path(tmp) / "latency")
        if args.latency_pods:
            bench_realization(args.changes, root=Path(tmp) / "latency-large", n_pods=args.latency_pods)


if __name__ == "__main__":
    main()
