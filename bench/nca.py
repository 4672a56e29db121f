"""Driving network-config-analyzer (NCA, IBM; ``pip install 'labkit[bench]'``), the peer the
benchmarks compare with: its input files from a labkit cluster, its connectivity map and semantic
diff, and its output parsed into pod pairs.

NCA reads Kubernetes NetworkPolicies (not Antrea-native ones), so the comparisons use K8s-only
policy sets. Its ``txt_no_fw_rules`` output lists one line per pod pair:
``ns/a[Pod] => ns/b[Pod] : {protocols:TCP,dst_ports:80},...`` (or ``All connections``).
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

CONN = re.compile(r"^(?P<src>\S+)\[Pod\] => (?P<dst>\S+)\[Pod\] : (?P<conn>.*)$")


def executable() -> str | None:
    nca = shutil.which("nca") or str(Path(sys.executable).with_name("nca"))
    return nca if Path(nca).exists() else None


def allows(conn: str, protocol: str = "TCP", port: int = 80) -> bool:
    """Does an NCA connection string admit ``protocol`` to destination ``port``?"""
    conn = conn.strip()
    if conn == "All connections":
        return True
    if conn.startswith("All but"):
        return not allows(conn[len("All but"):].strip(), protocol, port)
    for part in re.findall(r"\{([^}]*)\}", conn):
        fields = dict(kv.split(":", 1) for kv in re.split(r",(?=[a-z_]+:)", part))
        protocols = fields.get("protocols")
        if protocols is not None and protocol not in protocols.split(","):
            continue
        ports = fields.get("dst_ports")
        if ports is None:
            return True
        for rng in ports.split(","):
            lo, _, hi = rng.partition("-")
            if int(lo) <= port <= int(hi or lo):
                return True
    return False


def write_cluster(directory: Path, docs: list[dict], pods: list) -> None:
    """``ns.yaml`` and ``pods.yaml`` for NCA: the cluster's namespaces, and its pods with their labkit IPs."""
    by_key = {p.key: p for p in pods}
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    pod_docs = []
    for d in docs:
        if d["kind"] != "Pod":
            continue
        pod = by_key[f"{d['metadata']['namespace']}/{d['metadata']['name']}"]
        pod_docs.append({**d, "status": {"podIP": pod.pod_ip, "hostIP": "172.18.0.3", "phase": "Running"}})
    (directory / "ns.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "NamespaceList",
                                                       "items": namespaces}))
    (directory / "pods.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "PodList", "items": pod_docs}))


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timing:
    """Wall-clock seconds, and CPU seconds (user + system): on a machine shared with other work
    the CPU time is what the program itself cost, the wall time also counts the waiting."""

    wall_s: float
    cpu_s: float


def timed(fn):
    """(fn(), Timing) of a call in this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def _run(args: list[str], cwd: Path) -> tuple[str, Timing]:
    wall, cpu = time.perf_counter(), children_cpu_s()
    proc = subprocess.run([executable(), *args, "--pod_list", "pods.yaml", "--ns_list", "ns.yaml",
                           "--output_format", "txt_no_fw_rules"], cwd=cwd, capture_output=True, text=True,
                          timeout=3600)
    return proc.stdout, Timing(time.perf_counter() - wall, children_cpu_s() - cpu)


def connectivity(directory: Path, policies: list[dict]) -> tuple[dict[tuple[str, str], str], Timing]:
    """NCA's connectivity map: (src, dst) -> connection string, and its time."""
    (directory / "np.yaml").write_text(yaml.safe_dump_all(policies))
    out, timing = _run(["--connectivity", "np.yaml"], directory)
    return {(m["src"], m["dst"]): m["conn"] for line in out.splitlines() if (m := CONN.match(line))}, timing


def semantic_diff(directory: Path, base: list[dict], head: list[dict]) -> tuple[set[tuple[str, str]], Timing]:
    """The pod pairs NCA's ``--semantic_diff`` reports (added or removed connections), and its time."""
    (directory / "base.yaml").write_text(yaml.safe_dump_all(base))
    (directory / "head.yaml").write_text(yaml.safe_dump_all(head))
    out, timing = _run(["--semantic_diff", "head.yaml", "--base_np_list", "base.yaml"], directory)
    return {(m["src"], m["dst"]) for line in out.splitlines() if (m := CONN.match(line))}, timing
