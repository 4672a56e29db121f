"""``SegmentationPlan``: NSX groups and one DFW policy planned from observed flows.

::

    plan = plan_segmentation(lab.flows(run), client=security, adapter=adapter)   # nothing written
    plan.to_frame()          # one row per planned rule
    plan.groups, plan.policies
    plan.changes()           # what differs from NSX now (the minimal change)
    plan.preview()           # the lab's matrix before/after, and the observed connections
    plan.push()              # one hierarchical PATCH, then one adapter pass

It talks to NSX only through the security admin's :class:`~labkit.nsx.manager.NSXClient`, like
the adapter, and reads the lab only for its pods and labels (and, in :meth:`preview`, a copy of
its state). What is planned and why: :mod:`.tiers` and :mod:`.bodies`; the minimal change:
:mod:`.changes`; the preview: :mod:`.preview`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from labkit.flows.recommend import NAMESPACE_ALLOW_LIST
from labkit.nsx.manager import paths
from labkit.nsx.manager.client import NSXClient
from labkit.nsx.manager.flow_analytics import single_port_services
from labkit.nsx.manager.policy_schema import POLICY_SEQUENCE_MAX
from labkit.nsx.planner import bodies, changes
from labkit.nsx.planner.errors import PlanError
from labkit.nsx.planner.preview import Preview, preview
from labkit.nsx.planner.tiers import Observation, observe, slug

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

    import pandas as pd

    from labkit.nsx.interworking import NSXAdapter, SyncReport

P = paths.POLICY_API
ACTIONS = ("DROP", "REJECT")


@dataclass
class PushResult:
    """What :meth:`SegmentationPlan.push` wrote, and how NSX reports it realized."""

    changes: list[changes.Change]
    sync: SyncReport | None
    realization: dict[str, str]  # NSX path -> consolidated realization status

    @property
    def ok(self) -> bool:
        return all(status == "SUCCESS" for status in self.realization.values())

    def __str__(self) -> str:
        head = f"pushed {len(self.changes)} change(s)" if self.changes else "nothing to push: NSX holds the plan"
        lines = [head, *(f"  {c}" for c in self.changes)]
        if self.sync is not None:
            lines.append(str(self.sync))
        lines += [f"  realization {status:<11} {path}" for path, status in self.realization.items()]
        return "\n".join(lines)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731


class SegmentationPlan:
    """A micro-segmentation plan for one registered cluster (see the module docstring)."""

    def __init__(self, *, name: str, client: NSXClient, adapter: NSXAdapter, observation: Observation,
                 groups: list[dict[str, Any]], policy: dict[str, Any], rules: list[bodies.PlannedRule]) -> None:
        self.name = name
        self.client = client
        self.adapter = adapter
        self.observation = observation
        self.groups = groups
        self.policies = [policy]
        self.rules = rules

    @property
    def policy(self) -> dict[str, Any]:
        return self.policies[0]

    @property
    def warnings(self) -> list[str]:
        """Observed connections the plan cannot allow (and so will cut), with why."""
        return list(self.observation.skipped)

    # ------------------------------------------------------------------ what it is

    def to_frame(self) -> pd.DataFrame:
        """One row per planned rule: source and destination group, service, action, direction,
        where it applies, its order and how many observed pod pairs it allows."""
        import pandas as pd

        rows = []
        for r in self.rules:
            body = r.body
            rows.append({"rule": body["id"], "source_group": _short(r.source), "destination_group": _short(r.destination),
                         "service": ", ".join([*(s.rsplit("/", 1)[-1] for s in body["services"] if s != "ANY"),
                                               *(f"{e['l4_protocol']}/{','.join(e['destination_ports'])}"
                                                 for e in body["service_entries"])]) or "ANY",
                         "action": body["action"], "direction": body["direction"],
                         "applied_to": ", ".join(_short(s) for s in body["scope"]),
                         "sequence_number": body["sequence_number"], "observed_pod_pairs": r.pod_pairs})
        return pd.DataFrame(rows, columns=["rule", "source_group", "destination_group", "service", "action",
                                           "direction", "applied_to", "sequence_number", "observed_pod_pairs"])

    def changes(self) -> list[changes.Change]:
        """What differs between NSX now and the plan: the writes :meth:`push` would send."""
        return changes.compute(self.client, self.groups, self.policy, self.name)

    def diff(self) -> pd.DataFrame:
        """:meth:`changes` as a table (op, kind, id, fields that differ, path)."""
        import pandas as pd

        return pd.DataFrame([{"op": c.op, "kind": c.kind, "id": c.path.rsplit("/", 1)[-1], "fields": ", ".join(c.fields),
                              "path": c.path} for c in self.changes()], columns=["op", "kind", "id", "fields", "path"])

    def hierarchical_body(self) -> dict[str, Any] | None:
        """The ``PATCH /policy/api/v1/infra`` body :meth:`push` sends (None: nothing to do)."""
        return changes.hierarchical_body(self.changes())

    def preview(self, ports: Iterable[tuple[str, int]] | None = None) -> Preview:
        """The lab's matrix before and after the plan, on the observed ports (or ``ports``), and
        what happens to each observed connection; nothing is written (:mod:`.preview`)."""
        return preview(self.client, self.adapter.cluster_name, self.adapter.lab.state, self.observation,
                       self.groups, self.policy, list(ports) if ports is not None else None)

    # ------------------------------------------------------------------ writing it

    def push(self, *, sync: bool = True) -> PushResult:
        """Send the minimal change to NSX in one hierarchical PATCH (one transaction), then run one
        adapter pass (what the in-cluster adapter does on its own) unless ``sync=False``."""
        found = self.changes()
        body = changes.hierarchical_body(found)
        if body is not None:
            self.client.patch(f"{P}/infra", body)
        report = self.adapter.sync() if sync else None
        realization = {}
        for path in [*(paths.group_path(g["id"]) for g in self.groups), paths.policy_path(self.policy["id"])]:
            status = self.client.get(f"{P}/infra/realized-state/status", intent_path=path)
            realization[path] = status["consolidated_status"]["consolidated_status"]
        return PushResult(found, report, realization)

    # ------------------------------------------------------------------ display

    def __str__(self) -> str:
        frame = self.to_frame()
        head = (f"SegmentationPlan {self.name!r} for {self.adapter.cluster_name}: {len(self.groups)} group(s), policy "
                f"{self.policy['id']} with {len(self.rules)} rule(s) from {len(self.observation.connections)} "
                f"observed connection(s); isolates {', '.join(self.observation.app_namespaces)}")
        warn = "".join(f"\nwarning: {w}" for w in self.warnings)
        return f"{head}\n{frame.to_string(index=False)}{warn}"

    def __repr__(self) -> str:
        return (f"<SegmentationPlan {self.name!r} groups={len(self.groups)} rules={len(self.rules)} "
                f"cluster={self.adapter.cluster_name!r}>")

    def _repr_html_(self) -> str:
        warn = "".join(f"<div style='color:#D55E00'>warning: {escape(w)}</div>" for w in self.warnings)
        return (f"<div><b>Segmentation plan {escape(self.name)}</b> for {escape(self.adapter.cluster_name)}: "
                f"{len(self.groups)} groups, policy <code>{escape(self.policy['id'])}</code> "
                f"(Application), isolating {escape(', '.join(self.observation.app_namespaces))}</div>"
                f"{warn}{self.to_frame().to_html(index=False)}")


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1] if path != "ANY" else "ANY"


def plan_segmentation(flows: Any, *, client: NSXClient, adapter: NSXAdapter, name: str | None = None,
                      approve: Any = None, tier_label: str | None = "app", direction: bodies.Direction = "IN_OUT",
                      default_action: str = "DROP", allow_dns: bool = True,
                      ns_allow_list: Iterable[str] = NAMESPACE_ALLOW_LIST) -> SegmentationPlan:
    """Plan NSX groups and one Application-category DFW policy that allow the flows observed in
    ``flows`` (``lab.flows(run)``) and drop the rest in the application's namespaces.

    ``approve``: more flows (a DataFrame of the same kind) to allow although they were denied, e.g.
    a new version's connection seen blocked in NSX. ``name``: the plan's name, prefix of every id
    (default: the lab profile's). ``tier_label``: the pod label that names tiers (``app``).
    ``direction``: ``"IN_OUT"`` isolates ingress and egress (with DNS allowed, as the K8s
    recommendation), ``"IN"`` ingress only. ``default_action``: ``DROP`` or ``REJECT``.
    """
    if not adapter.registered:
        raise PlanError(f"cluster {adapter.cluster_name!r} is not registered with NSX: call adapter.register() "
                        "(or start_nsx(lab, register=True)) before planning")
    if direction not in ("IN_OUT", "IN"):
        raise PlanError(f"direction {direction!r} must be 'IN_OUT' (isolate ingress and egress) or 'IN'")
    if default_action not in ACTIONS:
        raise PlanError(f"default_action {default_action!r} must be one of {', '.join(ACTIONS)}")
    lab = adapter.lab
    name = slug(name or lab.profile.name or lab.name)
    table = flows
    if approve is not None:
        import pandas as pd

        if not hasattr(approve, "columns"):
            raise PlanError("approve= takes a flow DataFrame (rows of lab.flows(run)), e.g. the blocked flows "
                            "of a new version that should be allowed")
        table = pd.concat([flows, approve.assign(verdict="allow")], ignore_index=True)
    obs = observe(table, lab.state, tier_label=tier_label, ns_allow_list=ns_allow_list)
    if not obs.connections:
        raise PlanError("no allowed pod-to-pod TCP/UDP flow in the table: run traffic first "
                        "(run = lab.generate_traffic(...); lab.flows(run)) or pass approve=")
    policy_path = paths.policy_path(f"{name}-segmentation")
    existing = changes.current(client, policy_path)
    services = single_port_services(client.list_all(f"{P}{paths.SERVICES}"))
    groups, policy, rules = bodies.build(
        obs, name=name, ccp_path=adapter.ccp_path, direction=direction, default_action=default_action,
        allow_dns=allow_dns, services=services, existing_policy=existing,
        policy_sequence=_next_policy_sequence(client, policy_path))
    return SegmentationPlan(name=name, client=client, adapter=adapter, observation=obs,
                            groups=copy.deepcopy(groups), policy=copy.deepcopy(policy), rules=rules)


def _next_policy_sequence(client: NSXClient, policy_path: str) -> int:
    """After every other Application policy (as NSX 4.2 appends imported policies)."""
    others = [int(p.get("sequence_number", 0)) for p in client.list_all(f"{P}{paths.SECURITY_POLICIES}")
              if p.get("category") == "Application" and p["path"] != policy_path]
    return min(max(others, default=0) + bodies.SEQUENCE_STEP, POLICY_SEQUENCE_MAX)


__all__ = ["PushResult", "SegmentationPlan", "plan_segmentation"]
