"""Benchmark: the full reachability matrix, and a side-by-side run against network-config-analyzer.

Prints figures; asserts nothing about time (targets: < 1 s and < 1 GiB for 1,000 pods x 200
policies; >= 100x faster than network-config-analyzer with identical verdicts).

    .venv/bin/python bench/bench_reachability.py            # everything
    .venv/bin/python bench/bench_reachability.py --no-peer  # skip the peer comparison
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clusters import antrea_policies, cluster_docs, k8s_policies  # noqa: E402

from labkit import Lab  # noqa: E402
from labkit.policy.compiler import compile_policies  # noqa: E402
from labkit.policy.evaluate import evaluate  # noqa: E402
from labkit.policy.probe import Probe  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_full_matrix(n_pods: int = 1000, n_policies: int = 200, repeats: int = 5) -> None:
    lab = Lab(profile=None)
    t0 = time.perf_counter()
    lab.apply(cluster_docs(n_pods))
    k8s = k8s_policies(n_policies * 2 // 5)
    antrea = antrea_policies(n_policies - len(k8s))
    lab.apply(k8s + antrea)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    policy_set = compile_policies(lab.state)
    t_compile = time.perf_counter() - t0
    pods = lab.state.pods
    probe = Probe("TCP", 80)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ev = evaluate(policy_set, pods, probe)
        times.append(time.perf_counter() - t0)
    counts = {name: int((ev.verdict == code).sum()) for code, name in enumerate(("allow", "drop", "reject"))}
    print(f"full matrix: {n_pods} pods in 10 namespaces, {len(k8s)} K8s NetworkPolicies + {len(antrea)} "
          f"Antrea policies over 6 tiers -> {len(policy_set.rules)} compiled rules")
    print(f"  load+validate {t_load:.2f} s, compile {t_compile:.3f} s")
    print(f"  evaluate TCP/80 ({n_pods}x{n_pods} = {n_pods * n_pods:,} cells): median {statistics.median(times):.3f} s, "
          f"min {min(times):.3f} s over {repeats} runs; compile+evaluate {t_compile + statistics.median(times):.3f} s")
    print(f"  pod classes: {ev.classes[0]} sources x {ev.classes[1]} destinations; verdicts {counts}")
    print(f"  peak RSS of this process so far: {peak_rss_mib():.0f} MiB")


# ---------------------------------------------------------------------------- peer: network-config-analyzer

_CONN = re.compile(r"^(?P<src>\S+)\[Pod\] => (?P<dst>\S+)\[Pod\] : (?P<conn>.*)$")


def _tcp80_allowed(conn: str) -> bool:
    """Does an NCA connection string admit TCP destination port 80?"""
    conn = conn.strip()
    if conn == "All connections":
        return True
    if conn.startswith("All but"):
        return not _tcp80_allowed(conn[len("All but"):].strip())
    for part in re.findall(r"\{([^}]*)\}", conn):
        fields = dict(kv.split(":", 1) for kv in re.split(r",(?=[a-z_]+:)", part))
        protocols = fields.get("protocols", "").split(",")
        if "TCP" not in protocols and fields.get("protocols") is not None:
            continue
        ports = fields.get("dst_ports")
        if ports is None:
            return True
        for rng in ports.split(","):
            lo, _, hi = rng.partition("-")
            if int(lo) <= 80 <= int(hi or lo):
                return True
    return False


def bench_peer(sizes: tuple[int, ...] = (50, 200, 1000), n_policies: int = 100) -> None:
    nca = shutil.which("nca") or str(Path(sys.executable).with_name("nca"))
    if not Path(nca).exists():
        print("peer: network-config-analyzer not installed (pip install 'labkit[bench]'); skipped")
        return
    print(f"peer comparison: K8s NetworkPolicy only ({n_policies} policies), TCP/80, every pod pair; "
          "labkit = load+compile+evaluate, nca = its --connectivity run")
    for n in sizes:
        docs = cluster_docs(n)
        policies = k8s_policies(n_policies)
        with tempfile.TemporaryDirectory() as tmp:
            lab = Lab(profile=None)
            t0 = time.perf_counter()
            lab.apply(docs + policies)
            m = lab.reachability(port=80, protocol="TCP")
            t_labkit = time.perf_counter() - t0
            pods = lab.state.pods
            Path(tmp, "ns.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "NamespaceList", "items": [
                d for d in docs if d["kind"] == "Namespace"]}))
            Path(tmp, "pods.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "PodList", "items": [
                {**d, "status": {"podIP": p.pod_ip, "hostIP": "172.18.0.3", "phase": "Running"}}
                for d, p in zip([d for d in docs if d["kind"] == "Pod"],
                                sorted(pods, key=lambda p: int(p.name[1:])))]}))
            Path(tmp, "np.yaml").write_text(yaml.safe_dump_all(policies))
            t0 = time.perf_counter()
            proc = subprocess.run([nca, "--connectivity", "np.yaml", "--pod_list", "pods.yaml", "--ns_list", "ns.yaml",
                                   "--output_format", "txt_no_fw_rules"], cwd=tmp, capture_output=True, text=True,
                                  timeout=900)
            t_nca = time.perf_counter() - t0
        allowed = set()
        for line in proc.stdout.splitlines():
            match = _CONN.match(line)
            if match and _tcp80_allowed(match["conn"]):
                allowed.add((match["src"], match["dst"]))
        differ = 0
        for s, d, verdict in m.cells():
            if s == d:
                continue
            if (verdict == "allow") != ((s, d) in allowed):
                differ += 1
        pairs = n * (n - 1)
        print(f"  {n:>5} pods: labkit {t_labkit:.3f} s, nca {t_nca:.2f} s -> {t_nca / t_labkit:,.0f}x; "
              f"verdicts differ on {differ} of {pairs:,} pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=200)
    args = parser.parse_args()
    bench_full_matrix(args.pods, args.policies)
    if not args.no_peer:
        bench_peer()


if __name__ == "__main__":
    main()
