"""What an IPFIX Collecting Process keeps between messages: templates and sequence numbers.

RFC 7011 §8: templates are kept per Transport Session and Observation Domain, here keyed
``(exporter, observation domain id, template id)`` where ``exporter`` identifies the transport
session (the UDP source, or a TCP connection); they change with Template and Options Template
Sets and with withdrawals (§8.1), and die with their session. §3.1: each (session, domain)
stream numbers its data records; a message whose sequence number is not the expected one is a
:class:`SequenceGap`.

:class:`SessionState` is that state, shared by the two decoders built on it: the record path
(:class:`~labkit.flows.ipfix.Decoder`) and the batch path (:mod:`~labkit.flows.fastdecode`),
so both apply templates, withdrawals and sequence numbers in exactly one way.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Hashable
from dataclasses import dataclass

from labkit.flows.ies import DATA_TYPES, DEFAULT_REGISTRY, IERegistry, InformationElement, IPFIXError
from labkit.flows.wire import (
    MIN_DATA_SET_ID,
    OPTIONS_TEMPLATE_SET_ID,
    SEQUENCE_MODULO,
    Template,
    TemplateField,
)

_OCTETS = DATA_TYPES["octetArray"]

TemplateKey = tuple[Hashable, int, int]  # (exporter, observation domain id, template id)
StreamKey = tuple[Hashable, int]  # (exporter, observation domain id)

# State limits (RFC 7011 §11.4: a Collecting Process limits the state a peer can make it keep).
# Antrea's agents send 2 templates of <= 64 fields, OVS a few per bridge: a lab holds a few
# thousand Field Specifiers; a peer inventing Observation Domains must not hold unbounded memory.
MAX_TEMPLATE_FIELDS = 1 << 18  # Field Specifiers over all templates held (~60 MB at most)
MAX_STREAMS = 1 << 16  # (exporter, domain) sequence counters; the oldest is forgotten first
MAX_SEQUENCE_GAPS = 10_000  # the latest gaps kept; sequence_gap_count counts them all


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
        return (self.received - self.expected) % SEQUENCE_MODULO


class SessionState:
    """Templates per (exporter, domain, template id), the next expected sequence number per
    (exporter, domain), and what decoding met so far: :attr:`messages` decoded,
    :attr:`unknown_sets` (data sets before their template) and :attr:`sequence_gaps` (the
    latest :data:`MAX_SEQUENCE_GAPS`; :attr:`sequence_gap_count` counts all).

    Bounded (§11.4): a template that would make the templates held exceed
    ``max_template_fields`` Field Specifiers is refused (:class:`IPFIXError`); past
    :data:`MAX_STREAMS` streams, the oldest stream's sequence state is forgotten (its next
    message is then not checked)."""

    def __init__(self, registry: IERegistry = DEFAULT_REGISTRY, *,
                 max_template_fields: int = MAX_TEMPLATE_FIELDS) -> None:
        self.registry = registry
        self.max_template_fields = max_template_fields
        self._templates: dict[TemplateKey, Template] = {}
        self._fields_held = 0
        self._next_sequence: dict[StreamKey, int | None] = {}
        self.sequence_gaps: collections.deque[SequenceGap] = collections.deque(maxlen=MAX_SEQUENCE_GAPS)
        self.sequence_gap_count = 0
        self.unknown_sets = 0
        self.messages = 0

    # -- templates ------------------------------------------------------------------------------

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
        self._fields_held = sum(len(t.fields) for t in self._templates.values())
        self._next_sequence = {k: v for k, v in self._next_sequence.items() if k[0] != exporter}

    def read_template_set(self, msg: memoryview, set_id: int, offset: int, end: int,
                          exporter: Hashable, domain: int) -> None:
        """Apply the Template or Options Template Set ``msg[offset:end]`` (§3.4.1, §3.4.2.2):
        definitions, withdrawals (§8.1) and padding (§3.3.1), in order. Raises
        :class:`IPFIXError` at the first malformed record; the ones before it stay applied."""
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
                            self._drop(key)
                elif template_id >= MIN_DATA_SET_ID:
                    self._drop((exporter, domain, template_id))
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
            self._store((exporter, domain, template_id), Template(template_id, tuple(fields), scope),
                        where)

    def _store(self, key: TemplateKey, template: Template, where: str) -> None:
        old = self._templates.get(key)
        held = self._fields_held - (len(old.fields) if old is not None else 0) + len(template.fields)
        if held > self.max_template_fields:
            raise IPFIXError(f"template {template.template_id} would make the templates held "
                             f"{held} Field Specifiers, more than the limit of "
                             f"{self.max_template_fields} (RFC 7011 §11.4)", where=where,
                             hint="end idle exporters' sessions, or raise max_template_fields")
        self._templates[key] = template
        self._fields_held = held

    def _drop(self, key: TemplateKey) -> None:
        old = self._templates.pop(key, None)
        if old is not None:
            self._fields_held -= len(old.fields)

    def _field(self, enterprise: int, element_id: int, length: int) -> TemplateField:
        ie = self.registry.for_key(enterprise, element_id)
        try:
            return TemplateField(ie, length)
        except IPFIXError:
            # The exporter gave the IE a length its type cannot have: keep the field, as raw
            # bytes under the IE's name, rather than reject the whole template.
            return TemplateField(InformationElement(ie.name, element_id, _OCTETS, enterprise),
                                 length)

    # -- sequence numbers (§3.1) ----------------------------------------------------------------

    def next_sequence(self, exporter: Hashable, domain: int) -> int | None:
        """The sequence number the next message of this stream should carry (None: unknown,
        the stream is new or the last message's record count was not known)."""
        return self._next_sequence.get((exporter, domain))

    def check_sequence(self, exporter: Hashable, domain: int, sequence_number: int,
                       record_count: int | None) -> None:
        """Note a message of ``record_count`` data records (None if some of its data sets
        could not be decoded): a :class:`SequenceGap` if its number is not the expected one."""
        expected = self._next_sequence.get((exporter, domain))
        if expected is not None and expected != sequence_number:
            self.note_gap(SequenceGap(exporter, domain, expected, sequence_number))
        self.set_next_sequence(exporter, domain, None if record_count is None else (
            (sequence_number + record_count) % SEQUENCE_MODULO))

    def set_next_sequence(self, exporter: Hashable, domain: int, value: int | None) -> None:
        key = (exporter, domain)
        if key not in self._next_sequence and len(self._next_sequence) >= MAX_STREAMS:
            del self._next_sequence[next(iter(self._next_sequence))]  # the oldest stream
        self._next_sequence[key] = value

    def note_gap(self, gap: SequenceGap) -> None:
        self.sequence_gaps.append(gap)
        self.sequence_gap_count += 1


__all__ = ["MAX_SEQUENCE_GAPS", "MAX_STREAMS", "MAX_TEMPLATE_FIELDS", "SequenceGap", "SessionState",
           "StreamKey", "TemplateKey"]
