"""The transport end of an antrea-agent's Flow Exporter: one Node's records, as IPFIX.

::

    with FlowExporter("kind-worker", *service.address, protocol="tcp") as exporter:
        exporter.export(records)

    export_records(run.exports, *service.address)   # every Node of a sim run, one exporter each

``export_records`` is all or nothing: it encodes and checks every record before sending any, and
a record that cannot go out (over UDP: one longer than a 1,400-octet message) raises, naming it.

As in Antrea (pkg/agent/flowexporter/exporter): one IPFIX exporting process per agent, whose
Observation Domain ID is the 32-bit FNV-1 hash of the Node name (``genObservationID``, Go's
``fnv.New32``), with
one template per IP family (256 IPv4, 257 IPv6), sent over UDP or TCP to the Flow Aggregator
(``flowCollectorAddr``, port 4739 by default; TLS and gRPC are not reproduced).
"""

from __future__ import annotations

from collections.abc import Iterable

from labkit.flows.ies import IPFIXError
from labkit.flows.records import ExportedRecord, FlowRecord, flow_record_template
from labkit.flows.transport import EncodedRecords, IPFIXExporter, Protocol
from labkit.flows.wire import DEFAULT_PORT

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def observation_domain_id(node_name: str) -> int:
    """Antrea's ``genObservationID``: FNV-1 (32 bit: multiply, then xor) of the Node name."""
    h = _FNV32_OFFSET
    for byte in node_name.encode():
        h = ((h * _FNV32_PRIME) & 0xFFFFFFFF) ^ byte
    return h


class FlowExporter:
    """Exports one Node's :class:`~labkit.flows.records.FlowRecord` objects over IPFIX."""

    def __init__(self, node_name: str, host: str, port: int = DEFAULT_PORT, *, protocol: Protocol = "udp",
                 **options: object) -> None:
        self.node_name = node_name
        self._templates = {4: flow_record_template(ipv6=False), 6: flow_record_template(ipv6=True)}
        self.ipfix = IPFIXExporter(host, port, protocol=protocol, domain_id=observation_domain_id(node_name),
                                   templates=list(self._templates.values()), **options)  # type: ignore[arg-type]
        self.records_sent = 0

    def start(self) -> FlowExporter:
        self.ipfix.start()
        return self

    def close(self) -> None:
        self.ipfix.close()

    def __enter__(self) -> FlowExporter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def export(self, records: Iterable[FlowRecord]) -> int:
        """Send records; returns the number of IPFIX messages. A record that cannot be sent
        (see :meth:`encode`) raises before anything is sent."""
        return self.send(self.encode(records))

    def encode(self, records: Iterable[FlowRecord], *, first_index: int = 0) -> EncodedRecords:
        """Encode records for :meth:`send`, sending nothing; raises one :class:`IPFIXError`
        naming every record that cannot be encoded or is longer than one message (over UDP,
        1,400 octets: a record with long strings, e.g. Pod labels, needs TCP). Records are
        named by their index, counted from ``first_index``."""
        return self.ipfix.encode([(self._templates[r.ip_version], r.to_ipfix()) for r in records],
                                 first_index=first_index)

    def send(self, records: EncodedRecords) -> int:
        """Send what :meth:`encode` prepared; returns the number of IPFIX messages."""
        if not len(records):
            return 0
        messages = self.ipfix.send(records)
        self.records_sent += len(records)
        return messages


def export_records(exports: Iterable[ExportedRecord], host: str, port: int = DEFAULT_PORT, *,
                   protocol: Protocol = "udp") -> dict[str, int]:
    """Send every exported record from its own Node's exporter, in export order; returns the
    records sent per Node.

    All or nothing: every record is encoded and checked first, and if any cannot be sent (a
    bad value, or longer than a UDP message) one :class:`IPFIXError` names them all (by their
    index in ``exports``) and nothing is sent."""
    exports = list(exports)
    exporters = {node: FlowExporter(node, host, port, protocol=protocol)
                 for node in sorted({e.exporter for e in exports})}
    batches: list[tuple[str, EncodedRecords]] = []
    problems: list[IPFIXError] = []
    for node, first, batch in _runs(exports):  # consecutive records of one Node go out together
        try:
            batches.append((node, exporters[node].encode(batch, first_index=first)))
        except IPFIXError as exc:
            problems.append(IPFIXError(exc.message, where=node, hint=exc.hint))
    if problems:
        raise IPFIXError("; ".join(f"{p.where}: {p.message}" for p in problems),
                         where=f"export_records to {host}:{port} over {protocol}",
                         hint="; ".join(dict.fromkeys(p.hint for p in problems if p.hint)))
    try:
        for ex in exporters.values():
            ex.start()
        for node, encoded in batches:
            exporters[node].send(encoded)
        return {name: ex.records_sent for name, ex in exporters.items()}
    finally:
        for ex in exporters.values():
            ex.close()


def _runs(exports: list[ExportedRecord]) -> list[tuple[str, int, list[FlowRecord]]]:
    """``(node, index of its first record, records)`` of each run of one Node's records."""
    runs: list[tuple[str, int, list[FlowRecord]]] = []
    for index, e in enumerate(exports):
        if not runs or runs[-1][0] != e.exporter:
            runs.append((e.exporter, index, []))
        runs[-1][2].append(e.record)
    return runs


__all__ = ["FlowExporter", "export_records", "observation_domain_id"]
