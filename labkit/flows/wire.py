"""IPFIX on the wire (RFC 7011): message and set headers, Field Specifiers, Templates, the
encoding of records into messages, and the walks over a received message's sets and records.

Describe, then encode::

    tmpl = Template.from_names(256, ["sourceIPv4Address", "destinationIPv4Address",
                                     "packetDeltaCount", "sourcePodName"])
    messages = encode_messages(domain_id=1, templates=[tmpl],
                               records=[(tmpl, {"sourceIPv4Address": "10.0.0.1", ...})])

This module holds no state: what a Collecting Process keeps between messages (templates,
sequence numbers) is :mod:`.session`'s, and :class:`~labkit.flows.ipfix.Decoder` puts the two
together.

What is covered: the message header (§3.1), sets with padding (§3.3), Template and Options
Template Sets (§3.4), field specifiers with the enterprise bit (§3.2), Data Sets with several
records, variable-length fields in their 1- and 3-octet length forms (§7), reduced-size
encoding on decode (§6.2), Template Withdrawal (§8.1). Not covered: structured data (RFC 6313
lists), SCTP streams.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from labkit.flows.ies import (
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
SEQUENCE_MODULO = 1 << 32  # §3.1: sequence numbers count modulo 2**32


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
        # Every record must take at least one octet per field. RFC 7011 tells records from
        # padding, and counts them, by the minimum record length (§3.3.1: padding is shorter
        # than any record; §9: padding = (Set length - 4) modulo the minimum record size), and a
        # Data Record consists of Field Values (§3.4.3): a template whose fields all have
        # fixed length 0 makes records of 0 octets, and a Data Set of them never ends (other
        # collectors looped on it: nfcapd 1.7.1, netflow_parser#56). Fields of fixed length 0
        # next to longer ones carry nothing either; a few are tolerated, but not so many that
        # a record of n octets would stand for more than n values (a 64 KiB message could
        # otherwise decode into a billion values, §11.4).
        minimum = self.min_record_length
        if len(self.fields) > minimum:
            empty = sum(1 for f in self.fields if f.length == 0)
            what = ("its records would be empty" if minimum == 0 else
                    f"its {len(self.fields)} fields fit in {minimum} octets")
            raise IPFIXError(f"{what}: it has {empty} field{'s' if empty != 1 else ''} of fixed length 0 (RFC 7011 "
                             "§3.3.1, §3.4.3, §9: a record must take at least one octet per "
                             "field)", where=where,
                             hint="the exporter must give every field a length > 0, or 65535 "
                                  "for a variable-length field (§7)")

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


EncodedItem = tuple[int, bytes]  # (set id, one encoded data record or template definition)


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
    Every problem (a bad value, a record longer than a message) is reported at once, in one
    :class:`IPFIXError`, and then nothing is encoded.
    """
    _check_message_options(domain_id, max_message_size)
    templates = list(templates)
    items = template_items(templates, withdrawals)
    items += encode_records(records, templates, max_message_size=max_message_size)
    return pack_messages(domain_id, items, sequence_number=sequence_number, export_time=export_time,
                         max_message_size=max_message_size)


def template_items(templates: Iterable[Template], withdrawals: Iterable[Template | int] = ()
                   ) -> list[EncodedItem]:
    """Withdrawals (§8.1), then template definitions (§3.4.1, §3.4.2.2), for :func:`pack_messages`."""
    return [_withdrawal(w) for w in withdrawals] + [(t.set_id, t.definition()) for t in templates]


def encode_records(records: Iterable[RecordItem], templates: Iterable[Template] = (), *,
                   max_message_size: int | None = None, first_index: int = 0) -> list[EncodedItem]:
    """Encode data records (§3.4.3) for :func:`pack_messages`, without sending or numbering
    anything. ``records`` as for :func:`encode_messages`. Raises one :class:`IPFIXError`
    listing every record that cannot be encoded and, given ``max_message_size``, every record
    too long to fit a message of that size (a record cannot span messages: it sits in a Set,
    and a Set in one message, §3.3). Records are named by their index plus ``first_index``."""
    templates = list(templates)
    items: list[EncodedItem] = []
    problems: list[str] = []
    for index, item in enumerate(records, first_index):
        if isinstance(item, tuple):
            tmpl, record = item
        elif len(templates) == 1:
            tmpl, record = templates[0], item
        else:
            raise IPFIXError("records must be (template, record) pairs unless exactly one "
                             f"template is given ({len(templates)} were)", where=f"record {index}")
        try:
            data = tmpl.encode_record(record)
        except IPFIXError as exc:
            problems.append(f"record {index}: {exc}")
            continue
        if max_message_size is not None and HEADER.size + SET_HEADER.size + len(data) > max_message_size:
            problems.append(f"record {index} is {len(data)} octets: with the message and set "
                            f"headers ({HEADER.size + SET_HEADER.size}) it cannot fit a "
                            f"{max_message_size}-octet message")
            continue
        items.append((tmpl.template_id, data))
    if problems:
        raise IPFIXError("; ".join(problems), hint="nothing was encoded")
    return items


def pack_messages(domain_id: int, items: Iterable[EncodedItem], *, sequence_number: int = 0,
                  export_time: int | None = None,
                  max_message_size: int = MAX_MESSAGE_SIZE) -> list[bytes]:
    """Messages (§3.1) of at most ``max_message_size`` octets holding ``items`` in order,
    consecutive items of one set id sharing a Set (§3.3); see :func:`encode_messages`."""
    _check_message_options(domain_id, max_message_size)
    when = int(time.time()) if export_time is None else export_time
    return _pack(domain_id, list(items), sequence_number % SEQUENCE_MODULO, when, max_message_size)


def encode_message(domain_id: int, templates: Iterable[Template] = (),
                   records: Iterable[RecordItem] = (), **options: Any) -> bytes:
    """Like :func:`encode_messages`, for content that must fit in one message."""
    messages = encode_messages(domain_id, templates, records, **options)
    if len(messages) != 1:
        raise IPFIXError(f"the content needs {len(messages)} messages, not one",
                         hint="use encode_messages() or raise max_message_size")
    return messages[0]


def _check_message_options(domain_id: int, max_message_size: int) -> None:
    if not HEADER.size + SET_HEADER.size <= max_message_size <= MAX_MESSAGE_SIZE:
        raise IPFIXError(f"max_message_size {max_message_size} is not within 20..65535")
    if not 0 <= domain_id < SEQUENCE_MODULO:
        raise IPFIXError(f"observation domain id {domain_id} is not 32-bit")


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
        sequence = (sequence_number + data_records) % SEQUENCE_MODULO
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
# Decoding: headers, sets and records of one message


@dataclass(frozen=True)
class MessageHeader:
    """The 16-octet message header (§3.1). ``export_time`` is in seconds since the epoch."""

    version: int
    length: int
    export_time: int
    sequence_number: int
    observation_domain_id: int


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


def iter_sets(msg: memoryview, header: MessageHeader) -> Iterator[tuple[int, int, int]]:
    """``(set id, first octet after the set header, end)`` of each set of the message (§3.3.2).
    Raises :class:`IPFIXError` when a set header or a set does not fit the message."""
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


def iter_records(msg: memoryview, tmpl: Template, offset: int, end: int) -> Iterator[list[tuple[str, Any]]]:
    """The ``(name, value)`` pairs of each Data Record of ``tmpl`` in ``msg[offset:end]``."""
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
        if after <= offset:  # Template refuses records of 0 octets; never loop on one anyway
            raise IPFIXError("a record of 0 octets cannot end the set",
                             where=f"data set {tmpl.template_id}")
        yield fields
        offset = after



__all__ = [
    "DEFAULT_PORT",
    "EncodedItem",
    "HEADER",
    "IPFIX_VERSION",
    "MAX_MESSAGE_SIZE",
    "MIN_DATA_SET_ID",
    "MessageHeader",
    "OPTIONS_TEMPLATE_SET_ID",
    "RecordItem",
    "SEQUENCE_MODULO",
    "SET_HEADER",
    "TEMPLATE_SET_ID",
    "Template",
    "TemplateField",
    "encode_message",
    "encode_messages",
    "encode_records",
    "iter_records",
    "iter_sets",
    "pack_messages",
    "parse_header",
    "split_stream",
    "template_items",
]
