"""bench/bench_flows.py keeps running (small sizes; no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import bench_flows  # noqa: E402


def test_flow_benchmarks_run(capsys):
    bench_flows.bench_codec(200)
    bench_flows.bench_loopback(300, "udp")
    bench_flows.bench_loopback(300, "tcp")
    bench_flows.bench_aggregation(scale=1.0, duration_s=30.0, repeats=1)
    figures = bench_flows.bench_decode_frame(3000, baseline_records=1000, repeats=1)
    out = capsys.readouterr().out
    assert "encode (FlowRecord -> IPFIX)" in out and "none lost" in out
    assert "aggregation (correlate + expire, replay)" in out and "0 dropped" in out
    assert "labkit feed_frame -> DataFrame" in out and "python-ipfix 0.9.7" in out
    assert figures["labkit_str"] > 0 and figures["python_ipfix"] > 0
