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
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(REAL_MODES), choices=REAL_MODES)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each iperf3 run")
    parser.add_argument("--repeats", type=int, default=3, help="iperf3 runs per mode")
    args = parser.parse_args(argv)
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
    return results


if __name__ == "__main__":
    main()
