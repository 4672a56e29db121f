"""Batch IPFIX decoding straight into a pandas DataFrame, column by column.

:class:`~labkit.flows.ipfix.Decoder` builds one :class:`~labkit.flows.ipfix.DecodedRecord` per
record with a Python call per field (~6,000 records/s). This module decodes a whole batch at
once and gives the *same* frame, faster by two orders of magnitude:

1. **walk** (:mod:`.kernels`: compiled with numba when it is installed, else the same code run
   as Python): the message and set headers, then, per template, the record boundaries and the
   offset and length of every variable-length field (RFC 7011 §7: 1-octet lengths, or 255 then
   2 octets);
2. **templates** are applied by the Decoder's own :class:`~labkit.flows.session.SessionState`
   (``read_template_set``), in stream order, so withdrawals, padding and per-(exporter, domain)
   scoping stay exactly the Decoder's;
3. **extract**, :data:`CHUNK_RECORDS` records at a time: fixed-width fields are big-endian
   gathers at computed offsets (integers of any reduced size, §6.2; NTP timestamps, floats;
   IPv4 addresses); everything else (strings, octets, IPv6 addresses, MACs, booleans) is
   deduplicated as raw bytes first; each distinct value is then decoded once, by the IE's own
   ``TemplateField.decode``, so values match the record path exactly;
4. **frame** (:mod:`.frames` for flows): ``schema="flows"`` gives :func:`~labkit.flows.records.records_to_frame`'s frame of
   ``record_from_ipfix`` records (options records skipped; records without a 5-tuple dropped and
   counted); ``schema="ies"`` one column per IE name.

Bad input is handled as :class:`~labkit.flows.transport.IPFIXCollector` handles it: a unit (one
datagram of a list, or one message of a byte stream) that ``Decoder.feed`` would reject
contributes no records and is counted in :attr:`FrameStats.malformed` with the reason; a broken
message header ends its unit, as the TCP collector drops the rest of a stream it cannot frame.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, Union

import numpy as np

from labkit.flows.columns import CodedColumn, Strings, object_array, text_column
from labkit.flows.frames import flow_frame, flow_ies
from labkit.flows.ies import IPFIXError
from labkit.flows.kernels import HAVE_NUMBA, Kernels, kernels
from labkit.flows.session import SequenceGap, SessionState
from labkit.flows.wire import (
    HEADER,
    IPFIX_VERSION,
    MIN_DATA_SET_ID,
    OPTIONS_TEMPLATE_SET_ID,
    TEMPLATE_SET_ID,
    Template,
    TemplateField,
    encode_message,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Schema = Literal["flows", "ies"]


class HasSessionState(Protocol):
    """A decoder that keeps its templates and sequence numbers in a
    :class:`~labkit.flows.session.SessionState` (:class:`~labkit.flows.ipfix.Decoder`)."""

    state: SessionState


DecoderLike = Union[SessionState, HasSessionState]

_NTP_EPOCH_OFFSET_S = 2_208_988_800
_MSG_OK, _MSG_BAD_HEADER, _MSG_BAD_SET = 0, 1, 2


def warm_up() -> float:
    """Compile the kernels now (seconds taken; 0 without numba), so a timed decode excludes it."""
    import time

    k = kernels()
    if not k.compiled:
        return 0.0
    if k.compile_s is None:
        tmpl = Template.from_names(256, ["sourceTransportPort", "sourcePodName"])
        t0 = time.perf_counter()
        decode_frame([encode_message(1, [tmpl], [{"sourceTransportPort": 1, "sourcePodName": "a"}])],
                     schema="ies", kernels_=k)
        k.compile_s = time.perf_counter() - t0
    return k.compile_s


# --------------------------------------------------------------------------------------------
# Columns of one template group


_INT_KINDS = {f"unsigned{n}" for n in (8, 16, 32, 64)} | {f"signed{n}" for n in (8, 16, 32, 64)} | {
    "dateTimeSeconds", "dateTimeMilliseconds"}
_NTP_KINDS = {"dateTimeMicroseconds": 1_000_000, "dateTimeNanoseconds": 1_000_000_000}


# Records per chunk: each pass over a field then reads a few MB of the buffer, which stays in
# cache for the next field (one pass per field over a 100 MB buffer is memory-bound).
CHUNK_RECORDS = 4096


class _FieldReader:
    """One field of every record of a template, read chunk by chunk: big-endian integers of
    the template's length, or distinct byte strings decoded once by the field's own decoder."""

    def __init__(self, k: Kernels, f: TemplateField, n: int) -> None:
        self.f, self.k = f, k
        kind = f.ie.data_type.name
        # IPv4 addresses are read as integers too, and told apart by pandas' hash table.
        self.ipv4 = kind == "ipv4Address" and f.length == 4
        self.numeric = not f.is_variable_length and (
            kind in _INT_KINDS or kind in _NTP_KINDS or kind in ("float32", "float64") or self.ipv4)
        if self.numeric:
            self.values = np.empty(n, np.uint64)
        else:
            self.dedupe = k.dedupe(n)

    def feed(self, buf: np.ndarray, raw: bytes, start: int, pos: np.ndarray,
             length: np.ndarray | None) -> None:
        if self.numeric:
            width = 8 if self.f.ie.data_type.name in _NTP_KINDS else self.f.length
            self.values[start:start + len(pos)] = self.k.uint(buf, pos, width)
        else:
            self.dedupe.feed(buf, raw, start, pos,
                             length if length is not None else np.full(len(pos), self.f.length, np.int64))

    def finish(self, raw: bytes) -> Any:
        kind, width = self.f.ie.data_type.name, self.f.length
        if not self.numeric:
            uniques = self.dedupe.distinct(raw)
            return CodedColumn(self.dedupe.codes, object_array([self.f.decode(u) for u in uniques]))
        values = self.values
        if self.ipv4:
            import pandas as pd

            codes, distinct = pd.factorize(values)
            return CodedColumn(codes.astype(np.int64, copy=False),
                          object_array([self.f.decode(int(v).to_bytes(4, "big")) for v in distinct.tolist()]))
        if kind in _NTP_KINDS:  # §6.1.9/10: seconds since 1900, then a 2**-32 s fraction
            per = _NTP_KINDS[kind]
            seconds = (values >> np.uint64(32)).astype(np.int64)
            part = ((values & np.uint64(0xFFFFFFFF)) * np.uint64(per) + np.uint64(1 << 31)) >> np.uint64(32)
            return (seconds - _NTP_EPOCH_OFFSET_S) * per + part.astype(np.int64)
        if kind in ("float32", "float64"):
            return (values.astype(np.uint32).view(np.float32).astype(np.float64) if width == 4
                    else values.view(np.float64))
        if kind.startswith("signed"):  # two's complement of the sent width (§6.2)
            signed = values.view(np.int64)
            if width < 8:
                half = 1 << (8 * width - 1)
                signed = np.where(signed >= half, signed - (1 << (8 * width)), signed)
            return signed
        # The 8-octet unsigned types may use the 64th bit (RFC 7011 §6.1.1, §6.1.8): uint64;
        # the others are below 2**32 (or 2**56 reduced), the same bits as int64.
        return values if kind in ("unsigned64", "dateTimeMilliseconds") else values.view(np.int64)


@dataclass
class _Group:
    """The records of one template: set rows, per-set record counts, and columns by IE name."""

    template: Template
    sets: np.ndarray  # global set indices, stream order
    counts: np.ndarray
    columns: dict[str, Any]
    n: int


def _group_columns(k: Kernels, buf: np.ndarray, raw: bytes, tmpl: Template,
                   rec_start: np.ndarray, var_pos: np.ndarray,
                   wanted: Callable[[str], bool]) -> dict[str, Any]:
    """The wanted fields of every record (an IE sent twice: its first value, as DecodedRecord).
    A field's offset is its record's start, or the end of the variable-length value before it,
    plus the fixed lengths in between."""
    n = len(rec_start)
    plan: list[tuple[str, _FieldReader, int, int, int]] = []  # name, reader, anchor, const, var
    anchor, const, v = -1, 0, 0
    for f in tmpl.fields:
        if f.name not in {p[0] for p in plan} and wanted(f.name):
            plan.append((f.name, _FieldReader(k, f, n), anchor, const, v if f.is_variable_length else -1))
        if f.is_variable_length:
            anchor, const = v, 0
            v += 1
        else:
            const += f.length
    for start in range(0, n, CHUNK_RECORDS):
        stop = min(n, start + CHUNK_RECORDS)
        ends = {}
        for _, reader, a, c, var in plan:
            if var >= 0:
                reader.feed(buf, raw, start, var_pos[2 * var, start:stop], var_pos[2 * var + 1, start:stop])
                continue
            if a not in ends:
                ends[a] = rec_start[start:stop] if a < 0 else (
                    var_pos[2 * a, start:stop] + var_pos[2 * a + 1, start:stop])
            reader.feed(buf, raw, start, ends[a] + c, None)
    return {name: reader.finish(raw) for name, reader, _, _, _ in plan}


# --------------------------------------------------------------------------------------------
# The batch decode


@dataclass
class FrameStats:
    """What one :func:`decode_frame` call met: records, malformed units (``reason`` strings),
    data sets before their template, and (``schema="flows"``) records skipped."""

    records: int = 0
    messages: int = 0
    malformed: list[str] = field(default_factory=list)
    unknown_sets: int = 0
    options_records: int = 0
    incomplete_records: int = 0


def _units(data: bytes | bytearray | memoryview | Iterable[bytes]) -> tuple[bytes, np.ndarray, bool]:
    """One buffer and its units: each item of a list, or each message of a stream."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        return raw, np.array([[0, len(raw)]], np.int64), True  # split per message later
    items = [bytes(d) for d in data]
    raw = b"".join(items)
    ends = np.cumsum([len(d) for d in items], dtype=np.int64)
    return raw, np.stack([ends - [len(d) for d in items], ends], axis=1) if items else (
        np.zeros((0, 2), np.int64)), False


def decode_frame(data: bytes | bytearray | memoryview | Iterable[bytes], decoder: DecoderLike | None = None,
                 exporter: Hashable = None, *, schema: Schema = "flows", strings: Strings = "str",
                 stats: FrameStats | None = None, kernels_: Kernels | None = None) -> "pd.DataFrame":
    """Decode IPFIX into a DataFrame.

    ``data``: one byte stream of concatenated messages (each message is a unit, as the TCP
    collector decodes them) or a list of datagrams (each one a unit, as the UDP collector).
    ``decoder`` (a :class:`~labkit.flows.ipfix.Decoder`, or its
    :class:`~labkit.flows.session.SessionState`) keeps the templates, sequence state and
    counters across calls (new ones if None); its ``messages``, ``unknown_sets`` and
    ``sequence_gaps`` advance as ``Decoder.feed`` would.

    ``schema="flows"``: the frame :func:`~labkit.flows.records.records_to_frame` gives for the
    records ``record_from_ipfix`` reads from these messages. ``schema="ies"``: one column per
    IE name (first appearance order): integers as int64 (unsigned64 and dateTimeMilliseconds,
    which may use all 64 bits, as uint64), ``dateTime*`` as the integers the Decoder gives,
    floats float64, strings/addresses/MACs as text, octets as bytes. A record whose template lacks a column holds a missing value there: <NA> in a
    nullable numeric column (``Int64``, ``UInt64``, ``Float64``), NaN in a ``str`` column, None
    in an object one.

    ``strings="category"``: string columns as pandas Categoricals (faster, same values).
    """
    import pandas as pd

    state = decoder if isinstance(decoder, SessionState) else (
        decoder.state if decoder is not None else SessionState())
    stats = stats if stats is not None else FrameStats()
    k = kernels_ or kernels()
    raw, units, stream = _units(data)
    buf = np.frombuffer(raw, np.uint8)
    msgs, sets = k.messages(buf, units)
    if stream and len(msgs):  # every message of a stream is its own unit
        msgs[:, 5] = np.arange(len(msgs))
    n_units = int(msgs[:, 5].max()) + 1 if len(msgs) else 0
    set_msg = sets[:, 0]
    set_unit = msgs[set_msg, 5] if len(sets) else np.zeros(0, np.int64)
    first_set_of_msg = np.searchsorted(set_msg, np.arange(len(msgs)))
    after_msg = np.searchsorted(set_msg, np.arange(len(msgs)), side="right")

    fails = _Failures(n_units, len(sets))
    for m in np.flatnonzero(msgs[:, 6] != _MSG_OK).tolist():
        header = msgs[m, 6] == _MSG_BAD_HEADER
        fails.mark(int(msgs[m, 5]), int(first_set_of_msg[m] if header else after_msg[m]), m, header,
                   _header_reason(raw, msgs[m]))

    template_of, templates = _follow_templates(k, buf, raw, state, msgs, sets, set_unit, fails, exporter)
    groups, set_counts, bad_sets = _walk_data_sets(k, buf, raw, sets, set_unit, fails.dead_from,
                                                   template_of, templates, schema)
    for g in bad_sets:
        _mark_bad_data_set(fails, msgs, sets, set_unit, g)

    # Counters and sequence numbers, as Decoder.feed keeps them.
    idx = np.arange(len(sets))
    processed = idx < fails.dead_from[set_unit]
    unknown = processed & (sets[:, 1] >= MIN_DATA_SET_ID) & (template_of < 0)
    state.unknown_sets += int(unknown.sum())
    stats.unknown_sets += int(unknown.sum())
    msg_unit = msgs[:, 5]
    m_idx = np.arange(len(msgs))
    fail_msg = fails.fail_msg[msg_unit]
    entered = (m_idx < fail_msg) | ((m_idx == fail_msg) & ~fails.header[msg_unit])
    state.messages += int(entered.sum())
    stats.messages += int(entered.sum())
    checked = m_idx < fail_msg
    counts = np.bincount(set_msg, weights=np.where(processed, set_counts, 0),
                         minlength=len(msgs)).astype(np.int64)
    incomplete = np.bincount(set_msg, weights=unknown, minlength=len(msgs)) > 0
    _check_sequences(state, exporter, msgs[checked], counts[checked], incomplete[checked])
    for u in np.flatnonzero(fails.failed).tolist():
        text = fails.reason[u]
        stats.malformed.append(f"{exporter}: {text}" if exporter is not None else text)

    # Rows: records of units that did not fail, in stream order.
    keep_set = processed & ~fails.failed[set_unit]
    order_start = np.zeros(len(sets) + 1, np.int64)
    np.cumsum(np.where(keep_set, set_counts, 0), out=order_start[1:])
    kept_groups = []
    for grp in groups:
        keep = keep_set[grp.sets]
        rows = np.repeat(keep, grp.counts)
        if not rows.any():  # no record kept (sets of dead units, or sets of padding only)
            continue
        within = np.arange(grp.n) - np.repeat(np.cumsum(grp.counts) - grp.counts, grp.counts)
        target = (np.repeat(order_start[grp.sets], grp.counts) + within)[rows]
        kept_groups.append((grp, rows, target))
    total = int(order_start[-1])
    stats.records += total
    if schema == "flows":
        frame, skipped = flow_frame(kept_groups, total, strings)
        stats.options_records += skipped.options
        stats.incomplete_records += skipped.incomplete
        stats.records -= skipped.options + skipped.incomplete
        return frame
    return _ies_frame(kept_groups, total, strings, pd)


class _Failures:
    """Per unit: where decoding stopped (the first set not read), the message that raised, and
    whether its header was the problem (then the Decoder never counted it)."""

    def __init__(self, n_units: int, n_sets: int) -> None:
        self.dead_from = np.full(n_units, n_sets + 1, np.int64)
        self.fail_msg = np.full(n_units, np.iinfo(np.int64).max, np.int64)
        self.header = np.zeros(n_units, bool)
        self.failed = np.zeros(n_units, bool)
        self.reason: dict[int, str] = {}

    def mark(self, unit: int, dead_from: int, msg: int, header: bool, reason: str) -> None:
        if (dead_from, msg) >= (int(self.dead_from[unit]), int(self.fail_msg[unit])):
            return
        self.dead_from[unit], self.fail_msg[unit] = dead_from, msg
        self.header[unit] = header
        self.failed[unit] = True
        self.reason[unit] = reason


def _header_reason(raw: bytes, row: np.ndarray) -> str:
    off = int(row[0])
    if row[6] == _MSG_BAD_SET:
        return f"message at octet {off}: a set does not fit the message"
    if len(raw) - off < HEADER.size:
        return f"octet {off}: {len(raw) - off} octets is shorter than a message header"
    version = int.from_bytes(raw[off:off + 2], "big")
    if version != IPFIX_VERSION:
        return f"octet {off}: version {version} is not IPFIX (10)"
    return f"octet {off}: message length {int(row[1])} does not fit what arrived"


def _follow_templates(k: Kernels, buf: np.ndarray, raw: bytes, state: SessionState, msgs: np.ndarray,
                      sets: np.ndarray, set_unit: np.ndarray, fails: _Failures,
                      exporter: Hashable) -> tuple[np.ndarray, list[Template]]:
    """Go through the sets in stream order as ``Decoder.feed`` does: apply each template set to
    ``state`` (one that raises ends its unit; the templates it defined before the error stay)
    and note, for every data set, the template in force there: an index into the returned
    list of distinct templates, or -1 (an unknown set). The data sets between two template
    sets share one table, so they are looked up together.

    A data set followed by a template set of its own unit is walked first: if it is malformed,
    ``Decoder.feed`` raises there and never applies that template set. Other data sets are
    walked later, per template (:func:`_walk_data_sets`): their failure cannot change a table."""
    n = len(sets)
    template_of = np.full(n, -1, np.int64)
    index: dict[Template, int] = {}  # equal templates (a refresh) share one group
    is_template = (sets[:, 1] == TEMPLATE_SET_ID) | (sets[:, 1] == OPTIONS_TEMPLATE_SET_ID)
    is_data = sets[:, 1] >= MIN_DATA_SET_ID
    keys = (msgs[sets[:, 0], 2] << 16) | sets[:, 1]  # (domain, set id)
    view = memoryview(raw)
    checked_to: dict[int, int] = {}  # unit -> its first data set not walked yet
    segment_start = 0
    for g in np.flatnonzero(is_template).tolist() + [n]:
        segment = np.arange(segment_start, g)[is_data[segment_start:g]]
        if len(segment):
            distinct, inverse = np.unique(keys[segment], return_inverse=True)
            found = np.full(len(distinct), -1, np.int64)
            for j, key in enumerate(distinct.tolist()):
                tmpl = state.template(exporter, key >> 16, key & 0xFFFF)
                if tmpl is not None:
                    found[j] = index.setdefault(tmpl, len(index))
            template_of[segment] = found[inverse]
        if g == n:
            break
        segment_start = g + 1
        u = int(set_unit[g])
        if g >= fails.dead_from[u]:
            continue
        first = checked_to.get(u, int(np.searchsorted(set_unit, u)))
        checked_to[u] = g
        _check_data_sets(k, buf, msgs, sets, set_unit, fails, list(index), template_of,
                         [s for s in range(first, g) if template_of[s] >= 0])
        if g >= fails.dead_from[u]:
            continue
        m = int(sets[g, 0])
        start, length = int(msgs[m, 0]), int(msgs[m, 1])
        try:
            state.read_template_set(view[start:start + length], int(sets[g, 1]),
                                    int(sets[g, 2]) - start, int(sets[g, 3]) - start, exporter,
                                    int(msgs[m, 2]))
        except IPFIXError as exc:
            fails.mark(u, g + 1, m, False, f"message at octet {start}: {exc}")
    return template_of, list(index)


def _check_data_sets(k: Kernels, buf: np.ndarray, msgs: np.ndarray, sets: np.ndarray,
                     set_unit: np.ndarray, fails: _Failures, templates: list[Template],
                     template_of: np.ndarray, chosen: list[int]) -> None:
    """Walk the data sets ``chosen`` (of one unit, each with a template) and mark the first
    malformed one, if any, as its unit's failure."""
    if not chosen:
        return
    picked = np.array(chosen, np.int64)
    which = template_of[picked]
    bad: list[int] = []
    for ti in np.unique(which).tolist():
        these = picked[which == ti]
        tmpl = templates[ti]
        status = k.set_status(buf, sets[these, 2].copy(), sets[these, 3].copy(),
                              np.array([f.length for f in tmpl.fields], np.int64), tmpl.min_record_length)
        bad += these[status != 0].tolist()
    if bad:
        _mark_bad_data_set(fails, msgs, sets, set_unit, min(bad))


def _mark_bad_data_set(fails: _Failures, msgs: np.ndarray, sets: np.ndarray, set_unit: np.ndarray,
                       g: int) -> None:
    m = int(sets[g, 0])
    fails.mark(int(set_unit[g]), g + 1, m, False,
               f"message at octet {msgs[m, 0]}: data set {sets[g, 1]} has a record that ends "
               "inside a field")


def _walk_data_sets(k: Kernels, buf: np.ndarray, raw: bytes, sets: np.ndarray, set_unit: np.ndarray,
                    dead_from: np.ndarray, template_of: np.ndarray, templates: list[Template],
                    schema: Schema) -> tuple[list[_Group], np.ndarray, list[int]]:
    """Walk every template's data sets (those before their unit's failure), extract the wanted
    columns; also the record count of every set, and the malformed sets."""
    set_counts = np.zeros(len(sets), np.int64)
    processed = np.arange(len(sets)) < dead_from[set_unit]
    wanted: Callable[[str], bool]
    if schema == "flows":
        names = flow_ies()
        wanted = names.__contains__
    else:
        wanted = lambda name: True  # noqa: E731
    groups: list[_Group] = []
    bad: list[int] = []
    for ti, tmpl in enumerate(templates):
        chosen = np.flatnonzero((template_of == ti) & processed)
        if not len(chosen):
            continue
        lengths = np.array([f.length for f in tmpl.fields], np.int64)
        rec_start, var_pos, counts, status = k.records(
            buf, sets[chosen, 2].copy(), sets[chosen, 3].copy(), lengths, tmpl.min_record_length)
        set_counts[chosen] = counts
        bad += chosen[status != 0].tolist()
        skip = schema == "flows" and tmpl.is_options  # options records are not flows
        cols = {} if skip else _group_columns(k, buf, raw, tmpl, rec_start, var_pos, wanted)
        groups.append(_Group(tmpl, chosen, counts, cols, len(rec_start)))
    return groups, set_counts, sorted(bad)


def _check_sequences(state: SessionState, exporter: Hashable, msgs: np.ndarray, counts: np.ndarray,
                     incomplete: np.ndarray) -> None:
    """§3.1 per (exporter, domain), as ``SessionState.check_sequence`` for each message that
    decoded, in order: a gap when the number is not the previous one plus its records."""
    modulo = 1 << 32
    gaps: list[tuple[int, SequenceGap]] = []  # (message, gap): noted in stream order, as feed does
    domains, first = np.unique(msgs[:, 2], return_index=True)
    for domain in domains[np.argsort(first)].tolist():  # in order of appearance
        these = np.flatnonzero(msgs[:, 2] == domain)
        seq = msgs[these, 4]
        nxt = (seq + counts[these]) % modulo
        before = state.next_sequence(exporter, domain)
        expected = np.empty(len(these), np.int64)
        expected[0] = -1 if before is None else before
        expected[1:] = np.where(incomplete[these[:-1]], -1, nxt[:-1])
        for i in np.flatnonzero((expected >= 0) & (expected != seq)).tolist():
            gaps.append((int(these[i]), SequenceGap(exporter, domain, int(expected[i]), int(seq[i]))))
        state.set_next_sequence(exporter, domain, None if incomplete[these[-1]] else int(nxt[-1]))
    for _, gap in sorted(gaps, key=lambda g: g[0]):
        state.note_gap(gap)


def _ies_frame(kept: list, total: int, strings: Strings, pd: Any) -> "pd.DataFrame":
    names: list[str] = []
    for grp, _, _ in sorted(kept, key=lambda part: int(part[2].min())):  # first appearance
        names += [n for n in grp.columns if n not in names]
    data: dict[str, Any] = {}
    for name in names:
        parts = [(grp.columns.get(name), rows, target) for grp, rows, target in kept]
        data[name] = _merge(parts, total, strings, pd)
    return pd.DataFrame(data, columns=names, index=pd.RangeIndex(total), copy=False)


def _merge(parts: list, total: int, strings: Strings, pd: Any) -> Any:
    """One output column from each group's column (None: that template lacks the IE)."""
    present = [p for p in parts if p[0] is not None]
    covered = sum(int(rows.sum()) for _, rows, _ in present)
    numeric = all(isinstance(c, np.ndarray) for c, _, _ in present)
    if numeric and present:
        dtypes = {c.dtype for c, _, _ in present}
        out = np.zeros(total, dtypes.pop() if len(dtypes) == 1 else np.int64)
        for c, rows, target in present:
            out[target] = c[rows]
        if covered == total:
            return out
        mask = np.ones(total, bool)  # a template without this IE: pandas' nullable dtypes
        for _, rows, target in present:
            mask[target] = False
        if out.dtype.kind == "f":
            return pd.arrays.FloatingArray(out, mask)
        return pd.arrays.IntegerArray(out, mask)
    # Text (or mixed): codes into the union of distinct values.
    uniques: list[Any] = []
    codes = np.full(total, -1, np.int64)
    for c, rows, target in present:
        if isinstance(c, np.ndarray):
            u, inv = np.unique(c[rows], return_inverse=True)
            codes[target] = inv + len(uniques)
            uniques += u.tolist()
        else:
            codes[target] = c.codes[rows] + len(uniques)
            uniques += list(c.uniques)
    if covered < total:
        codes[codes < 0] = len(uniques)
        uniques.append(None)
    # Addresses as text (the Decoder's ipaddress objects print the same).
    uniques = [str(u) if isinstance(u, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else u
               for u in uniques]
    return text_column(CodedColumn(codes, object_array(uniques)), strings, pd)


__all__ = ["FrameStats", "HAVE_NUMBA", "decode_frame", "kernels", "warm_up"]
