"""The IPFIX (RFC 7011) Collecting Process's decoder: messages in, Data Records out.

Decode, keeping templates per ``(exporter, observation domain, template id)``::

    decoder = Decoder()
    for record in decoder.feed(datagram, exporter=("10.0.0.5", 40000)):
        record["sourcePodName"], record.template_id, record.observation_domain_id

    frame = decoder.feed_frame(datagrams)      # a whole batch into a DataFrame, much faster

The wire format (templates, encoding, headers) is :mod:`.wire`'s and the state kept between
messages (templates, sequence numbers) :mod:`.session`'s; this module re-exports the wire
names users need, so ``from labkit.flows.ipfix import Template, encode_messages`` keeps working.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from labkit.flows.ies import DEFAULT_REGISTRY, IERegistry, IPFIXError
from labkit.flows.session import MAX_TEMPLATE_FIELDS, SequenceGap, SessionState, TemplateKey
from labkit.flows.wire import (
    DEFAULT_PORT,
    IPFIX_VERSION,
    MAX_MESSAGE_SIZE,
    MIN_DATA_SET_ID,
    OPTIONS_TEMPLATE_SET_ID,
    TEMPLATE_SET_ID,
    MessageHeader,
    Template,
    TemplateField,
    encode_message,
    encode_messages,
    iter_records,
    iter_sets,
    parse_header,
    split_stream,
)


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


class Decoder:
    """Decodes IPFIX messages, keeping templates per (exporter, observation domain, template
    id) as §8 requires. ``exporter`` is whatever identifies the transport session: the UDP
    source ``(host, port)``, or a TCP connection.

    Data Sets whose template is unknown are skipped and counted in :attr:`unknown_sets`
    (over UDP templates come round again, §8.4); sequence discontinuities are listed in
    :attr:`sequence_gaps`. Malformed messages raise :class:`IPFIXError`. The templates,
    sequence numbers and counters are :attr:`state` (a :class:`~labkit.flows.session.SessionState`),
    which :meth:`feed` and :meth:`feed_frame` share.
    """

    def __init__(self, registry: IERegistry = DEFAULT_REGISTRY, *,
                 max_template_fields: int = MAX_TEMPLATE_FIELDS) -> None:
        self.state = SessionState(registry, max_template_fields=max_template_fields)

    @property
    def registry(self) -> IERegistry:
        return self.state.registry

    @property
    def templates(self) -> dict[TemplateKey, Template]:
        """A copy of the current templates."""
        return self.state.templates

    @property
    def sequence_gaps(self) -> list[SequenceGap]:
        """The latest sequence gaps (at most :data:`~labkit.flows.session.MAX_SEQUENCE_GAPS`)."""
        return list(self.state.sequence_gaps)

    @property
    def unknown_sets(self) -> int:
        return self.state.unknown_sets

    @property
    def messages(self) -> int:
        return self.state.messages

    def template(self, exporter: Hashable, domain_id: int, template_id: int) -> Template | None:
        return self.state.template(exporter, domain_id, template_id)

    def forget(self, exporter: Hashable) -> None:
        """Drop the templates and sequence state of ``exporter``: its transport session ended
        and templates do not outlive a session (§8)."""
        self.state.forget(exporter)

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

        return decode_frame(data, self.state, exporter, schema=schema, strings=strings,  # type: ignore[arg-type]
                            stats=stats)

    def _decode_message(self, msg: memoryview, header: MessageHeader,
                        exporter: Hashable) -> list[DecodedRecord]:
        state = self.state
        state.messages += 1
        domain = header.observation_domain_id
        records: list[DecodedRecord] = []
        complete = True  # every data set could be decoded, so the record count is exact
        for set_id, start, end in iter_sets(msg, header):
            if set_id in (TEMPLATE_SET_ID, OPTIONS_TEMPLATE_SET_ID):
                state.read_template_set(msg, set_id, start, end, exporter, domain)
            elif set_id >= MIN_DATA_SET_ID:
                tmpl = state.template(exporter, domain, set_id)
                if tmpl is None:
                    state.unknown_sets += 1
                    complete = False
                    continue
                for fields in iter_records(msg, tmpl, start, end):
                    records.append(DecodedRecord(
                        fields, exporter=exporter, observation_domain_id=domain,
                        template_id=set_id, export_time=header.export_time,
                        sequence_number=header.sequence_number, is_options=tmpl.is_options))
            # Set ids 0, 1 (NetFlow v9) and 4..255 are reserved (§3.3.2): skipped.
        state.check_sequence(exporter, domain, header.sequence_number,
                             len(records) if complete else None)
        return records


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
