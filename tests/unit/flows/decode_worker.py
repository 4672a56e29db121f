"""A subprocess for tests/unit/flows/test_flows_differential.py: decodes the IPFIX units it is
sent with ``Decoder.feed`` (one unit at a time, as the collectors call it) and with
``Decoder.feed_frame`` (with the Python and, if installed, the numba kernels), and sends back
what each path decoded, how long it took and the peak memory it allocated (tracemalloc).

It runs apart so that a decode that hangs can be killed, and under an address-space limit so
that one that eats memory fails with MemoryError instead of swapping the machine.

Protocol on stdin/stdout: 4-octet big-endian length, then a pickle. Request: a list of units
(bytes). Reply: a dict (see :func:`decode`).
"""

from __future__ import annotations

import pickle
import resource
import struct
import sys
import time
import tracemalloc
from typing import Any, Callable

HEADROOM = 1 << 30  # address space the decodes may use above what the worker holds after warm-up


def measured(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start, tracemalloc.get_traced_memory()[1] - base


def decode(units: list[bytes]) -> dict[str, Any]:
    from labkit.flows import fastdecode
    from labkit.flows.ies import IPFIXError
    from labkit.flows.ipfix import Decoder
    from labkit.flows.records import record_from_ipfix, records_to_frame

    def by_feed() -> dict[str, Any]:
        decoder = Decoder()
        rows: list[dict] = []
        flows = []
        malformed = 0
        for unit in units:
            try:
                records = decoder.feed(unit)
            except IPFIXError:
                malformed += 1
                continue
            for r in records:
                rows.append(dict(r))
                if not r.is_options:
                    try:
                        flows.append(record_from_ipfix(r))
                    except IPFIXError:
                        pass
        return {"rows": rows, "flows": records_to_frame(flows), "malformed": malformed,
                **state(decoder)}

    def state(decoder: Any) -> dict[str, Any]:
        return {"messages": decoder.messages, "unknown_sets": decoder.unknown_sets,
                "sequence_gaps": decoder.sequence_gaps, "templates": decoder.templates}

    def by_frame(compiled: bool) -> dict[str, Any]:
        k = fastdecode.kernels(compiled)
        out: dict[str, Any] = {}
        for schema in ("ies", "flows"):
            decoder, stats = Decoder(), fastdecode.FrameStats()
            out[schema] = fastdecode.decode_frame(units, decoder, schema=schema, stats=stats, kernels_=k)
            out[f"{schema}_malformed"] = len(stats.malformed)
            out[f"{schema}_state"] = state(decoder)
        return out

    reply: dict[str, Any] = {}
    reply["feed"], reply["feed_s"], reply["feed_peak"] = measured(by_feed)
    for compiled in [False] + ([True] if fastdecode.HAVE_NUMBA else []):
        name = "numba" if compiled else "python"
        reply[name], reply[f"{name}_s"], reply[f"{name}_peak"] = measured(lambda: by_frame(compiled))
    return reply


def warm_up() -> None:
    from labkit.flows import fastdecode
    from labkit.flows.ipfix import encode_message
    from labkit.flows.records import FlowRecord, flow_record_template

    fastdecode.warm_up()
    msg = encode_message(1, [flow_record_template()], [FlowRecord("10.0.0.1", "10.0.0.2", 1, 2, 6).to_ipfix()])
    decode([msg])  # pandas, the frames, both kernels: loaded before the limit is set


def main() -> None:
    warm_up()
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + HEADROOM, resource.getrlimit(resource.RLIMIT_AS)[1]))
    tracemalloc.start()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(b"ready\n")
    stdout.flush()
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        units = pickle.loads(stdin.read(struct.unpack("!I", head)[0]))
        try:
            reply: Any = decode(units)
        except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
            reply = {"error": repr(exc)}
        data = pickle.dumps(reply)
        stdout.write(struct.pack("!I", len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    main()
