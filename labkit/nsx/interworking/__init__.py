"""labkit's Antrea-NSX interworking adapter: a Lab registered with an NSX Manager.

Public surface::

    NSXAdapter(lab, admin_client_or_url, cluster_name=..., ca_path=..., cert_dir=..., key_type=...)
        .register() -> cluster id     .sync() -> SyncReport     .start()/.stop()/.close()
        .deregister(delete_identity=True)      .status()  .health()  .acnp_name(policy_id)
        .report_flows(lab.flows(run), label=...)   flow records to NSX; statistics count them
        .events (AdapterEvent)   .realization (RealizedIntent by NSX path)   .statistics
    AdapterEvent, RealizedIntent, SyncReport, AdapterError
    CATEGORY_TIERS, MANAGED_BY_LABEL          the mapping the adapter realizes NSX policies with

Modules: :mod:`.registration` (certificate, PI, cluster control plane), :mod:`.inventory_report` (lab ->
NSX container inventory, deltas), :mod:`.realize` (NSX desired state -> Tiers, ClusterGroups,
ClusterNetworkPolicies), :mod:`.rule_statistics` (rule hit counts from a probe round),
:mod:`.flow_report` (flow records to NSX, rule counters from traffic), :mod:`.traceflow_runner`
(NSX traceflow <-> lab traceflow), :mod:`.adapter` (the reconcile loop). What it does and what
differs from the product: docs/nsx-adapter.md.
"""

from labkit.nsx.interworking.adapter import (
           AdapterEvent,
           NSXAdapter,
           RealizedIntent,
           SyncReport,
)
from labkit.nsx.interworking.errors import AdapterError
from labkit.nsx.interworking.realize import CATEGORY_TIERS, MANAGED_BY_LABEL

__all__ = [
           "CATEGORY_TIERS",
           "MANAGED_BY_LABEL",
           "AdapterError",
           "AdapterEvent",
           "NSXAdapter",
           "RealizedIntent",
           "SyncReport",
]
