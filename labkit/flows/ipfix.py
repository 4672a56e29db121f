"""An IPFIX (RFC 7011) message codec: templates, encoding into messages, and a stateful decoder.

Describe, then encode::

    tmpl = Template.from_names(256, ["sourceIPv4Address", "destinationIPv4Address",
                                     "packetDeltaCount", "sourcePodName"])
    messages = encode_messages(domain_id=1, templates=[tmpl],
                               records=[(tmpl, {"sourceIPv4Address": "10.0.0.1", ...})])

Decode, keeping templates per ``(exporter, observation domain, template id)``::

    decoder = Decoder()
    for record in decoder.feed(datagram, exporter=("10.0.0.5", 40000)):
        record["sourcePodName"], record.template_id, record.observation_domain_id

What is covered: the message header (§3.1), sets with padding (§3.3), Template and Options
Template Sets (§3.4), field specifiers with the enterprise bit (§3.2), Data Sets with several
records, variable-length fields in their 1- and 3-octet length forms (§7), reduced-size
encoding on decode (§6.2), Template Withdrawal (§8.1) and per-domain sequence numbers (§3.1).
Not covered: structured data (RFC 6313 lists), SCTP streams.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from labkit.flows.ies import (
    DATA_TYPES,
    DEFAULT_REGISTRY,
    VARLEN,
    IERegistry,
    InformationElement,
    IPFIXError,
)

IPFIX_VERSION = 10  # RFC 7011 §3.1
DEFAULT_PORT = 4739  # RFC 7011 §10.3.4 / §10.4.3 (UDP and TCP; 4740 is IPFIX over TLS)
HEADER = struct.Struct("!HHIII")  # version, length, export time, sequence number, domain id
SET_HEADER = struct.Struct("!HH")  # set id, length (§3.3.2)
TEMPLATE_SET_ID = 2
OPTIONS_TEMPLATE_SET_ID = 3
MIN_DATA_SET_ID = 256  # §3.3.2: ids 4..255 are reserved
MAX_MESSAGE_SIZE = 0xFFFF  # the header's 16-bit length
_SEQUENCE_MODULO = 1 << 32
_OCTETS = DATA_TYPES["octetArray"]


# --------------------------------------------------------------------------------------------
# Templates


@dataclass(frozen=True)
class TemplateField:
    """One Field Specifier (§3.2): an IE and its length in this Template (:data:`VARLEN` for a
    variable-length field)."""

    ie: InformationElement
    length: int

    def __post_init__(self) -> None:
        dtype = self.ie.data_type
        ok = (self.length == VARLEN and dtype.is_variable_length) or (
            self.length != VARLEN and dtype.accepts_length(self.length))
        if not ok:
            allowed = "65535 (variable) or any fixed length" if dtype.is_variable_length else (
                ", ".join(map(str, sorted(dtype.lengths))))
            raise IPFIXError(f"a {dtype.name} field cannot have length {self.length}",
                             where=self.ie.name, hint=f"use {allowed}")

    @classmethod
    def of(cls, ie: InformationElement, length: int | None = None) -> TemplateField:
        return cls(ie, ie.length if length is None else length)

    @property
    def name(self) -> str:
        return self.ie.name

    @property
    def is_variable_length(self) -> bool:
        return self.length == VARLEN

    def specifier(self) -> bytes:
        """The Field Specifier: id and length, plus the enterprise number when the enterprise
        bit (the top bit of the id) is set (§3.2)."""
        if self.ie.enterprise_id:
            return struct.pack("!HHI", self.ie.element_id | 0x8000, self.length,
                               self.ie.enterprise_id)
        return struct.pack("!HH", self.ie.element_id, self.length)

    def encode(self, value: Any) -> bytes:
        data = self.ie.data_type.encode(value, self.length)
        if not self.is_variable_length:
            return data
        # §7: lengths below 255 take one octet; longer values get 255 then a 2-octet length.
        if len(data) < 255:
            return bytes((len(data),)) + data
        return b"\xff" + struct.pack("!H", len(data)) + data

    def decode(self, data: bytes) -> Any:
        """The value of ``data``; raw bytes when the exporter's length cannot be the IE's type
        (a foreign exporter's mistake must not lose the rest of the record)."""
        try:
            return self.ie.data_type.decode(data)
        except IPFIXError:
            return bytes(data)


RecordValue = Any
FieldSpec = Union[str, tuple[str, int], TemplateField]


@dataclass(frozen=True)
class Template:
    """A Template Record (§3.4.1), or an Options Template Record (§3.4.2.2) when
    ``scope_field_count`` > 0 (the first that many fields are its scope)."""

    template_id: int
    fields: tuple[TemplateField, ...]
    scope_field_count: int = 0

    def __post_init__(self) -> None:
        where = f"template {self.template_id}"
        if not MIN_DATA_SET_ID <= self.template_id <= 0xFFFF:
            raise IPFIXError("template ids are 256..65535 (§3.4.1)", where=where)
        if not self.fields:
            raise IPFIXError("a template needs at least one field (0 fields is a withdrawal)",
                             where=where)
        if len(self.fields) > 0xFFFF:
            raise IPFIXError(f"{len(self.fields)} fields is more than 65535", where=where)
        if not 0 <= self.scope_field_count <= len(self.fields):
            raise IPFIXError(f"scope field count {self.scope_field_count} is not within the "
                             f"{len(self.fields)} fields", where=where)

    @classmethod
    def from_names(cls, template_id: int, fields: Iterable[FieldSpec], *,
                   scope_field_count: int = 0,
                   registry: IERegistry = DEFAULT_REGISTRY) -> Template:
        """A template from IE names. A name may be paired with a length, ``("octetTotalCount",
        4)`` for a reduced-size field or ``("sourcePodName", 65535)``; unknown names are
        reported all at once."""
        built: list[TemplateField] = []
        problems: list[str] = []
        for spec in fields:
            try:
                if isinstance(spec, TemplateField):
                    built.append(spec)
                elif isinstance(spec, tuple):
                    built.append(TemplateField.of(registry.by_name(spec[0]), spec[1]))
                else:
                    built.append(TemplateField.of(registry.by_name(spec)))
            except IPFIXError as exc:
                problems.append(str(exc))
        if problems:
            raise IPFIXError("; ".join(problems), where=f"template {template_id}")
        return cls(template_id, tuple(built), scope_field_count)

    @property
    def is_options(self) -> bool:
        return self.scope_field_count > 0

    @property
    def set_id(self) -> int:
        """The id of the Set that carries this template's definition."""
        return OPTIONS_TEMPLATE_SET_ID if self.is_options else TEMPLATE_SET_ID

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def min_record_length(self) -> int:
        """Octets of the shortest possible record (each variable-length field takes >= 1)."""
        return sum(1 if f.is_variable_length else f.length for f in self.fields)

    def definition(self) -> bytes:
        """The Template Record (§3.4.1) or Options Template Record (§3.4.2.2), no Set header."""
        if self.is_options:
            head = struct.pack("!HHH", self.template_id, len(self.fields), self.scope_field_count)
        else:
            head = struct.pack("!HH", self.template_id, len(self.fields))
        return head + b"".join(f.specifier() for f in self.fields)

    def encode_record(self, record: Mapping[str, RecordValue]) -> bytes:
        """One Data Record (§3.4.3). Keys the template does not use are ignored. An IE that
        appears n > 1 times in the template (OVS's ``interfaceName``) takes a list of n values.
        Every missing or bad value is reported at once."""
        counts: dict[str, int] = {}
        for f in self.fields:
            counts[f.name] = counts.get(f.name, 0) + 1
        seen: dict[str, int] = {}
        chunks: list[bytes] = []
        problems: list[str] = []
        for f in self.fields:
            if f.name not in record:
                if f.name not in seen:
                    problems.append(f"{f.name} is missing")
                seen[f.name] = seen.get(f.name, 0) + 1
                continue
            value = record[f.name]
            index = seen.get(f.name, 0)
            seen[f.name] = index + 1
            if counts[f.name] > 1:
                if not isinstance(value, (list, tuple)) or len(value) != counts[f.name]:
                    problems.append(f"{f.name} appears {counts[f.name]} times in the template; "
                                    f"give a list of {counts[f.name]} values")
                    continue
                value = value[index]
            try:
                chunks.append(f.encode(value))
            except IPFIXError as exc:
                problems.append(f"{f.name}: {exc}")
        if problems:
            raise IPFIXError("; ".join(problems), where=f"record for template {self.template_id}")
        return b"".join(chunks)

    def decode_record(self, data: bytes | memoryview, offset: int,
                      end: int) -> tuple[list[tuple[str, Any]], int]:
        """Decode one record starting at ``offset``; returns its ``(name, value)`` pairs in
        template order and the offset after it. Raises :class:`IPFIXError` on overrun."""
        values: list[tuple[str, Any]] = []
        for f in self.fields:
            length = f.length
            if length == VARLEN:  # §7
                if offset >= end:
                    raise _overrun(self, f)
                length = data[offset]
                offset += 1
                if length == 255:
                    if offset + 2 > end:
                        raise _overrun(self, f)
                    length = (data[offset] << 8) | data[offset + 1]
                    offset += 2
            if offset + length > end:
                raise _overrun(self, f)
            values.append((f.name, f.decode(bytes(data[offset:offset + length]))))
            offset += length
        return values, offset


def _overrun(template: Template, f: TemplateField) -> IPFIXError:
    return IPFIXError(f"record ends inside field {f.name}",
                      where=f"data set {template.template_id}")


# --------------------------------------------------------------------------------------------
# Encoding


RecordItem = Union[Mapping[str, RecordValue], tuple[Template, Mapping[str, RecordValue]]]


def encode_messages(domain_id: int, templates: Iterable[Template] = (),
                    records: Iterable[RecordItem] = (), *,
                    sequence_number: int = 0,
                    export_time: int | None = None,
                    max_message_size: int = MAX_MESSAGE_SIZE,
                    withdrawals: Iterable[Template | int] = ()) -> list[bytes]:
    """Encode withdrawals, then template definitions, then data records into as many messages
    of at most ``max_message_size`` octets as needed, in that order.

    ``records`` holds ``(template, record)`` pairs; a bare record dict is allowed when exactly
    one template is given. Consecutive records of one template share a Data Set. The first
    message carries ``sequence_number``; each next one adds the data records sent before it
    (§3.1), so the caller's next sequence number is ``sequence_number + len(records)``.
    ``withdrawals`` are templates, or ids (withdrawn from Set 2; id 2 or 3 withdraws all
    templates or all options templates, §8.1). Only send withdrawals over TCP (§8.4).
    """
    if not HEADER.size + SET_HEADER.size <= max_message_size <= MAX_MESSAGE_SIZE:
        raise IPFIXError(f"max_message_size {max_message_size} is not within 20..65535")
    if not 0 <= domain_id < _SEQUENCE_MODULO:
        raise IPFIXError(f"observation domain id {domain_id} is not 32-bit")
    templates = list(templates)
    items: list[tuple[int, bytes]] = []  # (set id, one record or template definition)
    for w in withdrawals:
        items.append(_withdrawal(w))
    for t in templates:
        items.append((t.set_id, t.definition()))
    problems: list[str] = []
    for index, item in enumerate(records):
        if isinstance(item, tuple):
            tmpl, record = item
        elif len(templates) == 1:
            tmpl, record = templates[0], item
        else:
            raise IPFIXError("records must be (template, record) pairs unless exactly one "
                             f"template is given ({len(templates)} were)", where=f"record {index}")
        try:
            items.append((tmpl.template_id, tmpl.encode_record(record)))
        except IPFIXError as exc:
            problems.append(f"record {index}: {exc}")
    if problems:
        raise IPFIXError("; ".join(problems), hint="nothing was encoded")
    when = int(time.time()) if export_time is None else export_time
    return _pack(domain_id, items, sequence_number % _SEQUENCE_MODULO, when, max_message_size)


def encode_message(domain_id: int, templates: Iterable[Template] = (),
                   records: Iterable[RecordItem] = (), **options: Any) -> bytes:
    """Like :func:`encode_messages`, for content that must fit in one message."""
    messages = encode_messages(domain_id, templates, records, **options)
    if len(messages) != 1:
        raise IPFIXError(f"the content needs {len(messages)} messages, not one",
                         hint="use encode_messages() or raise max_message_size")
    return messages[0]


def _withdrawal(w: Template | int) -> tuple[int, bytes]:
    if isinstance(w, Template):
        return (w.set_id, struct.pack("!HH", w.template_id, 0))
    if w in (TEMPLATE_SET_ID, OPTIONS_TEMPLATE_SET_ID):  # withdraw all of that kind (§8.1)
        return (w, struct.pack("!HH", w, 0))
    if not MIN_DATA_SET_ID <= w <= 0xFFFF:
        raise IPFIXError(f"cannot withdraw template id {w}", hint="ids are 256..65535, or 2/3 for all")
    return (TEMPLATE_SET_ID, struct.pack("!HH", w, 0))


def _pack(domain_id: int, items: list[tuple[int, bytes]], sequence_number: int,
          export_time: int, max_size: int) -> list[bytes]:
    messages: list[bytes] = []
    sets: list[tuple[int, list[bytes]]] = []
    size = HEADER.size
    data_records = 0  # in the messages already closed

    def close() -> None:
        nonlocal sets, size, data_records
        body = b"".join(SET_HEADER.pack(set_id, SET_HEADER.size + sum(map(len, parts)))
                        + b"".join(parts) for set_id, parts in sets)
        sequence = (sequence_number + data_records) % _SEQUENCE_MODULO
        messages.append(HEADER.pack(IPFIX_VERSION, HEADER.size + len(body), export_time,
                                    sequence, domain_id) + body)
        data_records += sum(len(parts) for set_id, parts in sets if set_id >= MIN_DATA_SET_ID)
        sets, size = [], HEADER.size

    for set_id, data in items:
        if HEADER.size + SET_HEADER.size + len(data) > max_size:
            raise IPFIXError(f"a {len(data)}-octet entry for set {set_id} cannot fit in a "
                             f"{max_size}-octet message", hint="raise max_message_size")
        same_set = bool(sets) and sets[-1][0] == set_id
        needed = len(data) + (0 if same_set else SET_HEADER.size)
        if size + needed > max_size:
            close()
            same_set, needed = False, len(data) + SET_HEADER.size
        if same_set:
            sets[-1][1].append(data)
        else:
            sets.append((set_id, [data]))
        size += needed
    if sets or not messages:
        close()
    return messages


# --------------------------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True)
class MessageHeader:
    """The 16-octet message header (§3.1). ``export_time`` is in seconds since the epoch."""

    version: int
    length: int
    export_time: int
    sequence_number: int
    observation_domain_id: int


class DecodedRecord(Mapping[str, Any]):
    """A decoded Data Record: a read-only mapping from IE name to value, plus where it came
    from. An IE sent twice in one record (OVS's ``interfaceName``) maps to its first value;
    :meth:`getall` returns every value, :attr:`fields` keeps them in template order."""

    __slots__ = ("fields", "exporter", "observation_domain_id", "template_id", "export_time",
                 "sequence_number", "is_options", "_first")

    def __init__(self, fields: Sequence[tuple[str, Any]], *, exporter: Hashable,
                 observation_domain_id: int, template_id: int, export_time: int,
                 sequence_number: int, is_options: bool = False) -> None:
        self.fields: tuple[tuple[str, Any], ...] = tuple(fields)
        self.exporter = exporter
        self.observation_domain_id = observation_domain_id
        self.template_id = template_id
        self.export_time = export_time
        self.sequence_number = sequence_number
        self.is_options = is_options
        first: dict[str, Any] = {}
        for name, value in self.fields:
            first.setdefault(name, value)
        self._first = first

    def __getitem__(self, name: str) -> Any:
        return self._first[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getall(self, name: str) -> list[Any]:
        """Every value of IE ``name`` in this record, in template order."""
        return [value for n, value in self.fields if n == name]

    def __repr__(self) -> str:
        return (f"DecodedRecord(domain={self.observation_domain_id}, "
                f"template={self.template_id}, {self._first!r})")


@dataclass(frozen=True)
class SequenceGap:
    """A message whose sequence number was not the one expected (§3.1): records were lost
    (UDP), reordered, or the exporter restarted."""

    exporter: Hashable
    observation_domain_id: int
    expected: int
    received: int

    @property
    def missing_records(self) -> int:
        return (self.received - self.expected) % _SEQUENCE_MODULO


@dataclass
class _Stream:
    next_sequence: int | None = None


TemplateKey = tuple[Hashable, int, int]  # (exporter, observation domain id, template id)


class Decoder:
    """Decodes IPFIX messages, keeping templates per (exporter, observation domain, template
    id) as §8 requires. ``exporter`` is whatever identifies the transport session: the UDP
    source ``(host, port)``, or a TCP connection.

    Data Sets whose template is unknown are skipped and counted in :attr:`unknown_sets`
    (over UDP templates come round again, §8.4); sequence discontinuities are listed in
    :attr:`sequence_gaps`. Malformed messages raise :class:`IPFIXError`.
    """

    def __init__(self, registry: IERegistry = DEFAULT_REGISTRY) -> None:
        self.registry = registry
        self._templates: dict[TemplateKey, Template] = {}
        self._streams: dict[tuple[Hashable, int], _Stream] = {}
        self.sequence_gaps: list[SequenceGap] = []
        self.unknown_sets = 0
        self.messages = 0

    @property
    def templates(self) -> dict[TemplateKey, Template]:
        """A copy of the current templates."""
        return dict(self._templates)

    def template(self, exporter: Hashable, domain_id: int, template_id: int) -> Template | None:
        return self._templates.get((exporter, domain_id, template_id))

    def forget(self, exporter: Hashable) -> None:
        """Drop the templates and sequence state of ``exporter``: its transport session ended
        and templates do not outlive a session (§8)."""
        self._templates = {k: v for k, v in self._templates.items() if k[0] != exporter}
        self._streams = {k: v for k, v in self._streams.items() if k[0] != exporter}

    def feed(self, data: bytes | bytearray | memoryview, exporter: Hashable = None) -> list[DecodedRecord]:
        """Decode one or more complete, concatenated messages; returns their data records."""
        view = memoryview(bytes(data))
        records: list[DecodedRecord] = []
        offset = 0
        while offset < len(view):
            header = parse_header(view[offset:], where=f"message at octet {offset}")
            if offset + header.length > len(view):
                raise IPFIXError(f"message says {header.length} octets but only "
                                 f"{len(view) - offset} arrived", where=f"octet {offset}")
            records += self._decode_message(view[offset:offset + header.length], header, exporter)
            offset += header.length
        return records

    def feed_frame(self, data: bytes | bytearray | memoryview | Iterable[bytes],
                   exporter: Hashable = None, *, schema: str = "flows", strings: str = "str",
                   stats: Any = None) -> Any:
        """Decode a batch straight into a pandas DataFrame, two orders of magnitude faster
        than :meth:`feed` (see :mod:`labkit.flows.fastdecode`): ``data`` is a byte stream of
        messages or a list of datagrams; ``schema="flows"`` gives
        :func:`~labkit.flows.records.records_to_frame`'s frame, ``"ies"`` a column per IE.
        Templates, counters and sequence gaps are this decoder's, as with :meth:`feed`; a
        malformed message (a datagram, for a list) is skipped and reported in ``stats``
        (a :class:`~labkit.flows.fastdecode.FrameStats`) instead of raising."""
        from labkit.flows.fastdecode import decode_frame

        return decode_frame(data, self, exporter, schema=schema, strings=strings,  # type: ignore[arg-type]
                            stats=stats)

    def _decode_message(self, msg: memoryview, header: MessageHeader,
                        exporter: Hashable) -> list[DecodedRecord]:
        self.messages += 1
        domain = header.observation_domain_id
        records: list[DecodedRecord] = []
        complete = True  # every data set could be decoded, so the record count is exact
        for set_id, start, end in _sets(msg, header):
            if set_id in (TEMPLATE_SET_ID, OPTIONS_TEMPLATE_SET_ID):
                self._read_templates(msg, set_id, start, end, exporter, domain)
            elif set_id >= MIN_DATA_SET_ID:
                tmpl = self._templates.get((exporter, domain, set_id))
                if tmpl is None:
                    self.unknown_sets += 1
                    complete = False
                    continue
                for fields in _records(msg, tmpl, start, end):
                    records.append(DecodedRecord(
                        fields, exporter=exporter, observation_domain_id=domain,
                        template_id=set_id, export_time=header.export_time,
                        sequence_number=header.sequence_number, is_options=tmpl.is_options))
            # Set ids 0, 1 (NetFlow v9) and 4..255 are reserved (§3.3.2): skipped.
        self._check_sequence(exporter, header, len(records) if complete else None)
        return records

    def _check_sequence(self, exporter: Hashable, header: MessageHeader,
                        record_count: int | None) -> None:
        stream = self._streams.setdefault((exporter, header.observation_domain_id), _Stream())
        if stream.next_sequence is not None and stream.next_sequence != header.sequence_number:
            self.sequence_gaps.append(SequenceGap(exporter, header.observation_domain_id,
                                                  stream.next_sequence, header.sequence_number))
        stream.next_sequence = None if record_count is None else (
            (header.sequence_number + record_count) % _SEQUENCE_MODULO)

    def _read_templates(self, msg: memoryview, set_id: int, offset: int, end: int,
                        exporter: Hashable, domain: int) -> None:
        where = f"template set in domain {domain}"
        while end - offset >= 4:
            template_id, count = struct.unpack_from("!HH", msg, offset)
            if count == 0:  # §8.1 Template Withdrawal
                if template_id == 0 and not any(msg[offset:end]):
                    return  # zero padding (§3.3.1)
                offset += 4
                if set_id == OPTIONS_TEMPLATE_SET_ID and bytes(msg[offset:offset + 2]) == b"\0\0":
                    offset += 2  # some exporters (python-ipfix) add a zero scope count
                if template_id == set_id:  # all templates of this kind
                    for key, tmpl in list(self._templates.items()):
                        if key[:2] == (exporter, domain) and tmpl.set_id == set_id:
                            del self._templates[key]
                elif template_id >= MIN_DATA_SET_ID:
                    self._templates.pop((exporter, domain, template_id), None)
                else:
                    raise IPFIXError(f"cannot withdraw reserved template id {template_id}",
                                     where=where)
                continue
            if template_id < MIN_DATA_SET_ID:
                if not any(msg[offset:end]):
                    return  # zero padding (§3.3.1)
                raise IPFIXError(f"template id {template_id} is reserved", where=where)
            offset += 4
            scope = 0
            if set_id == OPTIONS_TEMPLATE_SET_ID:
                if offset + 2 > end:
                    raise IPFIXError("options template header is cut short", where=where)
                (scope,) = struct.unpack_from("!H", msg, offset)
                offset += 2
                if scope == 0:
                    raise IPFIXError(f"options template {template_id} has no scope field "
                                     "(§3.4.2.2 requires one)", where=where)
            fields: list[TemplateField] = []
            for _ in range(count):
                if offset + 4 > end:
                    raise IPFIXError(f"template {template_id} is cut short", where=where)
                element_id, length = struct.unpack_from("!HH", msg, offset)
                offset += 4
                enterprise = 0
                if element_id & 0x8000:  # §3.2: enterprise bit, then a 4-octet number
                    if offset + 4 > end:
                        raise IPFIXError(f"template {template_id} is cut short", where=where)
                    (enterprise,) = struct.unpack_from("!I", msg, offset)
                    offset += 4
                    element_id &= 0x7FFF
                fields.append(self._field(enterprise, element_id, length))
            if scope > len(fields):
                raise IPFIXError(f"options template {template_id} has {scope} scope fields "
                                 f"but {len(fields)} fields", where=where)
            self._templates[(exporter, domain, template_id)] = Template(template_id, tuple(fields), scope)

    def _field(self, enterprise: int, element_id: int, length: int) -> TemplateField:
        ie = self.registry.for_key(enterprise, element_id)
        try:
            return TemplateField(ie, length)
        except IPFIXError:
            # The exporter gave the IE a length its type cannot have: keep the field, as raw
            # bytes under the IE's name, rather than reject the whole template.
            return TemplateField(InformationElement(ie.name, element_id, _OCTETS, enterprise),
                                 length)


def parse_header(data: bytes | memoryview, where: str = "message") -> MessageHeader:
    """The message header (§3.1); checks the version and length fields."""
    if len(data) < HEADER.size:
        raise IPFIXError(f"{len(data)} octets is shorter than a message header", where=where)
    header = MessageHeader(*HEADER.unpack_from(data, 0))
    if header.version != IPFIX_VERSION:
        hint = "this is NetFlow v9, not IPFIX" if header.version == 9 else (
            "is the sender an IPFIX exporter, and the port the IPFIX one?")
        raise IPFIXError(f"version {header.version} is not IPFIX (10)", where=where, hint=hint)
    if header.length < HEADER.size:
        raise IPFIXError(f"length {header.length} is shorter than the header", where=where)
    return header


def split_stream(buffer: bytes | bytearray) -> tuple[list[bytes], bytes]:
    """Frame a TCP byte stream (§10.4): the complete messages at its start, and the rest."""
    messages: list[bytes] = []
    offset = 0
    while len(buffer) - offset >= HEADER.size:
        header = parse_header(memoryview(buffer)[offset:], where=f"stream octet {offset}")
        if len(buffer) - offset < header.length:
            break
        messages.append(bytes(buffer[offset:offset + header.length]))
        offset += header.length
    return messages, bytes(buffer[offset:])


def _sets(msg: memoryview, header: MessageHeader) -> Iterator[tuple[int, int, int]]:
    offset = HEADER.size
    while offset < header.length:
        if header.length - offset < SET_HEADER.size:
            raise IPFIXError("message ends inside a set header",
                             where=f"octet {offset} of domain {header.observation_domain_id}")
        set_id, length = SET_HEADER.unpack_from(msg, offset)
        if length < SET_HEADER.size or offset + length > header.length:
            raise IPFIXError(f"set {set_id} says {length} octets, which does not fit the "
                             "message", where=f"octet {offset} of domain "
                                          f"{header.observation_domain_id}")
        yield set_id, offset + SET_HEADER.size, offset + length
        offset += length


def _records(msg: memoryview, tmpl: Template, offset: int, end: int) -> Iterator[list[tuple[str, Any]]]:
    # §3.3.1: records follow each other; whatever is left that is shorter than the shortest
    # record is padding. A variable-length record can only be told from padding by trying.
    minimum = max(tmpl.min_record_length, 1)
    while end - offset >= minimum:
        try:
            fields, after = tmpl.decode_record(msg, offset, end)
        except IPFIXError:
            if not any(msg[offset:end]):
                return  # zero padding
            raise
        yield fields
        offset = after


__all__ = [
    "DEFAULT_PORT",
    "DecodedRecord",
    "Decoder",
    "IPFIXError",
    "IPFIX_VERSION",
    "MAX_MESSAGE_SIZE",
    "MessageHeader",
    "OPTIONS_TEMPLATE_SET_ID",
    "SequenceGap",
    "TEMPLATE_SET_ID",
    "Template",
    "TemplateField",
    "encode_message",
    "encode_messages",
    "parse_header",
    "split_stream",
]
