"""Decoder.feed and Decoder.feed_frame agree on every input, and neither hangs or eats memory.

Hypothesis builds IPFIX units (datagrams) from parts, valid and broken: Template and Options
Template Sets (fields of every length, zero-length and variable-length ones, reserved ids, scope
counts out of range, withdrawals of one, all and reserved templates, padding), Data Sets (records
in the template's layout, variable-length values in the 1-octet and the 3-octet form, values that
overrun, padding that is and is not zero, unknown set ids) and messages (several per unit,
sequence numbers), then mutates the octets (a flipped octet, cut, appended garbage, a message
or set length overwritten). Each input is decoded by a worker subprocess (decode_worker.py)
both ways: the record path one unit at a time, skipping units that raise (as the collectors
do), and the batch path with the Python and the numba kernels, for ``schema="ies"`` and
``schema="flows"``. They must give the same records, the same malformed units, templates,
counters and sequence gaps; each decode must end within the deadline and allocate at most
:func:`memory_bound` octets. Runtime: ~20 s.
"""

from __future__ import annotations

import math
import pickle
import select
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labkit.flows.ies import DEFAULT_REGISTRY

WORKER = Path(__file__).with_name("decode_worker.py")
DEADLINE_S = 30.0  # per input, every path together (they take milliseconds)


def memory_bound(units: list[bytes]) -> int:
    """Peak octets a decode of ``units`` may allocate: linear in the input."""
    return 24 * 2**20 + 400 * sum(map(len, units))


class Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._read_line(120.0) == b"ready\n", self.proc.stderr.read().decode()  # type: ignore[union-attr]

    def _wait(self, timeout_s: float) -> None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            self.proc.kill()
            raise AssertionError(f"the decode did not end within {timeout_s} s (a loop that does not advance?)")

    def _read_line(self, timeout_s: float) -> bytes:
        self._wait(timeout_s)
        return self.proc.stdout.readline()  # type: ignore[union-attr]

    def decode(self, units: list[bytes]) -> dict:
        data = pickle.dumps(units)
        self.proc.stdin.write(struct.pack("!I", len(data)) + data)  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        self._wait(DEADLINE_S)
        head = self.proc.stdout.read(4)  # type: ignore[union-attr]
        assert len(head) == 4, f"the worker died: {self.proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
        return pickle.loads(self.proc.stdout.read(struct.unpack("!I", head)[0]))  # type: ignore[union-attr]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for pipe in (self.proc.stdout, self.proc.stderr):
            pipe.close()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


# ---------------------------------------------------------------------------------------------
# Comparisons


def missing(value, dtype) -> bool:
    """Whether a cell of an "ies" frame is a missing value (the record's template lacks the IE)."""
    if value is None or value is pd.NA:
        return True
    if dtype == object or str(dtype) == "Float64" or getattr(dtype, "kind", "") == "f":
        return False  # NaN is then a value (a float IE can carry NaN)
    return bool(pd.isna(value))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (bytes, str)) or isinstance(b, (bytes, str)):
        return type(a) is type(b) and a == b
    return a == b


def as_cell(value):
    if type(value).__name__.startswith("IPv"):
        return str(value)
    return value


def assert_ies_frame_is(frame: pd.DataFrame, rows: list[dict]) -> None:
    assert len(frame) == len(rows)
    assert list(frame.columns) == list(dict.fromkeys(k for row in rows for k in row))
    for name in frame.columns:
        column = frame[name]
        for i, row in enumerate(rows):
            value = column.iloc[i]
            if name in row:
                assert same(as_cell(row[name]), value.item() if hasattr(value, "item") else value), (i, name)
            else:
                assert missing(value, column.dtype), (i, name, value)


def assert_agree(reply: dict, units: list[bytes]) -> None:
    assert "error" not in reply, reply.get("error")
    ref = reply["feed"]
    for kernel in ("python", "numba"):
        if kernel not in reply:
            continue
        got = reply[kernel]
        assert_ies_frame_is(got["ies"], ref["rows"])
        pd.testing.assert_frame_equal(got["flows"], ref["flows"])
        for schema in ("ies", "flows"):
            assert got[f"{schema}_malformed"] == ref["malformed"], (kernel, schema)
            for key, value in got[f"{schema}_state"].items():
                assert value == ref[key], (kernel, schema, key)
    bound = memory_bound(units)
    for path in ("feed", "python", "numba"):
        if path in reply:
            assert reply[f"{path}_peak"] <= bound, f"{path} allocated {reply[f'{path}_peak']:,} octets"


# ---------------------------------------------------------------------------------------------
# Inputs

IES = [DEFAULT_REGISTRY.by_name(n) for n in (
    "sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort", "destinationTransportPort",
    "protocolIdentifier", "octetDeltaCount", "packetTotalCount", "flowStartMilliseconds",
    "flowStartMicroseconds", "flowEndSeconds", "sourceIPv6Address", "sourceMacAddress", "sourcePodName",
    "destinationPodName", "ingressNetworkPolicyRuleAction", "egressNetworkPolicyRulePriority",
    "interfaceName", "paddingOctets", "throughput", "destinationClusterIPv4")]
FIVE_TUPLE = [(DEFAULT_REGISTRY.by_name(n), length) for n, length in (
    ("sourceIPv4Address", 4), ("destinationIPv4Address", 4), ("protocolIdentifier", 1),
    ("sourceTransportPort", 2), ("destinationTransportPort", 2))]
VARLEN = 0xFFFF
TEMPLATE_IDS = [256, 257, 300, 65535]


@st.composite
def field(draw):
    """(enterprise, element id, length): a known IE at its own, a reduced, a wrong or the
    variable length, or an IE nobody registered."""
    if draw(st.integers(0, 9)) == 0:
        enterprise, element = draw(st.sampled_from([(0, 30000), (56506, 999), (12345, 7)]))
        return enterprise, element, draw(st.sampled_from([0, 1, 2, 4, VARLEN]))
    ie = draw(st.sampled_from(IES))
    own = ie.data_type.length
    lengths = [own, 1, 3, 0, VARLEN] if own != VARLEN else [VARLEN, VARLEN, 0, 5]
    return ie.enterprise_id, ie.element_id, draw(st.sampled_from(lengths))


@st.composite
def template(draw):
    """(set id, template id, fields, scope count): a template, or options template."""
    fields = draw(st.lists(field(), min_size=1, max_size=6))
    if draw(st.booleans()):
        fields = [(ie.enterprise_id, ie.element_id, length) for ie, length in FIVE_TUPLE] + fields
    options = draw(st.integers(0, 4)) == 0
    scope = draw(st.sampled_from([1, 1, 0, len(fields), len(fields) + 1])) if options else 0
    tid = draw(st.sampled_from(TEMPLATE_IDS + [0, 3, 255] if draw(st.integers(0, 19)) == 0 else TEMPLATE_IDS))
    return (3 if options else 2), tid, fields, scope


def template_record(tid: int, fields: list, scope: int, options: bool) -> bytes:
    out = struct.pack("!HH", tid, len(fields)) + (struct.pack("!H", scope) if options else b"")
    for enterprise, element, length in fields:
        if enterprise:
            out += struct.pack("!HHI", element | 0x8000, length, enterprise)
        else:
            out += struct.pack("!HH", element, length)
    return out


@st.composite
def value(draw, length: int) -> bytes:
    if length != VARLEN:
        return draw(st.binary(min_size=length, max_size=length))
    size = draw(st.sampled_from([0, 1, 5, 254, 255, 300]))
    content = draw(st.binary(min_size=min(size, 8), max_size=min(size, 8))) * (size // 8 + 1)
    content = content[:size] if len(content) >= size else content + b"\0" * (size - len(content))
    if size < 255 and draw(st.integers(0, 4)):
        return bytes([size]) + content
    return b"\xff" + struct.pack("!H", size) + content  # §7: the 3-octet form, for any length


@st.composite
def data_set(draw, templates: list):
    if templates and draw(st.integers(0, 5)):
        _, tid, fields, _ = draw(st.sampled_from(templates))
        records = b"".join(b"".join(draw(value(length)) for _, _, length in fields)
                           for _ in range(draw(st.integers(0, 3))))
        if draw(st.integers(0, 3)) == 0:  # a record cut short, then octets that are not padding
            records = records[:draw(st.integers(0, len(records)))] + draw(st.binary(min_size=1, max_size=9))
    else:
        tid = draw(st.sampled_from([258, 4, 1, 0, 65535]))
        records = draw(st.binary(max_size=40))
    padding = draw(st.sampled_from([b"", b"\0", b"\0\0\0", b"\0\x01"]))
    return set_bytes(max(tid, 0), records + padding)


def set_bytes(set_id: int, body: bytes) -> bytes:
    return struct.pack("!HH", set_id, min(4 + len(body), 0xFFFF)) + body


@st.composite
def template_set(draw, templates: list):
    parts = []
    kind = draw(st.sampled_from([2, 3]))
    for set_id, tid, fields, scope in templates:
        if set_id == kind:
            parts.append(template_record(tid, fields, scope, kind == 3))
    for _ in range(draw(st.integers(0, 2))):  # withdrawals: one template, all of a kind, reserved
        tid = draw(st.sampled_from(TEMPLATE_IDS * 3 + [kind, 5]))
        parts.append(struct.pack("!HH", tid, 0) + (b"\0\0" if kind == 3 and draw(st.booleans()) else b""))
    draw(st.randoms()).shuffle(parts)
    return set_bytes(kind, b"".join(parts) + draw(st.sampled_from([b"", b"\0\0", b"\0\0\0\0\0", b"\0\x07"])))


@st.composite
def message(draw, templates: list):
    sets = [draw(template_set(templates))] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 4))):
        sets.append(draw(st.one_of(template_set(templates), data_set(templates), data_set(templates))))
    body = b"".join(sets)
    domain = draw(st.sampled_from([0, 0, 0, 1]))
    sequence = draw(st.sampled_from([0, 1, 2, 5, 2**32 - 1]))
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_000, sequence, domain) + body


@st.composite
def mutated(draw, unit: bytes) -> bytes:
    data = bytearray(unit)
    how = draw(st.integers(0, 9))
    if how == 0 and data:
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == 1:
        data = data[:draw(st.integers(0, len(data)))]
    elif how == 2:
        data += draw(st.binary(min_size=1, max_size=20))
    elif how == 3 and len(data) >= 4:
        struct.pack_into("!H", data, 2, draw(st.sampled_from([0, 15, 16, 17, len(data) - 1, len(data) + 1, 0xFFFF])))
    elif how == 4 and len(data) >= 20:
        struct.pack_into("!H", data, 18, draw(st.sampled_from([0, 1, 3, 4, 5, 0xFFFF])))  # the first set's length
    return bytes(data)


@st.composite
def units(draw) -> list[bytes]:
    templates = draw(st.lists(template(), min_size=1, max_size=3))
    out = []
    for _ in range(draw(st.integers(1, 5))):
        unit = b"".join(draw(message(templates)) for _ in range(draw(st.sampled_from([1, 1, 1, 2]))))
        out.append(draw(mutated(unit)) if draw(st.integers(0, 2)) == 0 else unit)
    return out


# The 36-octet datagram of issue 12: template 300, one field (IE 1, length 0), then a data set.
ZERO_LENGTH_TEMPLATE = (struct.pack("!HHIII", 10, 36, 0, 0, 1) + struct.pack("!HHHHHH", 2, 12, 300, 1, 1, 0)
                        + struct.pack("!HH", 300, 8) + b"\x01\x02\x03\x04")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@example([ZERO_LENGTH_TEMPLATE, ZERO_LENGTH_TEMPLATE])
@given(units())
def test_feed_and_feed_frame_agree_within_time_and_memory(worker: Worker, batch: list[bytes]) -> None:
    assert_agree(worker.decode(batch), batch)


def test_the_worker_catches_what_it_is_for(worker: Worker) -> None:
    """The bound and the comparison are not vacuous: a valid batch decodes into records on
    every path, well within the memory bound."""
    from labkit.flows.ipfix import encode_messages
    from labkit.flows.records import FlowRecord, flow_record_template

    records = [FlowRecord("10.0.0.1", "10.0.0.2", 1000 + i, 80, 6, source_pod_name="p" * (i % 300)).to_ipfix()
               for i in range(200)]
    batch = encode_messages(1, [flow_record_template()], records, max_message_size=1400)
    reply = worker.decode(batch)
    assert_agree(reply, batch)
    assert len(reply["feed"]["rows"]) == 200 and len(reply["python"]["flows"]) == 200
    assert 0 < reply["feed_peak"] < memory_bound(batch)
