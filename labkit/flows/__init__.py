"""Flow visibility, as Antrea's FlowExporter and Flow Aggregator provide it.

The public surface is this package's ``__all__``; each name is imported from its module on
first use, so ``import labkit.flows`` stays as light as ``import labkit`` (no numpy, pandas or
sockets until needed)::

    from labkit.flows import SHOP_TRAFFIC, filter_flows

    run = lab.generate_traffic(SHOP_TRAFFIC, duration_s=60, seed=1)
    flows = lab.flows(run)
    filter_flows(flows, verdict="denied", namespace="data")

Modules, lowest layer first (no import cycles between them; tests/unit/flows/test_flows_package.py):

* :mod:`.ies`: IPFIX Information Elements (IANA, RFC 5103, VMware, Antrea 56506) and their types;
* :mod:`.wire`: the RFC 7011 wire format (templates, encoding, headers, set and record walks);
* :mod:`.session`: what a Collecting Process keeps between messages (templates, sequence numbers);
* :mod:`.ipfix`: the :class:`Decoder`, messages in and Data Records out;
* :mod:`.kernels`, :mod:`.columns`, :mod:`.frames`, :mod:`.fastdecode`: whole batches of IPFIX
  straight into a DataFrame (``Decoder.feed_frame``), numba-compiled when numba is installed;
* :mod:`.transport`: IPFIX over UDP and TCP (exporter, collector);
* :mod:`.records`: Antrea flow records and their IPFIX form; :mod:`.exporter`: per-Node export;
* :mod:`.aggregator`: the Flow Aggregator (Aggregate mode) and its IPFIX service;
* :mod:`.traffic`: traffic profiles and the sim flow source; :mod:`.recommend`: least-privilege
  policy recommendation; :mod:`.summary`: the tables behind the flow graphs; :mod:`.filters`:
  the row filters of ``labkit flows`` and the FlowTable widget.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module (under labkit.flows) that defines it
_EXPORTS = {
    # traffic profiles and runs
    "SHOP_TRAFFIC": "traffic",
    "FlowSource": "traffic",
    "TrafficProfile": "traffic",
    "TrafficRule": "traffic",
    "TrafficRun": "traffic",
    "synthesize_traffic": "traffic",
    "plan_connections": "traffic",
    "traffic_profile": "traffic",
    # flow records and their frames
    "AggregatedFlowRecord": "records",
    "ExportedRecord": "records",
    "FlowEndReason": "records",
    "FlowRecord": "records",
    "FlowType": "records",
    "PolicyType": "records",
    "RuleAction": "records",
    "flow_record_template": "records",
    "record_from_ipfix": "records",
    "records_to_frame": "records",
    "filter_flows": "filters",
    "one_per_flow": "summary",
    # the Flow Aggregator
    "AggregatorService": "aggregator",
    "FlowAggregator": "aggregator",
    "ManualClock": "aggregator",
    "PodInfo": "aggregator",
    "pods_by_ip": "aggregator",
    # policy recommendation
    "Recommendation": "recommend",
    "recommend_policies": "recommend",
    # IPFIX: codec, decoder, transport, agents' exporters
    "IPFIXError": "ies",
    "DecodedRecord": "ipfix",
    "Decoder": "ipfix",
    "SequenceGap": "session",
    "Template": "wire",
    "encode_message": "wire",
    "encode_messages": "wire",
    "FrameStats": "fastdecode",
    "IPFIXCollector": "transport",
    "IPFIXExporter": "transport",
    "FlowExporter": "exporter",
    "export_records": "exporter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labkit.flows' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"labkit.flows.{module}"), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see
    from labkit.flows.aggregator import AggregatorService, FlowAggregator, ManualClock, PodInfo, pods_by_ip
    from labkit.flows.exporter import FlowExporter, export_records
    from labkit.flows.fastdecode import FrameStats
    from labkit.flows.filters import filter_flows
    from labkit.flows.ies import IPFIXError
    from labkit.flows.ipfix import DecodedRecord, Decoder
    from labkit.flows.recommend import Recommendation, recommend_policies
    from labkit.flows.records import (
        AggregatedFlowRecord,
        ExportedRecord,
        FlowEndReason,
        FlowRecord,
        FlowType,
        PolicyType,
        RuleAction,
        flow_record_template,
        record_from_ipfix,
        records_to_frame,
    )
    from labkit.flows.session import SequenceGap
    from labkit.flows.summary import one_per_flow
    from labkit.flows.traffic import (
        SHOP_TRAFFIC,
        FlowSource,
        TrafficProfile,
        TrafficRule,
        TrafficRun,
        synthesize_traffic,
        plan_connections,
        traffic_profile,
    )
    from labkit.flows.transport import IPFIXCollector, IPFIXExporter
    from labkit.flows.wire import Template, encode_message, encode_messages
