"""The Flow Aggregator in ``Aggregate`` mode, and a service that receives agents' IPFIX.

::

    aggregator = FlowAggregator(pods=pods_by_ip(lab.state.pods))
    aggregator.replay(run.exports)            # sim: records with their export times
    aggregator.frame()                        # what it exported (a flow log / ClickHouse table)

    with AggregatorService(protocol="tcp") as service:     # real IPFIX on 127.0.0.1
        ...agents export to service.address...
        service.aggregator.frame()

Reproduced from Antrea's aggregation process (pkg/flowaggregator/intermediate/aggregate.go)
and Flow Aggregator (pkg/flowaggregator/flowaggregator.go):

* one entry per 5-tuple; an inter-Node flow needs *correlation*: the record from the source
  Node (``sourcePodName`` set, ``destinationPodName`` empty) and the one from the destination
  Node are merged, each non-empty field of the newcomer filling the entry. An entry is ready to
  send only once correlated. Flows denied at egress (Drop/Reject) or rejected at ingress need no
  correlation: only one Node knows them;
* counters: per-Node totals and deltas go to ``*FromSourceNode``/``*FromDestinationNode`` (IEs
  120-135); the common counters take the larger total and the latest record's delta; throughput
  is (octet total now - octet total before) x 8 / (flowEndSeconds now - before), in bits/s;
* timers: an entry is exported every ``activeFlowRecordTimeout`` (60 s) and, once no record
  has arrived for ``inactiveFlowRecordTimeout`` (90 s), exported a last time and forgotten; an
  entry still waiting for correlation at expiry is given ``MaxRetries`` (2) more periods, then
  dropped unexported. After each export the delta counters and throughputs restart at zero;
* before the first export of an uncorrelated inter-Node flow, the Pod name, namespace and Node
  of the missing side are filled from the aggregator's own Pod store (``fillK8sMetadata``), and
  with ``recordContents.podLabels`` the Pods' labels are added as JSON.

Time comes from an injectable clock (seconds); :meth:`FlowAggregator.advance_to` processes
expiries in time order, which is what Antrea's 1 s export loop approximates.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit.flows.ies import IPFIXError
from labkit.flows.ipfix import DecodedRecord
from labkit.flows.records import (
    AggregatedFlowRecord,
    ExportedRecord,
    FlowEndReason,
    FlowKey,
    FlowRecord,
    FlowType,
    RuleAction,
    flow_record_template,
    labels_json,
    record_from_ipfix,
    records_to_frame,
)
from labkit.flows.transport import MAX_ERRORS, IPFIXCollector, IPFIXExporter, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from labkit.model.objects import Pod

ACTIVE_FLOW_RECORD_TIMEOUT_S = 60.0  # flow-aggregator.conf activeFlowRecordTimeout
INACTIVE_FLOW_RECORD_TIMEOUT_S = 90.0  # inactiveFlowRecordTimeout
MAX_RETRIES = 2  # intermediate.MaxRetries: expiry periods an uncorrelated record may wait more
EXPORT_LOOP_INTERVAL_S = 1.0  # flowExportLoopAggregate checks for expired records every second

_STATS = ("packet_total_count", "octet_total_count", "packet_delta_count", "octet_delta_count")


@dataclass(frozen=True)
class PodInfo:
    """What the aggregator's Pod store knows of a Pod, looked up by IP."""

    name: str
    namespace: str
    node_name: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


PodLookup = Callable[[str], "PodInfo | None"]


def pods_by_ip(pods: Iterable["Pod"]) -> dict[str, PodInfo]:
    """A Pod store for :class:`FlowAggregator` from labkit Pods (e.g. ``lab.state.pods``)."""
    return {p.pod_ip: PodInfo(p.name, p.namespace, p.node_name, dict(p.labels)) for p in pods if p.pod_ip}


class ManualClock:
    """A clock that moves only when told to: fast, deterministic tests and replays."""

    def __init__(self, now_s: float = 0.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def set(self, now_s: float) -> None:
        self.now_s = now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def _is_from_source(r: Mapping[str, Any]) -> bool:
    return bool(r["source_pod_name"]) and not r["destination_pod_name"]


def _is_from_destination(r: Mapping[str, Any]) -> bool:
    return bool(r["destination_pod_name"]) and not r["source_pod_name"]


def correlation_required(record: FlowRecord) -> bool:
    """Antrea's ``isCorrelationRequired``: inter-Node, and not denied at egress nor rejected at
    ingress (then only one Node exports the flow)."""
    return (record.flow_type == FlowType.INTER_NODE
            and record.egress_network_policy_rule_action not in (RuleAction.DROP, RuleAction.REJECT)
            and record.ingress_network_policy_rule_action != RuleAction.REJECT)


# Fields ``correlateRecords`` copies from the newcomer when it has a value.
_CORRELATED = ("source_pod_name", "source_pod_namespace", "source_node_name", "destination_pod_name",
               "destination_pod_namespace", "destination_node_name", "destination_cluster_ip",
               "destination_service_port", "destination_service_port_name",
               "ingress_network_policy_name", "ingress_network_policy_namespace",
               "ingress_network_policy_rule_action", "ingress_network_policy_type",
               "ingress_network_policy_rule_name", "egress_network_policy_name",
               "egress_network_policy_namespace", "egress_network_policy_rule_action",
               "egress_network_policy_type", "egress_network_policy_rule_name")
_AGGREGATED_DEFAULTS = {f.name: f.default for f in dataclasses.fields(AggregatedFlowRecord)
                        if f.default is not dataclasses.MISSING}


class _Entry:
    __slots__ = ("key", "record", "ready", "correlated", "external", "retries", "active_expire",
                 "inactive_expire", "version")

    def __init__(self, key: FlowKey, record: dict[str, Any]) -> None:
        self.key = key
        self.record = record
        self.ready = False
        self.correlated = False  # areCorrelatedFieldsFilled
        self.external = False  # areExternalFieldsFilled (labels)
        self.retries = 0
        self.active_expire = 0.0
        self.inactive_expire = 0.0
        self.version = 0


class FlowAggregator:
    """Antrea's Flow Aggregator, Aggregate mode.

    ``pods``: the Pod store used to fill the missing side of uncorrelated inter-Node flows
    (a mapping IP -> :class:`PodInfo`, a lookup function, or None). ``include_pod_labels``:
    ``recordContents.podLabels``. ``collector``: ``(host, port)`` or ``(host, port, "udp"|"tcp")``
    of an IPFIX collector to re-export every record to (the ``flowCollector`` exporter), over
    :class:`~labkit.flows.transport.IPFIXExporter`; call :meth:`close` (or use ``with``) to
    release it. ``on_export`` is called with each exported record."""

    def __init__(self, *, active_flow_record_timeout_s: float = ACTIVE_FLOW_RECORD_TIMEOUT_S,
                 inactive_flow_record_timeout_s: float = INACTIVE_FLOW_RECORD_TIMEOUT_S,
                 clock: Callable[[], float] | None = None,
                 pods: Mapping[str, PodInfo] | PodLookup | None = None,
                 include_pod_labels: bool = False,
                 collector: tuple[str, int] | tuple[str, int, str] | None = None,
                 observation_domain_id: int = 0,
                 on_export: Callable[[AggregatedFlowRecord], None] | None = None,
                 keep_exported: int | None = 500_000) -> None:
        if active_flow_record_timeout_s <= 0 or inactive_flow_record_timeout_s <= 0:
            raise ValueError("flow record timeouts must be > 0 seconds")
        self.active_flow_record_timeout_s = active_flow_record_timeout_s
        self.inactive_flow_record_timeout_s = inactive_flow_record_timeout_s
        self.clock: Callable[[], float] = clock if clock is not None else ManualClock()
        if pods is None:
            self._lookup: PodLookup = lambda ip: None
        elif callable(pods):
            self._lookup = pods
        else:
            self._lookup = pods.get
        self.include_pod_labels = include_pod_labels
        self.on_export = on_export
        self._entries: dict[FlowKey, _Entry] = {}
        self._queue: list[tuple[float, int, int, FlowKey]] = []  # (due, seq, version, key)
        self._seq = itertools.count()
        self._lock = threading.RLock()
        self._keep = keep_exported
        self.exported: list[AggregatedFlowRecord] = []
        self.records_received = 0
        self.records_exported = 0
        self.records_dropped = 0  # waited for correlation past MaxRetries
        self._exporter: IPFIXExporter | None = None
        if collector is not None:
            host, port, *rest = collector
            self._exporter = IPFIXExporter(host, port, protocol=(rest[0] if rest else "udp"),  # type: ignore[arg-type]
                                           domain_id=observation_domain_id,
                                           templates=[flow_record_template(256, aggregated=True),
                                                      flow_record_template(257, ipv6=True, aggregated=True)])
            self._exporter.start()
        self._templates = {4: flow_record_template(256, aggregated=True),
                           6: flow_record_template(257, ipv6=True, aggregated=True)}

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the re-export connection (idempotent)."""
        if self._exporter is not None:
            self._exporter.close()

    def __enter__(self) -> FlowAggregator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- input --------------------------------------------------------------------------------

    def add(self, record: FlowRecord | Mapping[str, Any]) -> None:
        """Take one record from an agent (a :class:`FlowRecord`, or IPFIX values such as a
        :class:`~labkit.flows.ipfix.DecodedRecord`), at the clock's current time."""
        if not isinstance(record, FlowRecord):
            record = record_from_ipfix(record)
        with self._lock:
            self.records_received += 1
            self._add(record, self.clock())

    def add_many(self, records: Iterable[FlowRecord | Mapping[str, Any]]) -> None:
        for record in records:
            self.add(record)

    def replay(self, exports: Iterable[ExportedRecord], *, until_s: float | None = math.inf) -> list[AggregatedFlowRecord]:
        """Feed records at their export times, processing expiries in between, then advance to
        ``until_s`` (default: until every entry has been exported and forgotten). Needs the
        default :class:`ManualClock`. Returns the records exported during the replay."""
        if not isinstance(self.clock, ManualClock):
            raise ValueError("replay() drives the clock itself: create the aggregator without clock=")
        exported: list[AggregatedFlowRecord] = []
        previous = self.on_export

        def collect(record: AggregatedFlowRecord) -> None:
            exported.append(record)
            if previous is not None:
                previous(record)

        self.on_export = collect
        try:
            for e in sorted(exports, key=lambda e: e.export_time_s):
                self.advance_to(e.export_time_s)
                self.add(e.record)
            if until_s is not None:
                self.advance_to(until_s)
        finally:
            self.on_export = previous
        return exported

    # -- Antrea's addOrUpdateRecordInMap ------------------------------------------------------

    def _add(self, record: FlowRecord, now: float) -> None:
        key = record.key
        required = correlation_required(record)
        entry = self._entries.get(key)
        if entry is None:
            values = {**_AGGREGATED_DEFAULTS, **record.__dict__}
            entry = _Entry(key, values)
            from_source = _is_from_source(values)
            self._init_node_stats(values, record, src=not required or from_source,
                                  dst=not required or not from_source)
            if not required:
                entry.ready = True
                # An inter-Node flow that needs no correlation still lacks one side's metadata.
                entry.correlated = record.flow_type != FlowType.INTER_NODE
            entry.active_expire = now + self.active_flow_record_timeout_s
            entry.inactive_expire = now + self.inactive_flow_record_timeout_s
            self._entries[key] = entry
            self._push(entry)
            return
        incoming = record.__dict__
        if required:
            if not entry.ready and not self._same_node(incoming, entry.record):
                self._correlate(incoming, entry.record)
                entry.ready = True
                entry.correlated = True
            from_source = _is_from_source(incoming)
            self._aggregate(record, entry.record, src=from_source, dst=not from_source)
        else:
            self._aggregate(record, entry.record, src=True, dst=True)
        entry.inactive_expire = now + self.inactive_flow_record_timeout_s
        self._push(entry)

    @staticmethod
    def _same_node(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        return (_is_from_source(a) and _is_from_source(b)) or (_is_from_destination(a) and _is_from_destination(b))

    @staticmethod
    def _correlate(incoming: Mapping[str, Any], existing: dict[str, Any]) -> None:
        for name in _CORRELATED:
            value = incoming[name]
            if value not in ("", 0, None):
                existing[name] = value

    @staticmethod
    def _init_node_stats(values: dict[str, Any], record: FlowRecord, *, src: bool, dst: bool) -> None:
        # addFieldsForStatsAggregation + addFieldsForThroughputCalculation
        for node, fill in (("source", src), ("destination", dst)):
            for stat in _STATS:
                values[f"{stat}_from_{node}_node"] = getattr(record, stat) if fill else 0
                values[f"reverse_{stat}_from_{node}_node"] = getattr(record, f"reverse_{stat}") if fill else 0
            values[f"flow_end_seconds_from_{node}_node"] = record.flow_end_seconds if fill else 0
        elapsed = record.flow_end_seconds - record.flow_start_seconds
        throughput = record.octet_total_count * 8 // elapsed if elapsed > 0 else 0
        reverse = record.reverse_octet_total_count * 8 // elapsed if elapsed > 0 else 0
        values["throughput"], values["reverse_throughput"] = throughput, reverse
        for node, fill in (("source", src), ("destination", dst)):
            values[f"throughput_from_{node}_node"] = throughput if fill else 0
            values[f"reverse_throughput_from_{node}_node"] = reverse if fill else 0

    @staticmethod
    def _aggregate(incoming: FlowRecord, existing: dict[str, Any], *, src: bool, dst: bool) -> None:
        # aggregateRecords
        latest = incoming.flow_end_seconds >= existing["flow_end_seconds"]
        if latest:
            existing["flow_end_seconds"] = incoming.flow_end_seconds
        previous_end = 0
        for node, fill in (("source", src), ("destination", dst)):
            if fill:
                before = existing[f"flow_end_seconds_from_{node}_node"] or incoming.flow_start_seconds
                existing[f"flow_end_seconds_from_{node}_node"] = incoming.flow_end_seconds
                previous_end = before
        if incoming.flow_end_seconds <= previous_end:
            return  # not newer than what this Node already sent
        elapsed = incoming.flow_end_seconds - previous_end
        if existing["flow_end_reason"] != FlowEndReason.END_OF_FLOW:
            existing["flow_end_reason"] = incoming.flow_end_reason
        if latest:
            existing["tcp_state"] = incoming.tcp_state
        diff = reverse_diff = 0
        for node, fill in (("source", src), ("destination", dst)):
            if not fill:
                continue
            diff = incoming.octet_total_count - existing[f"octet_total_count_from_{node}_node"]
            reverse_diff = incoming.reverse_octet_total_count - existing[f"reverse_octet_total_count_from_{node}_node"]
            for prefix in ("", "reverse_"):
                for stat in ("packet", "octet"):
                    existing[f"{prefix}{stat}_total_count_from_{node}_node"] = getattr(incoming, f"{prefix}{stat}_total_count")
                    existing[f"{prefix}{stat}_delta_count_from_{node}_node"] += getattr(incoming, f"{prefix}{stat}_delta_count")
        if latest:
            for node, fill in (("source", src), ("destination", dst)):
                if not fill:
                    continue
                for prefix in ("", "reverse_"):
                    for stat in ("packet", "octet"):
                        total = existing[f"{prefix}{stat}_total_count_from_{node}_node"]
                        existing[f"{prefix}{stat}_total_count"] = max(existing[f"{prefix}{stat}_total_count"], total)
                        existing[f"{prefix}{stat}_delta_count"] = existing[f"{prefix}{stat}_delta_count_from_{node}_node"]
        throughput = max(diff, 0) * 8 // elapsed
        reverse = max(reverse_diff, 0) * 8 // elapsed
        for node, fill in (("source", src), ("destination", dst)):
            if fill:
                existing[f"throughput_from_{node}_node"] = throughput
                existing[f"reverse_throughput_from_{node}_node"] = reverse
        if latest:
            existing["throughput"], existing["reverse_throughput"] = throughput, reverse

    # -- expiry (ForAllExpiredFlowRecordsDo) ---------------------------------------------------

    def _push(self, entry: _Entry) -> None:
        entry.version += 1
        heapq.heappush(self._queue, (min(entry.active_expire, entry.inactive_expire), next(self._seq),
                                     entry.version, entry.key))

    def _next_due(self) -> float | None:
        while self._queue:
            due, _, version, key = self._queue[0]
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                return due
            heapq.heappop(self._queue)  # stale: the entry was updated or forgotten
        return None

    def advance_to(self, now_s: float) -> list[AggregatedFlowRecord]:
        """Process every expiry due up to ``now_s`` in time order (moving a
        :class:`ManualClock` along), and return the records exported."""
        exported: list[AggregatedFlowRecord] = []
        with self._lock:
            while True:
                due = self._next_due()
                if due is None or due > now_s:
                    break
                if isinstance(self.clock, ManualClock):
                    self.clock.set(max(self.clock(), due))
                exported += self._expire(due)
            if isinstance(self.clock, ManualClock) and math.isfinite(now_s):
                self.clock.set(max(self.clock(), now_s))
        return exported

    def expire(self) -> list[AggregatedFlowRecord]:
        """Export what is due at the clock's current time (one pass of Antrea's export loop)."""
        return self.advance_to(self.clock())

    def _expire(self, now: float) -> list[AggregatedFlowRecord]:
        out = []
        while True:
            due = self._next_due()
            # Antrea compares nanosecond timestamps, where ties do not happen; with a manual clock
            # they do, so an expiry time equal to now counts as expired.
            if due is None or due > now:
                return out
            _, _, _, key = heapq.heappop(self._queue)
            entry = self._entries[key]
            if not entry.ready:
                entry.retries += 1
                if entry.retries > MAX_RETRIES:
                    del self._entries[key]
                    self.records_dropped += 1
                else:
                    entry.active_expire = now + self.active_flow_record_timeout_s
                    entry.inactive_expire = now + self.inactive_flow_record_timeout_s
                    self._push(entry)
                continue
            out.append(self._send(entry))
            if entry.inactive_expire <= now:
                del self._entries[key]
                continue
            if entry.active_expire <= now:
                entry.active_expire = now + self.active_flow_record_timeout_s
            self._push(entry)

    def _send(self, entry: _Entry) -> AggregatedFlowRecord:
        # sendAggregatedRecord: fill K8s metadata and labels once, export, then reset the deltas.
        values = entry.record
        if not entry.correlated:
            self._fill_k8s_metadata(values)
            entry.correlated = True
        if not entry.external:
            if self.include_pod_labels:
                for side, ip in (("source", values["source_ip"]), ("destination", values["destination_ip"])):
                    pod = self._lookup(ip)
                    values[f"{side}_pod_labels"] = labels_json(pod.labels) if pod is not None else ""
            entry.external = True
        record = AggregatedFlowRecord(**values)
        self.records_exported += 1
        if self._keep is None or self._keep > 0:
            self.exported.append(record)
            if self._keep is not None and len(self.exported) > self._keep:
                del self.exported[: len(self.exported) - self._keep]
        if self._exporter is not None:
            self._exporter.export([(self._templates[record.ip_version], record.to_ipfix())])
        if self.on_export is not None:
            self.on_export(record)
        for name in list(values):
            if "delta_count" in name or "throughput" in name:  # ResetStatAndThroughputElementsInRecord
                values[name] = 0
        return record

    def _fill_k8s_metadata(self, values: dict[str, Any]) -> None:
        for side, ip in (("source", values["source_ip"]), ("destination", values["destination_ip"])):
            if not values[f"{side}_pod_name"]:
                pod = self._lookup(ip)
                if pod is not None:
                    values[f"{side}_pod_name"] = pod.name
                    values[f"{side}_pod_namespace"] = pod.namespace
                    values[f"{side}_node_name"] = pod.node_name

    # -- views (antctl get flowrecords / recordmetrics) ----------------------------------------

    @property
    def num_flows(self) -> int:
        with self._lock:
            return len(self._entries)

    def records(self, **match: Any) -> list[AggregatedFlowRecord]:
        """The flows held now, like ``antctl get flowrecords [--srcip ... --dstport ...]``:
        ``match`` compares record attributes (``source_ip="10.244.1.2"``)."""
        with self._lock:
            snapshot = [AggregatedFlowRecord(**e.record) for e in self._entries.values()]
        return [r for r in snapshot if all(getattr(r, k) == v for k, v in match.items())]

    def metrics(self) -> dict[str, int]:
        """``antctl get recordmetrics``."""
        with self._lock:
            return {"numRecordsExported": self.records_exported, "numRecordsReceived": self.records_received,
                    "numFlows": len(self._entries), "numRecordsDropped": self.records_dropped}

    def frame(self) -> "pd.DataFrame":
        """Every record exported so far, as a DataFrame (see
        :func:`~labkit.flows.records.records_to_frame`): what a flow log or Theia's ClickHouse
        table holds, with a flow exported again at every active timeout and when it goes idle."""
        with self._lock:
            return records_to_frame(list(self.exported))

    def flows(self) -> "pd.DataFrame":
        """One row per flow: the latest record exported for it that carried news (see
        :func:`~labkit.flows.summary.one_per_flow`); its totals are the flow's."""
        from labkit.flows.summary import one_per_flow

        return one_per_flow(self.frame())


# --------------------------------------------------------------------------------------------
# Receiving from agents over IPFIX


class AggregatorService:
    """A :class:`FlowAggregator` fed by an :class:`~labkit.flows.transport.IPFIXCollector` on
    ``host:port`` (127.0.0.1; port 0 picks a free one, the real aggregator uses 4739), with a
    thread that runs the export loop every second on ``clock``.

    ``clock`` defaults to wall time (``time.time``); give a :class:`ManualClock` and call
    :meth:`tick` yourself for deterministic tests."""

    def __init__(self, aggregator: FlowAggregator | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 protocol: Protocol = "udp", clock: Callable[[], float] | None = None,
                 export_loop_interval_s: float = EXPORT_LOOP_INTERVAL_S, **options: Any) -> None:
        if aggregator is not None and (clock is not None or options):
            raise ValueError("give either an aggregator or the options to build one, not both")
        self.aggregator = aggregator or FlowAggregator(clock=clock or time.time, **options)
        self.collector = IPFIXCollector(host, port, protocol=protocol, on_records=self._on_records)
        self.export_loop_interval_s = export_loop_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._received = threading.Condition()
        self._errors: collections.deque[str] = collections.deque(maxlen=MAX_ERRORS)
        self.error_count = 0
        self._failure: BaseException | None = None

    def start(self) -> AggregatorService:
        if self._thread is not None:
            return self
        self.collector.start()
        self._stop.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._loop, name=f"flow-aggregator-{self.collector.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the export loop and the collector, close the re-export connection. Idempotent."""
        thread, self._thread = self._thread, None
        self._stop.set()
        try:
            if thread is not None:
                thread.join(5.0)
        finally:
            try:
                self.collector.stop()
            finally:
                self.aggregator.close()

    def __enter__(self) -> AggregatorService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.collector.address

    def tick(self) -> list[AggregatedFlowRecord]:
        """One pass of the export loop now."""
        return self.aggregator.expire()

    @property
    def errors(self) -> list[str]:
        """Records the aggregator refused and failed re-exports: the latest
        :data:`~labkit.flows.transport.MAX_ERRORS` (:attr:`error_count` counts all)."""
        with self._received:
            return list(self._errors)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> int:
        """Wait until the aggregator has received ``count`` records; returns how many it has.
        Raises at once if the collector's thread or the export loop died."""
        deadline = time.monotonic() + timeout_s
        with self._received:
            while self.aggregator.records_received < count:
                self._raise_failure()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise IPFIXError(f"only {self.aggregator.records_received} of {count} records reached the "
                                     f"aggregator within {timeout_s} s", where=f"aggregator {self.address}",
                                     hint=f"check the exporters' address and transport "
                                          f"(collector errors: {self.collector.errors[-3:]}, "
                                          f"decode errors: {list(self._errors)[-3:]})")
                self._received.wait(min(remaining, 0.5))  # also notice a dead collector thread
            return self.aggregator.records_received

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise IPFIXError(f"the export loop died: {self._failure!r}", where=f"aggregator {self.address}",
                             hint="a labkit bug (report it); stop() and start() the service again"
                             ) from self._failure
        if self.collector.failure is not None:
            self.collector.records()  # raises the collector thread's error

    def _error(self, text: str) -> None:
        with self._received:
            self._errors.append(text)
            self.error_count += 1

    def _on_records(self, records: list[DecodedRecord]) -> None:
        """One message's records (from the collector thread); the ones the aggregator refuses
        (no 5-tuple) cost one error line for the message, however many they are."""
        refused: list[IPFIXError] = []
        for r in records:
            if r.is_options:
                continue
            try:
                self.aggregator.add(r)
            except IPFIXError as exc:  # a record without 5-tuple must not stop the others
                refused.append(exc)
        if refused:
            self._error(f"{records[0].exporter}: {len(refused)} of the message's {len(records)} records "
                        f"refused: {refused[0]}")
        with self._received:
            self._received.notify_all()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.export_loop_interval_s):
                try:
                    self.aggregator.expire()
                except IPFIXError as exc:  # the re-export collector went away: keep aggregating
                    self._error(f"export: {exc}")
        except BaseException as exc:  # noqa: BLE001 - kept, and raised by wait_for
            with self._received:
                self._failure = exc
                self._received.notify_all()


__all__ = [
    "ACTIVE_FLOW_RECORD_TIMEOUT_S",
    "AggregatorService",
    "FlowAggregator",
    "INACTIVE_FLOW_RECORD_TIMEOUT_S",
    "MAX_RETRIES",
    "ManualClock",
    "PodInfo",
    "correlation_required",
    "pods_by_ip",
]
