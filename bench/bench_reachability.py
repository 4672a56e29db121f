"""Benchmark: reachability at scale, side by side with network-config-analyzer, in one run.

Prints, for the goals of issue 15 (asserts nothing about time):

1. 1,000 pods x 200 mixed policies (80 K8s NetworkPolicies + 120 Antrea policies over 6 tiers):
   one matrix (goal: keep ~0.03 s);
2. the same cluster with the K8s-only part of that policy set: a fresh lab, apply, and 3 matrices
   (TCP/80, TCP/9090, UDP/53) as DataFrames, vs NCA's ``--connectivity`` on the same input, with
   the TCP/80 verdicts compared pair by pair (goal: >= 100x at every size >= 200 pods);
3. 10,000 pods x 2,000 mixed policies, in a child process so its peak RSS is its own: apply,
   first matrix, ``to_frame`` (goals: < 3 s, < 2 s, < 0.5 s, peak RSS < 2 GiB).

    .venv/bin/python bench/bench_reachability.py                 # everything (NCA: pip install -e '.[bench]')
    .venv/bin/python bench/bench_reachability.py --no-peer       # without NCA
    .venv/bin/python bench/bench_reachability.py --sizes 200 1000 2000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nca  # noqa: E402
from clusters import antrea_policies, cluster_docs, k8s_policies  # noqa: E402

from labkit import Lab  # noqa: E402

PROBES = (("TCP", 80), ("TCP", 9090), ("UDP", 53))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mixed_policies(n_policies: int) -> tuple[list[dict], list[dict]]:
    """(K8s NetworkPolicies, Antrea policies): 2/5 K8s, 3/5 Antrea-native."""
    k8s = k8s_policies(n_policies * 2 // 5)
    return k8s, antrea_policies(n_policies - len(k8s))


def bench_full_matrix(n_pods: int = 1000, n_policies: int = 200, repeats: int = 5) -> dict:
    """Row 1: one matrix over a mixed policy set, in a fresh lab each time (its first matrix builds
    the engine: cold), then another probe on the same engine (warm)."""
    k8s, antrea = mixed_policies(n_policies)
    docs = cluster_docs(n_pods)
    applies, cold, warm = [], [], []
    for _ in range(repeats):
        lab = Lab(profile=None)
        applies.append(nca.timed(lambda: (lab.apply(docs), lab.apply(k8s + antrea)))[1].wall_s)
        m, timing = nca.timed(lambda: lab.reachability(port=80))
        cold.append(timing.wall_s)
        warm.append(nca.timed(lambda: lab.reachability(port=9090))[1].wall_s)
    classes = m.evaluation.classes
    print(f"1. {n_pods:,} pods x {n_policies} mixed policies ({len(k8s)} K8s NetworkPolicies + {len(antrea)} "
          f"Antrea over 6 tiers -> {len(lab.policy_set.rules)} compiled rules), apply median "
          f"{statistics.median(applies):.2f} s")
    print(f"   one matrix TCP/80 ({n_pods * n_pods:,} cells): median {statistics.median(cold):.3f} s "
          f"(min {min(cold):.3f}; the engine is built for it), another probe on the same engine "
          f"{statistics.median(warm):.3f} s     goal: keep 0.03 s")
    print(f"   joint pod classes {classes[0]} x {classes[1]}; verdicts {m.counts()}")
    return {"apply_s": statistics.median(applies), "matrix_s": statistics.median(cold),
            "warm_s": statistics.median(warm)}


def _labkit_run(docs: list[dict], policies: list[dict]):
    """A fresh lab: apply, and the 3 matrices as DataFrames -> (lab, Timing)."""
    def run():
        lab = Lab(profile=None)
        lab.apply(docs + policies)
        for protocol, port in PROBES:
            lab.reachability(port=port, protocol=protocol).to_frame()
        return lab
    return nca.timed(run)


def _median(timings: list) -> nca.Timing:
    return nca.Timing(statistics.median(t.wall_s for t in timings), statistics.median(t.cpu_s for t in timings))


def bench_peer(sizes: tuple[int, ...] = (200, 500, 1000), n_policies: int = 200, repeats: int = 7) -> list[dict]:
    """Row 2: labkit (apply + 3 matrices as DataFrames) vs NCA --connectivity, K8s-only input."""
    k8s, _ = mixed_policies(n_policies)
    import pandas  # noqa: F401  (imported once, outside the timings)

    print(f"2. apply + {len(PROBES)} matrices ({', '.join(f'{p}/{n}' for p, n in PROBES)}) as DataFrames, "
          f"K8s-only input ({len(k8s)} NetworkPolicies: the K8s part of the mixed set), fresh lab each run "
          f"(median of {repeats}); network-config-analyzer --connectivity on the same files. CPU = user+system "
          "seconds, what each program cost on this shared machine; wall = elapsed")
    if nca.executable() is None:
        print("   network-config-analyzer is not installed (pip install -e '.[bench]'): peer skipped")
        return []
    print(f"   {'pods':>6} {'labkit cpu':>11} {'nca cpu':>9} {'speed-up':>9}   {'labkit wall':>11} {'nca wall':>9} "
          f"{'speed-up':>9}   TCP/80 verdicts that differ      goal: >= 100x")
    rows = []
    for n in sizes:
        docs = cluster_docs(n)
        runs = [_labkit_run(docs, k8s) for _ in range(repeats)]
        ours_t = _median([t for _, t in runs])
        lab = runs[0][0]
        with tempfile.TemporaryDirectory() as tmp:
            nca.write_cluster(Path(tmp), docs, lab.state.pods)
            conns, theirs_t = nca.connectivity(Path(tmp), k8s)
        ours = lab.reachability(port=80)
        index = {k: i for i, k in enumerate(ours.sources)}
        theirs = np.zeros(ours.codes.shape, dtype=bool)
        for (src, dst), conn in conns.items():
            if nca.allows(conn, "TCP", 80):
                theirs[index[src], index[dst]] = True
        differ = int((((ours.codes == 0) != theirs) & ~np.eye(n, dtype=bool)).sum())
        print(f"   {n:>6} {ours_t.cpu_s:>9.3f} s {theirs_t.cpu_s:>7.2f} s {theirs_t.cpu_s / ours_t.cpu_s:>8,.0f}x   "
              f"{ours_t.wall_s:>9.3f} s {theirs_t.wall_s:>7.2f} s {theirs_t.wall_s / ours_t.wall_s:>8,.0f}x   "
              f"{differ} of {n * (n - 1):,} pairs")
        rows.append({"pods": n, "labkit": ours_t, "nca": theirs_t, "differ": differ})
    return rows


def _scale_child(n_pods: int, n_policies: int) -> None:
    """Row 3, in its own process: prints one JSON line."""
    import pandas  # noqa: F401  (imported once, outside the timings)

    docs = cluster_docs(n_pods)
    k8s, antrea = mixed_policies(n_policies)
    lab = Lab(profile=None)
    _, cluster = nca.timed(lambda: lab.apply(docs))
    _, policies = nca.timed(lambda: lab.apply(k8s + antrea))  # parse, admit, compile (a running lab compiles)
    m, matrix = nca.timed(lambda: lab.reachability(port=80))
    frame, to_frame = nca.timed(m.to_frame)
    _, warm = nca.timed(lambda: lab.reachability(port=9090))
    print(json.dumps({"pods": n_pods, "policies": n_policies, "rules": len(lab.policy_set.rules),
                      "apply": [cluster.wall_s + policies.wall_s, cluster.cpu_s + policies.cpu_s],
                      "apply_cluster": [cluster.wall_s, cluster.cpu_s], "apply_policies": [policies.wall_s, policies.cpu_s],
                      "matrix": [matrix.wall_s, matrix.cpu_s], "warm": [warm.wall_s, warm.cpu_s],
                      "frame": [to_frame.wall_s, to_frame.cpu_s], "frame_shape": list(frame.shape),
                      "frame_mib": float(frame.memory_usage(deep=False).sum()) / 2**20,
                      "classes": list(m.evaluation.classes), "peak_rss_mib": peak_rss_mib()}))


def bench_scale(n_pods: int = 10_000, n_policies: int = 2_000) -> dict:
    """Row 3: the large cluster, in a child process (its peak RSS is its own)."""
    proc = subprocess.run([sys.executable, __file__, "--scale-child", str(n_pods), str(n_policies)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        print(f"3. {n_pods:,} pods x {n_policies:,} policies: the child failed:\n{proc.stderr}")
        return {}
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"3. {n_pods:,} pods x {n_policies:,} mixed policies ({r['rules']:,} compiled rules), one process "
          "(wall / CPU seconds):")
    print(f"   apply     {r['apply'][0]:.2f} / {r['apply'][1]:.2f} s (cluster {r['apply_cluster'][0]:.2f}, policies "
          f"{r['apply_policies'][0]:.2f} wall)        goal < 3 s")
    print(f"   matrix    {r['matrix'][0]:.2f} / {r['matrix'][1]:.2f} s TCP/80, joint classes {r['classes'][0]} x "
          f"{r['classes'][1]} (another probe {r['warm'][0]:.2f} s)     goal < 2 s")
    print(f"   to_frame  {r['frame'][0]:.2f} / {r['frame'][1]:.2f} s ({r['frame_shape'][0]:,} x {r['frame_shape'][1]:,}, "
          f"Categorical, {r['frame_mib']:.0f} MiB)        goal < 0.5 s")
    print(f"   peak RSS  {r['peak_rss_mib'] / 1024:.2f} GiB{'':>43}goal < 2 GiB")
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-peer", action="store_true", help="skip network-config-analyzer")
    parser.add_argument("--no-scale", action="store_true", help="skip the 10,000-pod row")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000], help="pods in the NCA rows")
    parser.add_argument("--scale-child", type=int, nargs=2, metavar=("PODS", "POLICIES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        _scale_child(*args.scale_child)
        return
    load = os.getloadavg()
    print(f"bench_reachability on {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    bench_full_matrix()
    if not args.no_peer:
        bench_peer(tuple(args.sizes))
    if not args.no_scale:
        bench_scale()


if __name__ == "__main__":
    main()
