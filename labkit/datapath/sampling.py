"""Flow-based IPFIX sampling for the compiled pipeline: ``sample(...)`` actions whose observation
point ids name the policy rule (pure; no I/O).

Why sampling actions rather than bridge-level IPFIX or conntrack alone: Antrea's Flow Exporter
reads conntrack for allowed connections and learns denied ones from packet-ins
(pkg/agent/flowexporter, the "deny connection store"). labkit's ovs backend has the real OVS
IPFIX exporter at hand instead, and flow sampling (``Flow_Sample_Collector_Set`` + ``sample``,
ovs-actions(7)) puts the *rule* into every record: the observation point id is set per OpenFlow
flow (feasibility.md §4: bridge-level sampling only carries one constant point id, and OVS's
IPFIX has no conntrack IEs). Two kinds of observation point, told apart by the cookie category
folded into the point id:

* connection accounting (the conntrack cookie): one flow in ``ConntrackState`` samples **every** tracked IPv4 packet
  once per node, after conntrack and before any policy table: per-direction packet/octet
  counters of every connection, allowed or not (Antrea's conntrack counters);
* decisions (policy and isolation cookies): the rule that decided, at the point it decides. Allow rules sample the
  first packet of a connection (on their Metric table's ``ct_state=+new`` flow, the one that
  commits the connection with the rule id); Drop/Reject rules and K8s isolation sample every packet they deny (a sampled drop is
  ``actions=sample(...)`` alone: OVS does not combine ``drop`` with other actions).

All samples of one node use one observation domain (the node's; Antrea uses the FNV-1 hash of the
Node name): OVS 3.1 sends the templates of one domain per template interval only
(``ipfix_send_template_msgs`` is called with the domain of the first expiring entry), so a second
domain's data sets would stay undecodable for ten minutes.

The observation point id is the flow's cookie folded into 32 bits, ``category << 24 | value``
(:func:`observation_point_id`), so :func:`labkit.datapath.decode_cookie` of
:func:`cookie_of_point` names the rule, exactly as ``dump-flows`` and ``ofproto/trace`` do.
"""

from __future__ import annotations

from dataclasses import replace

from .compile import COOKIE_SHIFT, PIPELINE_PRIORITY
from .openflow import FlowEntry
from .pipeline import METRIC_TABLES, next_table

COLLECTOR_SET_ID = 1
DEFAULT_DOMAIN = 1
PROBABILITY_ALL = 65535  # sample every packet (65535/65535)
ACCOUNTING_PRIORITY = PIPELINE_PRIORITY - 20  # below ConntrackState's +inv drop (190)
_POINT_SHIFT = 24


def observation_point_id(cookie: int) -> int:
    """A cookie (``category << 48 | value``) as a 32-bit observation point id."""
    category, value = cookie >> COOKIE_SHIFT, cookie & ((1 << COOKIE_SHIFT) - 1)
    if value >= 1 << _POINT_SHIFT:
        raise ValueError(f"cookie {cookie:#x} does not fit an observation point id (value >= 2**24)")
    return (category << _POINT_SHIFT) | value


def cookie_of_point(point_id: int) -> int:
    """The cookie an observation point id was made from (inverse of :func:`observation_point_id`)."""
    return ((point_id >> _POINT_SHIFT) << COOKIE_SHIFT) | (point_id & ((1 << _POINT_SHIFT) - 1))


def sample_action(point_id: int, domain: int = DEFAULT_DOMAIN, collector_set_id: int = COLLECTOR_SET_ID) -> str:
    """The ``sample(...)`` action as ``ovs-ofctl`` prints it back."""
    return (f"sample(probability={PROBABILITY_ALL},collector_set_id={collector_set_id},"
            f"obs_domain_id={domain},obs_point_id={point_id})")


def accounting_flow(cookie: int, domain: int = DEFAULT_DOMAIN, collector_set_id: int = COLLECTOR_SET_ID) -> FlowEntry:
    """ConntrackState: sample every tracked IPv4 packet, then continue as the table-miss does."""
    return FlowEntry("ConntrackState", ACCOUNTING_PRIORITY, "ct_state=+trk,ip",
                     f"{sample_action(observation_point_id(cookie), domain, collector_set_id)},"
                     f"goto_table:{next_table('ConntrackState').name}", cookie)


def _is_decision(flow: FlowEntry) -> bool:
    category = flow.cookie >> COOKIE_SHIFT
    if category == 3:  # K8s isolation drops in *DefaultRule
        return flow.actions == "drop"
    if category != 2:
        return False
    if flow.table not in METRIC_TABLES.values():
        return False
    if "ct_state=+new" in flow.match and "ct(commit" in flow.actions:
        # An Allow rule's metric flow for the first packet of a connection (it commits the
        # connection with the rule id); established packets match its ct_label twin, unsampled.
        return True
    # Every Drop/Reject, baseline ones too, is performed in a Metric table (reg3 = the conj id).
    return "reg3=" in flow.match


def with_sampling(flows: list[FlowEntry], domain: int = DEFAULT_DOMAIN,
                  collector_set_id: int = COLLECTOR_SET_ID) -> list[FlowEntry]:
    """``flows`` (one node's compiled pipeline) with the sampling flows and actions added."""
    from .compile import CONNTRACK_COOKIE

    out: list[FlowEntry] = []
    for flow in flows:
        if _is_decision(flow):
            sample = sample_action(observation_point_id(flow.cookie), domain, collector_set_id)
            actions = sample if flow.actions == "drop" else f"{sample},{flow.actions}"
            flow = replace(flow, actions=actions)
        out.append(flow)
    out.append(accounting_flow(CONNTRACK_COOKIE, domain, collector_set_id))
    return out


__all__ = ["COLLECTOR_SET_ID", "DEFAULT_DOMAIN", "accounting_flow", "cookie_of_point",
           "observation_point_id", "sample_action", "with_sampling"]
