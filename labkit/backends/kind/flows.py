"""Flow visibility on kind: Antrea's Flow Exporter and Flow Aggregator, sending IPFIX to labkit.

What Antrea documents (docs/network-flow-visibility.md of the pinned release), and what labkit
does with it:

* **Flow Exporter** (in every antrea-agent): ``antrea-agent.conf`` in the ``antrea-config``
  ConfigMap (kube-system) gets ``featureGates.FlowExporter: true`` ("enabling the Flow Exporter
  feature gate (if needed)") and ``flowExporter.enable: true``, with ``flowCollectorAddr``
  ``flow-aggregator/flow-aggregator:4739:tls`` (the documented default: the Flow Aggregator
  Service, TLS), ``flowPollInterval``, ``activeFlowExportTimeout`` and ``idleFlowExportTimeout``
  (documented defaults 5s, 5s, 15s; labkit shortens them so a lab sees its flows within seconds).
  The agents read their config at start, so the DaemonSet is restarted (``kubectl rollout
  restart``'s patch) and waited for.
* **Flow Aggregator**: the release manifest ``flow-aggregator.yml``
  (``kubectl apply -f https://github.com/antrea-io/antrea/releases/download/<TAG>/flow-aggregator.yml``,
  the documented deployment), then its ConfigMap ``flow-aggregator-configmap`` (namespace
  ``flow-aggregator``, key ``flow-aggregator.conf``) gets ``flowCollector.enable: true``,
  ``flowCollector.address: <IP>:<port>:<udp|tcp>`` and ``recordFormat: IPFIX`` ("if you have
  deployed the go-ipfix collector, set flowCollector.enable to true and use the address for
  flowCollector.address"), plus ``activeFlowRecordTimeout``/``inactiveFlowRecordTimeout``
  (documented defaults 60s, 90s). Aggregate mode: one record per connection, both sides' metadata.
* **labkit's collector** (:class:`labkit.flows.transport.IPFIXCollector`) receives those records.
  It must listen where the Flow Aggregator Pod can reach it: the kind Nodes are containers on
  the Docker network ``kind``, so the host is reachable at that network's gateway. labkit's
  servers bind 127.0.0.1 by default; listening on the gateway address is an explicit opt-in
  (``flow_collector="kind-gateway"`` or ``"<ip>:<port>"``), because it exposes the port to every
  container on that network.

The ConfigMap edits go through YAML: the comments of Antrea's shipped config are not kept in the
edited key (the agents only read the values).
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from ...errors import CommandError, UnsupportedOperation
from ...flows.ipfix import DEFAULT_PORT
from ...flows.records import AggregatedFlowRecord, ExportedRecord, record_from_ipfix, records_to_frame
from ...flows.traffic import TrafficRun
from ...flows.transport import IPFIXCollector

AGENT_CONFIGMAP = ("kube-system", "antrea-config", "antrea-agent.conf")
AGGREGATOR_NAMESPACE = "flow-aggregator"
AGGREGATOR_CONFIGMAP = (AGGREGATOR_NAMESPACE, "flow-aggregator-configmap", "flow-aggregator.conf")
AGGREGATOR_DEPLOYMENT = (AGGREGATOR_NAMESPACE, "flow-aggregator")
AGGREGATOR_MANIFEST = "https://github.com/antrea-io/antrea/releases/download/{version}/flow-aggregator.yml"
# The Flow Exporter's documented default target: the Flow Aggregator Service, over TLS.
FLOW_AGGREGATOR_ADDR = "flow-aggregator/flow-aggregator:4739:tls"
KIND_NETWORK = "kind"  # the Docker network kind puts its Nodes on
AGGREGATOR_EXPORTER = "flow-aggregator"  # the "exporter" column of records labkit collects on kind


@dataclass(frozen=True)
class FlowSettings:
    """Timeouts labkit sets (documented defaults in the module docstring), and the collector."""

    collector_host: str
    collector_port: int = DEFAULT_PORT
    protocol: str = "udp"
    flow_poll_interval: str = "1s"
    active_flow_export_timeout: str = "2s"
    idle_flow_export_timeout: str = "2s"
    active_flow_record_timeout: str = "5s"
    inactive_flow_record_timeout: str = "4s"
    quiet_s: float = 0.0  # > 0: how long without records ends a collection (else settle_s)

    @property
    def collector_address(self) -> str:
        """``flowCollector.address``: ``<IP>:<port>:<proto>`` (IPv6 in brackets)."""
        host = f"[{self.collector_host}]" if ":" in self.collector_host else self.collector_host
        return f"{host}:{self.collector_port}:{self.protocol}"

    @property
    def settle_s(self) -> float:
        """How long after the last connection records can still arrive: the agents' idle export
        timeout + a poll + the aggregator's inactive timeout, plus a margin (or ``quiet_s``)."""
        if self.quiet_s > 0:
            return self.quiet_s
        return sum(_seconds(v) for v in (self.idle_flow_export_timeout, self.flow_poll_interval,
                                         self.inactive_flow_record_timeout)) + 3.0


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    raise ValueError(f"duration {duration!r} is not like '5s' (Go duration units ms, s, m, h)")


def parse_collector(option: str, gateway: Callable[[], str]) -> tuple[str, int]:
    """``"kind-gateway"`` / ``"kind-gateway:4739"`` (the Docker network's gateway) or ``"IP:port"``."""
    text = option.strip()
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if host == "kind-gateway":
        host = gateway()
    try:
        return host, int(port) if port else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"flow_collector {option!r}: expected 'kind-gateway', 'kind-gateway:<port>' or "
                         "'<ip>:<port>' (an address of this host the kind Nodes can reach)") from None


def gateway_command(network: str = KIND_NETWORK) -> list[str]:
    """``docker network inspect`` of kind's network: the gateway address(es) of its IPAM config."""
    return ["docker", "network", "inspect", network, "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}"]


def pick_gateway(output: str) -> str:
    """The IPv4 gateway from :func:`gateway_command`'s output (kind's network is dual-stack)."""
    addresses = output.split()
    v4 = [a for a in addresses if "." in a]
    if not (v4 or addresses):
        raise CommandError(f"the Docker network {KIND_NETWORK!r} reports no gateway; fix: give flow_collector="
                           "'<ip>:<port>' with an address of this host the kind Nodes reach")
    return (v4 or addresses)[0]


# ---------------------------------------------------------------------------- config rewrites


def _load(text: str, where: str) -> dict:
    data = yaml.safe_load(text or "") or {}
    if not isinstance(data, dict):
        raise ValueError(f"{where} is not a YAML mapping")
    return data


def enable_flow_exporter(agent_conf: str, settings: FlowSettings) -> str:
    """``antrea-agent.conf`` with the Flow Exporter on (feature gate + ``flowExporter`` group)."""
    conf = _load(agent_conf, "antrea-agent.conf")
    gates = conf.get("featureGates") or {}
    gates["FlowExporter"] = True
    conf["featureGates"] = gates
    exporter = conf.get("flowExporter") or {}
    exporter.update(enable=True, flowCollectorAddr=FLOW_AGGREGATOR_ADDR,
                    flowPollInterval=settings.flow_poll_interval,
                    activeFlowExportTimeout=settings.active_flow_export_timeout,
                    idleFlowExportTimeout=settings.idle_flow_export_timeout)
    conf["flowExporter"] = exporter
    return yaml.safe_dump(conf, sort_keys=False)


def configure_aggregator(aggregator_conf: str, settings: FlowSettings) -> str:
    """``flow-aggregator.conf`` exporting IPFIX to labkit's collector."""
    conf = _load(aggregator_conf, "flow-aggregator.conf")
    conf["activeFlowRecordTimeout"] = settings.active_flow_record_timeout
    conf["inactiveFlowRecordTimeout"] = settings.inactive_flow_record_timeout
    collector = conf.get("flowCollector") or {}
    collector.update(enable=True, address=settings.collector_address, recordFormat="IPFIX")
    conf["flowCollector"] = collector
    return yaml.safe_dump(conf, sort_keys=False)


def configmap_with(configmap: dict, key: str, text: str) -> dict:
    """The apply body for a ConfigMap whose ``key`` becomes ``text`` (other keys kept)."""
    meta = configmap.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "data": {**copy.deepcopy(configmap.get("data") or {}), key: text}}


# ---------------------------------------------------------------------------- collecting


class AggregatedFlows:
    """What labkit's collector received from Antrea's Flow Aggregator, with the views
    :class:`labkit.flows.aggregator.FlowAggregator` offers (``frame``, ``flows``, ``records``),
    so that ``lab.flows(run)`` reads the same on kind as on sim."""

    def __init__(self, records: list[AggregatedFlowRecord]) -> None:
        self.exported = list(records)

    def records(self, **match: Any) -> list[AggregatedFlowRecord]:
        return [r for r in self.exported if all(getattr(r, k) == v for k, v in match.items())]

    def frame(self):
        return records_to_frame(list(self.exported))

    def flows(self):
        from ...flows.summary import one_per_flow

        return one_per_flow(self.frame())


class FlowCollector:
    """labkit's IPFIX collector for the Flow Aggregator's records (an opt-in address, see the
    module docstring). Decodes each data record with :func:`record_from_ipfix`; records that
    cannot be read are kept in ``errors``."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, protocol: str = "udp") -> None:
        self._records: list[ExportedRecord] = []
        self._lock = threading.Condition()
        self.errors: list[str] = []
        self.ipfix = IPFIXCollector(host, port, protocol=protocol, on_records=self._on_records)  # type: ignore[arg-type]

    def start(self) -> "FlowCollector":
        self.ipfix.start()
        return self

    def stop(self) -> None:
        self.ipfix.stop()

    def __enter__(self) -> "FlowCollector":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.ipfix.address

    def _on_records(self, decoded: list) -> None:
        now = time.time()
        with self._lock:
            for r in decoded:
                if getattr(r, "is_options", False):
                    continue
                try:
                    self._records.append(ExportedRecord(AGGREGATOR_EXPORTER, now, record_from_ipfix(r)))
                except Exception as exc:  # noqa: BLE001 - one bad record must not stop the others
                    self.errors.append(str(exc))
            self._lock.notify_all()

    def take(self) -> list[ExportedRecord]:
        with self._lock:
            out, self._records = self._records, []
            return out

    def count(self) -> int:
        with self._lock:
            return len(self._records)

    def wait_quiet(self, quiet_s: float, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> int:
        """Wait until no record arrived for ``quiet_s`` (or ``timeout_s`` passed); the count held."""
        deadline = clock() + timeout_s
        with self._lock:
            last, seen = clock(), len(self._records)
            while clock() < deadline:
                self._lock.wait(min(0.2, max(0.0, deadline - clock())))
                if len(self._records) != seen:
                    last, seen = clock(), len(self._records)
                elif self._records and clock() - last >= quiet_s:
                    break
            return len(self._records)


@dataclass
class KindTrafficRun(TrafficRun):
    """A traffic run on kind: ``exports`` are what Antrea's Flow Aggregator sent labkit (already
    aggregated, exporter ``flow-aggregator``), so :meth:`aggregate` reads them as they are instead
    of replaying them through labkit's own aggregator as a sim run does."""

    def aggregate(self, **options: Any) -> AggregatedFlows:  # type: ignore[override]
        return AggregatedFlows(only_aggregated(self.exports))


def only_aggregated(exports: list[ExportedRecord]) -> list[AggregatedFlowRecord]:
    return [e.record for e in exports if isinstance(e.record, AggregatedFlowRecord)]


def require_collector(option: str | None) -> str:
    if not option:
        raise UnsupportedOperation(
            "flows on kind need labkit's IPFIX collector to listen where the Flow Aggregator Pod reaches it, and "
            "labkit binds 127.0.0.1 unless told otherwise; opt in with backend_options={'flow_collector': "
            "'kind-gateway'} (the Docker network 'kind' gateway) or {'flow_collector': '<host ip>:<port>'}")
    return option


__all__ = ["FlowSettings", "FlowCollector", "AggregatedFlows", "KindTrafficRun", "enable_flow_exporter", "configure_aggregator",
           "configmap_with", "parse_collector", "gateway_command", "pick_gateway", "AGENT_CONFIGMAP",
           "AGGREGATOR_CONFIGMAP", "AGGREGATOR_DEPLOYMENT", "AGGREGATOR_MANIFEST", "FLOW_AGGREGATOR_ADDR",
           "only_aggregated", "require_collector"]
