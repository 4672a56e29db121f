"""Benchmark: labkit's policy diff side by side with network-config-analyzer's semantic diff.

The same cluster and the same two K8s NetworkPolicy sets (a base, and a head where some policies
changed, some were deleted and some added) go to both: ``lab.diff`` (probes=None: every port span
and ICMP type the rules tell apart) and ``nca --semantic_diff``. The pod pairs whose connections
change must be identical; the time of each, measured in the same run, gives the speed-up.
labkit's time is a fresh lab, the cluster and base policies applied, and the diff.

    .venv/bin/python bench/bench_diff.py                   # sizes 100 200 500
    .venv/bin/python bench/bench_diff.py --sizes 200 1000
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nca  # noqa: E402
from clusters import cluster_docs, k8s_policies  # noqa: E402

from labkit import Lab  # noqa: E402


def policy_change(n_policies: int = 80, seed: int = 7) -> tuple[list[dict], list[dict], list[str]]:
    """(base, head, deleted refs): 10% of the base changed (ports or peers), 5% deleted, 5% added."""
    rng = random.Random(seed)
    base = k8s_policies(n_policies)
    head = copy.deepcopy(base)
    changed = rng.sample(range(n_policies), n_policies // 10)
    for i in changed:
        rule = head[i]["spec"]["ingress"][0]
        if "ports" in rule and rng.random() < 0.5:
            rule["ports"] = [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 53}]
        else:
            rule["from"] = [{"namespaceSelector": {"matchLabels": {"team": f"t{rng.randrange(4)}"}}}]
    deleted = rng.sample([i for i in range(n_policies) if i not in changed], n_policies // 20)
    added = k8s_policies(n_policies // 20, seed=99)
    for i, p in enumerate(added):
        p["metadata"]["name"] = f"added{i}"
    head = [p for i, p in enumerate(head) if i not in deleted] + added
    refs = [f"netpol/{base[i]['metadata']['namespace']}/{base[i]['metadata']['name']}" for i in deleted]
    return base, head, refs


def labkit_diff(docs: list[dict], base: list[dict], head: list[dict], deleted: list[str]):
    """A fresh lab with the base policies, and the diff -> ((lab, diff), Timing)."""
    def run():
        lab = Lab(profile=None)
        lab.apply(docs + base)
        return lab, lab.diff(apply=head, delete=deleted)
    return nca.timed(run)


def bench(sizes: tuple[int, ...] = (100, 200, 500), n_policies: int = 80, repeats: int = 5) -> list[dict]:
    base, head, deleted = policy_change(n_policies)
    print(f"policy diff: {len(base)} K8s NetworkPolicies -> {len(head)} ({n_policies // 10} changed, "
          f"{len(deleted)} deleted, {n_policies // 20} added); labkit lab.diff (all port spans and ICMP types) "
          "vs network-config-analyzer --semantic_diff")
    if nca.executable() is None:
        print("network-config-analyzer is not installed (pip install -e '.[bench]'): nothing to compare with")
        return []
    print(f"  {'pods':>6} {'labkit cpu':>11} {'nca cpu':>9} {'speed-up':>9}   {'labkit wall':>11} {'nca wall':>9} "
          f"{'speed-up':>9}   changed pairs (labkit / nca / in only one); labkit: median of {repeats}")
    rows = []
    for n in sizes:
        docs = cluster_docs(n)
        runs = [labkit_diff(docs, base, head, deleted) for _ in range(repeats)]
        ours_t = nca.Timing(statistics.median(t.wall_s for _, t in runs), statistics.median(t.cpu_s for _, t in runs))
        lab, diff = runs[0][0]
        frame = diff.to_frame()
        ours = set(zip(frame.src.astype(str), frame.dst.astype(str)))
        with tempfile.TemporaryDirectory() as tmp:
            nca.write_cluster(Path(tmp), docs, lab.state.pods)
            theirs, theirs_t = nca.semantic_diff(Path(tmp), base, head)
        theirs = {(s, d) for s, d in theirs if s != d}  # a pod towards itself is not policed
        only = len(ours ^ theirs)
        print(f"  {n:>6} {ours_t.cpu_s:>9.3f} s {theirs_t.cpu_s:>7.2f} s {theirs_t.cpu_s / ours_t.cpu_s:>8,.0f}x   "
              f"{ours_t.wall_s:>9.3f} s {theirs_t.wall_s:>7.2f} s {theirs_t.wall_s / ours_t.wall_s:>8,.0f}x   "
              f"{len(ours):,} / {len(theirs):,} / {only}  ({len(diff):,} changed cells, {len(diff.spans)} probes)")
        if only:
            print(f"         only labkit: {sorted(ours - theirs)[:5]}  only nca: {sorted(theirs - ours)[:5]}")
        rows.append({"pods": n, "labkit": ours_t, "nca": theirs_t, "pairs": len(ours), "nca_pairs": len(theirs),
                     "only_one": only})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500])
    parser.add_argument("--policies", type=int, default=80)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"bench_diff on {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    bench(tuple(args.sizes), args.policies)


if __name__ == "__main__":
    main()
