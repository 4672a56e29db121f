"""The transport end of an antrea-agent's Flow Exporter: one Node's records, as IPFIX.

::

    with FlowExporter("kind-worker", *service.address, protocol="tcp") as exporter:
        exporter.export(records)

    export_records(run.exports, *service.address)   # every Node of a sim run, one exporter each

As in Antrea (pkg/agent/flowexporter/exporter): one IPFIX exporting process per agent, whose
Observation Domain ID is the 32-bit FNV-1 hash of the Node name (``genObservationID``, Go's
``fnv.New32``), with
one template per IP family (256 IPv4, 257 IPv6), sent over UDP or TCP to the Flow Aggregator
(``flowCollectorAddr``, port 4739 by default; TLS and gRPC are not reproduced).
"""

from __future__ import annotations

from collections.abc import Iterable

from labkit.flows.wire import DEFAULT_PORT
from labkit.flows.records import ExportedRecord, FlowRecord, flow_record_template
from labkit.flows.transport import IPFIXExporter, Protocol

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
        """Send records; returns the number of IPFIX messages."""
        items = [(self._templates[r.ip_version], r.to_ipfix()) for r in records]
        self.records_sent += len(items)
        return self.ipfix.export(items) if items else 0


def export_records(exports: Iterable[ExportedRecord], host: str, port: int = DEFAULT_PORT, *,
                   protocol: Protocol = "udp") -> dict[str, int]:
    """Send every exported record from its own Node's exporter, in export order; returns the
    records sent per Node."""
    exports = list(exports)
    exporters: dict[str, FlowExporter] = {}
    try:
        for node in sorted({e.exporter for e in exports}):
            exporters[node] = FlowExporter(node, host, port, protocol=protocol).start()
        batch: list[FlowRecord] = []
        node = None
        for e in exports:  # consecutive records of one Node go out together
            if e.exporter != node and batch:
                exporters[node].export(batch)  # type: ignore[index]
                batch = []
            node = e.exporter
            batch.append(e.record)
        if batch:
            exporters[node].export(batch)  # type: ignore[index]
        return {name: ex.records_sent for name, ex in exporters.items()}
    finally:
        for ex in exporters.values():
            ex.close()


__all__ = ["FlowExporter", "export_records", "observation_domain_id"]
