"""A lab's flow records, sent to NSX and counted on the rules that decided them.

Two things an Antrea cluster registered with NSX does with its flows, reproduced from a Flow
Aggregator DataFrame (``lab.flows(run)``, docs/flows.md):

* **export**: the records, with the Flow Aggregator's IE names (the fields the mock knows,
  :data:`labkit.nsx.manager.flow_analytics.RECORD_FIELDS`), times as epoch seconds and missing
  values left out, go to the mock's flow collector (``NSXClient.report_flow_records``). That
  collector is labkit's own (NSX takes no Antrea flows; docs/nsx-mock.md, "Flows");
* **rule statistics from traffic**: Antrea counts, per NetworkPolicy rule, the sessions, packets
  and bytes that rule committed (``stats.antrea.io`` AntreaClusterNetworkPolicyStats
  ``ruleTrafficStats``, feature gate NetworkPolicyStats), and the adapter reports them to NSX as
  RuleStatistics (nsx.md §5.5). :func:`traffic_counters` counts the same from the records: a
  connection counts on the rule that decided its egress side at the source and, when that side
  let it through, on the rule that decided its ingress side (the rules whose flows commit it);
  one session per connection (5-tuple and start time), packets and bytes of both directions at
  the connection's last record (the aggregator's totals are cumulative).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from labkit.nsx.interworking.realize import rule_id_of
from labkit.nsx.manager.flow_analytics import RECORD_FIELDS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ACNP_TYPE = 3
_CONNECTION = ("sourceIP", "destinationIP", "sourceTransportPort", "destinationTransportPort",
               "protocolIdentifier", "flowStartSeconds")
RuleKey = tuple[str, str]  # (ACNP name, NSX rule_id)


def records_from_frame(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: the known columns of ``frame``, times as epoch seconds, no NaN/None."""
    columns = [c for c in frame.columns if c in RECORD_FIELDS]
    out = []
    for row in frame[columns].itertuples(index=False, name=None):
        record = {}
        for name, value in zip(columns, row):
            value = _plain(value)
            if value is not None:
                record[name] = value
        out.append(record)
    return out


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "timestamp"):  # pandas/datetime timestamps -> IPFIX dateTimeSeconds
        try:
            return int(value.timestamp())
        except (ValueError, OverflowError):  # NaT
            return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else int(value)
    return value


def traffic_counters(frame: pd.DataFrame) -> dict[RuleKey, Counter[str]]:
    """Sessions, packets and bytes per (ACNP name, rule_id), as Antrea's rule statistics count them."""
    if frame.empty:
        return {}
    # The last record of each connection holds its totals (aggregated totals are cumulative).
    last = frame.sort_values("flowEndSeconds").drop_duplicates(list(_CONNECTION), keep="last")
    counters: dict[RuleKey, Counter[str]] = {}
    for row in last.itertuples(index=False):
        packets = int(row.packetTotalCount) + int(row.reversePacketTotalCount)
        octets = int(row.octetTotalCount) + int(row.reverseOctetTotalCount)
        for key in _deciding_rules(row):
            counter = counters.setdefault(key, Counter())
            counter["sessions"] += 1
            counter["packets"] += packets
            counter["bytes"] += octets
    return counters


def _deciding_rules(row: Any) -> Iterable[RuleKey]:
    if int(row.egressNetworkPolicyType) == ACNP_TYPE and row.egressNetworkPolicyRuleName:
        yield (row.egressNetworkPolicyName, rule_id_of(row.egressNetworkPolicyRuleName))
    if int(row.egressNetworkPolicyRuleAction) in (2, 3):
        return  # denied at the source: the packet never reaches the destination's ingress rules
    if int(row.ingressNetworkPolicyType) == ACNP_TYPE and row.ingressNetworkPolicyRuleName:
        yield (row.ingressNetworkPolicyName, rule_id_of(row.ingressNetworkPolicyRuleName))


def add_counters(total: dict[RuleKey, Counter[str]], more: dict[RuleKey, Counter[str]]) -> None:
    for key, counter in more.items():
        total.setdefault(key, Counter()).update(counter)


def traffic_statistics(policy: dict[str, Any], acnp_name: str,
                       counters: dict[RuleKey, Counter[str]]) -> list[dict[str, Any]]:
    """RuleStatistics bodies for every rule of one NSX policy from traffic counters (0 for rules
    no traffic hit): ``hit_count`` = ``session_count`` = ``total_session_count`` = sessions."""
    results = []
    for rule in policy.get("rules") or []:
        counter = counters.get((acnp_name, str(rule.get("rule_id"))), Counter())
        sessions = counter["sessions"]
        results.append({"internal_rule_id": str(rule.get("rule_id")), "hit_count": sessions,
                        "session_count": sessions, "total_session_count": sessions,
                        "packet_count": counter["packets"], "byte_count": counter["bytes"]})
    return results


__all__ = ["add_counters", "records_from_frame", "traffic_counters", "traffic_statistics"]
