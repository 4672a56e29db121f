"""Benchmark: throughput and latency pod -> pod per encryption mode, between network namespaces.

Prints figures; asserts nothing. Needs root, iperf3 and ping, plus wireguard-go (wireGuard) and
strongSwan with kernel-libipsec (ipsec); a mode that cannot run here is listed with the reason.

What runs (labkit.encryption.testbed): two node namespaces joined by a veth underlay, a pod
namespace behind each, and between the Nodes

* ``none``: a Linux Geneve device (VXLAN where the kernel has no Geneve) - cleartext baseline;
* ``wireGuard``: wireguard-go, this lab's stand-in for the kernel module Antrea uses;
* ``ipsec``: strongSwan charon + kernel-libipsec (ESP in userspace, AES-256-GCM, UDP 4500).

Userspace WireGuard and IPsec are far slower than their kernel counterparts: these figures compare
this lab's implementations, not Antrea's datapath.

    .venv/bin/python bench/bench_encryption.py                 # 3 s iperf3 runs, 3 repetitions
    .venv/bin/python bench/bench_encryption.py --seconds 1 --repeats 1 --modes none wireGuard
    .venv/bin/python bench/bench_encryption.py --where ovs     # only the ovs backend's lab

``--where ovs`` (or ``both``, the default) also runs one ovs-backend lab (workshop profile) and
switches it through the modes side by side: pod x/a (kind-worker) -> y/a (kind-worker2) through
OVS's userspace datapath, RTT (ping), TCP throughput (iperf3), and the per-packet overhead read
from the underlay (an ICMP echo of 100 and 1400 bytes, tapped) next to the theoretical header
sizes of what runs here and of Antrea's layout (labkit.encryption.wire.overhead).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.encryption import overhead
from labkit.encryption.testbed import REAL_MODES, Testbed, available


def bench_mode(mode: str, seconds: float, repeats: int) -> dict:
    ok, why = available(mode)
    if not ok:
        return {"mode": mode, "skipped": why}
    t0 = time.perf_counter()
    with Testbed(mode) as bed:
        setup_s = time.perf_counter() - t0
        bed.ping(count=3, interval_s=0.05)  # warm up: handshakes, neighbour entries
        rtt = bed.ping(count=50, interval_s=0.02)
        runs = [bed.iperf3(seconds=seconds) for _ in range(repeats)]
        t1 = time.perf_counter()
    teardown_s = time.perf_counter() - t1
    rates = [r["receiver_mbit_s"] for r in runs]
    return {"mode": mode, "setup_s": setup_s, "teardown_s": teardown_s, "rtt_avg_ms": rtt["avg_ms"],
            "rtt_min_ms": rtt["min_ms"], "rtt_max_ms": rtt["max_ms"], "mbit_s_median": statistics.median(rates),
            "mbit_s_runs": rates, "retransmits": sum(r["retransmits"] for r in runs),
            "overhead_1400": overhead(mode, 1400)["overhead"]}


# ---------------------------------------------------------------------------- the ovs backend

OVS_SRC, OVS_DST = "x/a", "y/a"  # workshop pods on kind-worker and kind-worker2


def theoretical_overhead_here(mode: str, inner_len: int) -> int:
    """Header bytes of what actually runs in the ovs lab, from the formats' specifications:
    none = Geneve (outer IPv4 20 + UDP 8 + Geneve 8 + inner Ethernet 14); wireGuard = IPv4 20 +
    UDP 8 + header 16 + tag 16 + zero padding to 16 bytes; ipsec = kernel-libipsec's ESP in UDP 4500,
    tunnel mode (RFC 3948/4303/4106): IPv4 20 + UDP 8 + SPI/seq 8 + IV 8 + pad to 4 + 2 + ICV 16."""
    if mode == "none":
        return 50
    if mode == "wireGuard":
        return 60 + (-inner_len % 16)
    return 20 + 8 + 8 + 8 + (-(inner_len + 2) % 4) + 2 + 16


def _ovs_iperf3(lab, seconds: float) -> dict:
    import json
    import subprocess

    from labkit.backends.ovs import names

    dst_ip = lab.pod_ip(OVS_DST)
    server = subprocess.Popen(["ip", "netns", "exec", names.pod_netns(lab.name, OVS_DST), "iperf3", "-s", "-1",
                               "-B", dst_ip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run(["ip", "netns", "exec", names.pod_netns(lab.name, OVS_SRC), "iperf3", "-c", dst_ip,
                              "-t", str(seconds), "-J"], capture_output=True, text=True, timeout=seconds + 30)
        end = json.loads(out.stdout)["end"]
    finally:
        server.terminate()
        server.wait(5)
    return {"mbit_s": end["sum_received"]["bits_per_second"] / 1e6,
            "retransmits": end["sum_sent"].get("retransmits", 0)}


def _ovs_ping(lab, count: int = 50) -> dict:
    import re
    import subprocess

    from labkit.backends.ovs import names

    out = subprocess.run(["ip", "netns", "exec", names.pod_netns(lab.name, OVS_SRC), "ping", "-q", "-c", str(count),
                          "-i", "0.02", lab.pod_ip(OVS_DST)], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", out)
    return {"rtt_min_ms": float(m.group(1)), "rtt_avg_ms": float(m.group(2)), "rtt_max_ms": float(m.group(3))}


def bench_ovs(modes: list[str], seconds: float, repeats: int, sizes: tuple[int, ...] = (100, 1400)) -> list[dict]:
    """One ovs lab (workshop profile), every mode in turn on the same nodes and pods."""
    from labkit import Lab
    from labkit.lab import ovs_available

    ok, why = ovs_available()
    if not ok:
        return [{"mode": m, "skipped": why} for m in modes]
    results = []
    with Lab(backend="ovs", profile="workshop", name=f"encb{os.getpid() % 1000}") as lab:
        enc, topology = lab.backend.encryption, lab.backend.topology
        for mode in modes:
            t0 = time.perf_counter()
            try:
                lab.set_encryption(mode)
            except Exception as exc:  # a mode that cannot run here is reported, the others still run
                results.append({"mode": mode, "skipped": str(exc)})
                continue
            switch_s = time.perf_counter() - t0
            _ovs_ping(lab, 3)  # warm up: handshakes, neighbours, megaflows
            rtt = _ovs_ping(lab)
            runs = [_ovs_iperf3(lab, seconds) for _ in range(repeats)]
            wire = {n: enc.measure_overhead(topology, OVS_SRC, OVS_DST, n)["overhead"] for n in sizes}
            results.append({"mode": mode, "switch_s": switch_s, **rtt,
                            "mbit_s_median": statistics.median(r["mbit_s"] for r in runs),
                            "mbit_s_runs": [r["mbit_s"] for r in runs],
                            "retransmits": sum(r["retransmits"] for r in runs),
                            "overhead_measured": wire,
                            "overhead_here": {n: theoretical_overhead_here(mode, n) for n in sizes},
                            "overhead_antrea": {n: overhead(mode, n)["overhead"] for n in sizes}})
    return results


def print_ovs(results: list[dict]) -> None:
    print("\novs backend (x/a on kind-worker -> y/a on kind-worker2, through OVS userspace datapath):")
    print(f"{'mode':<10} {'switch s':>8} {'rtt avg ms':>11} {'rtt min/max ms':>15} {'Mbit/s (median)':>16}  "
          f"{'runs':<20} {'retr':>5}  overhead B measured | theory here | Antrea layout (per pod pkt size)")
    for r in results:
        if "skipped" in r:
            print(f"{r['mode']:<10} skipped: {r['skipped']}")
            continue
        runs = ", ".join(f"{x:.0f}" for x in r["mbit_s_runs"])
        over = "; ".join(f"{n} B: {r['overhead_measured'][n]} | {r['overhead_here'][n]} | {r['overhead_antrea'][n]}"
                         for n in r["overhead_measured"])
        print(f"{r['mode']:<10} {r['switch_s']:>8.2f} {r['rtt_avg_ms']:>11.3f} "
              f"{r['rtt_min_ms']:>7.3f}/{r['rtt_max_ms']:<7.3f} {r['mbit_s_median']:>16.0f}  {runs:<20} "
              f"{r['retransmits']:>5}  {over}")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(REAL_MODES), choices=REAL_MODES)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each iperf3 run")
    parser.add_argument("--repeats", type=int, default=3, help="iperf3 runs per mode")
    parser.add_argument("--where", choices=("testbed", "ovs", "both"), default="both",
                        help="the namespace test bed (Linux routing), the ovs backend's lab, or both")
    args = parser.parse_args(argv)
    if args.where == "ovs":
        ovs_results = bench_ovs(args.modes, args.seconds, args.repeats)
        print_ovs(ovs_results)
        return ovs_results
    results = [bench_mode(m, args.seconds, args.repeats) for m in args.modes]
    print(f"{'mode':<10} {'setup s':>8} {'down s':>7} {'rtt avg ms':>11} {'rtt min/max ms':>15} "
          f"{'Mbit/s (median)':>16}  runs                     {'B/1400B pkt':>11}")
    for r in results:
        if "skipped" in r:
            print(f"{r['mode']:<10} skipped: {r['skipped']}")
            continue
        runs = ", ".join(f"{x:.0f}" for x in r["mbit_s_runs"])
        print(f"{r['mode']:<10} {r['setup_s']:>8.2f} {r['teardown_s']:>7.2f} {r['rtt_avg_ms']:>11.3f} "
              f"{r['rtt_min_ms']:>7.3f}/{r['rtt_max_ms']:<7.3f} {r['mbit_s_median']:>16.0f}  {runs:<24} "
              f"{r['overhead_1400']:>11}")
    if args.where == "both":
        ovs_results = bench_ovs(args.modes, args.seconds, args.repeats)
        print_ovs(ovs_results)
        results += ovs_results
    return results


if __name__ == "__main__":
    main()
