"""What a plan would change in the lab, before anything is written (``plan.preview()``).

The preview runs the adapter's own mapping on the plan: it takes what NSX wants for the cluster
now (``GET /labkit/v1/.../desired-state``, as the adapter reads it), puts the plan's groups and
policy in (objects NSX already has keep their ``unique_id`` and ``rule_id``; new ones get
stand-ins, since NSX assigns those on creation), renders it with
:func:`labkit.nsx.interworking.realize.render` (the one NSX -> Antrea mapping) and applies the
result to a **copy** of the lab's cluster state, as the adapter applies it to the lab: what the
rendering holds is applied, NSX-managed objects it no longer holds are deleted. The policy engine
then evaluates every pod pair on the plan's ports before (the lab as it is) and after (the copy),
like ``lab.expected_reachability``; the differences are the preview, with the observed connections
and what happens to each.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from labkit.errors import LabkitError, ManifestError
from labkit.model.manifest import parse_manifest
from labkit.nsx.interworking.realize import is_managed, manifest_key, render
from labkit.nsx.manager import paths
from labkit.nsx.manager.client import NSXClient
from labkit.nsx.manager.policy_schema import CATEGORIES
from labkit.nsx.planner.changes import current
from labkit.nsx.planner.tiers import Observation
from labkit.policy.compiler import compile_policies
from labkit.policy.evaluate import evaluate
from labkit.policy.probe import Probe
from labkit.policy.reachability import Reachability

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from labkit.model.cluster import ClusterState

P = paths.POLICY_API
PLANNED_RULE_ID_BASE = 900_000_000  # stand-in rule_ids for rules NSX has not numbered yet


@dataclass
class Preview:
    """The lab's matrix on the plan's ports, before and after the plan, and the observed flows."""

    before: dict[tuple[str, int], Reachability]
    after: dict[tuple[str, int], Reachability]
    connections: pd.DataFrame  # source, destination, protocol, port, records, before, after
    cells: pd.DataFrame  # every cell that changes: source, destination, protocol, port, before, after, observed
    unobserved_allowed: pd.DataFrame  # allowed after the plan, though never seen (tier granularity)
    errors: dict[str, list[str]] = field(default_factory=dict)  # NSX path -> what cannot be realized
    manifests: list[dict[str, Any]] = field(default_factory=list)  # the Antrea objects it would realize

    @property
    def ok(self) -> bool:
        """Everything realizable and every observed connection allowed after the plan."""
        return not self.errors and bool((self.connections["after"] == "allow").all())

    def summary(self) -> str:
        lines = []
        for (protocol, port), before in self.before.items():
            after = self.after[(protocol, port)]
            changed = self.cells[(self.cells.protocol == protocol) & (self.cells.port == port)]
            lines.append(f"{protocol}/{port}: {before.counts()['allow']} -> {after.counts()['allow']} allowed pod "
                         f"pairs (of {before.codes.size}, each pod to itself included); {len(changed)} change "
                         f"({(changed.after != 'allow').sum()} denied from now on)")
        kept = int((self.connections["after"] == "allow").sum())
        lines.append(f"observed connections: {kept} of {len(self.connections)} allowed after the plan")
        if len(self.unobserved_allowed):
            lines.append(f"{len(self.unobserved_allowed)} pod pair(s) allowed though never observed "
                         "(tiers group pods: see .unobserved_allowed)")
        for path, problems in self.errors.items():
            lines.append(f"cannot be realized: {path}: {'; '.join(problems)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return "Preview: " + ("ok" if self.ok else "NOT ok") + "\n" + self.summary()

    def _repr_html_(self) -> str:
        colour = "#009E73" if self.ok else "#D55E00"
        rows = "".join(f"<li>{escape(line)}</li>" for line in self.summary().splitlines())
        table = self.cells.head(40).to_html(index=False) if len(self.cells) else "<i>no cell changes</i>"
        return (f"<div style='border-left:6px solid {colour};padding:4px 8px'><b>Preview: "
                f"{'ok' if self.ok else 'NOT ok'}</b><ul>{rows}</ul>{table}</div>")


def preview(client: NSXClient, cluster_name: str, state: ClusterState, obs: Observation,
            groups: list[dict[str, Any]], policy: dict[str, Any],
            ports: list[tuple[str, int]] | None = None) -> Preview:
    """See the module docstring; ``state`` is the lab's (not changed)."""
    import pandas as pd

    desired = client.desired_state(cluster_name)
    planned = _with_plan(client, desired, groups, policy)
    rendering = render(planned)
    after_state, apply_errors = _realized_copy(state, rendering.manifests)
    errors = {**rendering.errors, **apply_errors}
    probes = ports or sorted({(c.protocol, c.port) for c in obs.connections})
    pods = [p.key for p in state.pods]
    before_set, after_set = compile_policies(state), compile_policies(after_state)
    before, after = {}, {}
    for protocol, port in probes:
        probe = Probe(protocol, port)
        before[(protocol, port)] = Reachability.from_evaluation(
            evaluate(before_set, state.pods, probe, pods, pods), probe, before_set, backend="engine")
        after[(protocol, port)] = Reachability.from_evaluation(
            evaluate(after_set, after_state.pods, probe, pods, pods), probe, after_set, backend="engine")
    seen = {(c.source, c.destination, c.protocol, c.port) for c in obs.connections}
    cells = [{"source": s, "destination": d, "protocol": protocol, "port": port, "before": b, "after": a,
              "observed": (s, d, protocol, port) in seen}
             for (protocol, port), matrix in before.items()
             for s, d, b, a in matrix.diff(after[(protocol, port)])]
    connections = [{"source": c.source, "destination": c.destination, "protocol": c.protocol, "port": c.port,
                    "records": n, "before": before[(c.protocol, c.port)][c.source, c.destination]
                    if (c.protocol, c.port) in before else "",
                    "after": after[(c.protocol, c.port)][c.source, c.destination]
                    if (c.protocol, c.port) in after else ""}
                   for c, n in sorted(obs.connections.items())]
    scoped = {k for k in pods if k.split("/")[0] in obs.app_namespaces}
    unobserved = [{"source": s, "destination": d, "protocol": protocol, "port": port}
                  for (protocol, port), matrix in after.items() for s, d, v in matrix.cells()
                  if v == "allow" and s != d and d in scoped and (s, d, protocol, port) not in seen]
    return Preview(before, after,
                   pd.DataFrame(connections, columns=["source", "destination", "protocol", "port", "records",
                                                      "before", "after"]),
                   pd.DataFrame(cells, columns=["source", "destination", "protocol", "port", "before", "after",
                                                "observed"]),
                   pd.DataFrame(unobserved, columns=["source", "destination", "protocol", "port"]),
                   errors, rendering.manifests)


def _with_plan(client: NSXClient, desired: dict[str, Any], groups: list[dict[str, Any]],
               policy: dict[str, Any]) -> dict[str, Any]:
    """``desired`` with the plan's groups and policy in, as NSX would hand them to the adapter."""
    out = copy.deepcopy(desired)
    by_path = {g["path"]: g for g in out.get("groups") or []}
    for group in groups:
        path = paths.group_path(group["id"])
        old = by_path.get(path) or current(client, path)
        by_path[path] = {**group, "path": path, "unique_id": (old or {}).get("unique_id") or _stand_in(path),
                         "_revision": (old or {}).get("_revision", -1)}
    out["groups"] = list(by_path.values())
    policy_path = paths.policy_path(policy["id"])
    old = current(client, policy_path) or {}
    old_rules = {r["id"]: r for r in old.get("rules") or []}
    rules = []
    for i, rule in enumerate(policy["rules"]):
        known = old_rules.get(rule["id"], {})
        rules.append({**rule, "path": f"{policy_path}/rules/{rule['id']}",
                      "rule_id": known.get("rule_id", PLANNED_RULE_ID_BASE + i)})
    planned = {**policy, "path": policy_path, "unique_id": old.get("unique_id") or _stand_in(policy_path),
               "_revision": old.get("_revision", -1), "rules": sorted(rules, key=_order)}
    out["security_policies"] = sorted([p for p in out.get("security_policies") or [] if p["path"] != policy_path]
                                      + [planned], key=_policy_order)
    services = {s["path"]: s for s in out.get("services") or []}
    for rule in rules:
        for path in rule.get("services") or []:
            if path != "ANY" and path not in services:
                services[path] = current(client, path) or {"path": path}
    out["services"] = list(services.values())
    return out


def _stand_in(path: str) -> str:
    """A ``unique_id`` for an object NSX has not created yet (stable, so previews repeat)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"labkit-planner:{path}"))


def _order(rule: dict[str, Any]) -> tuple[int, str]:
    return int(rule.get("sequence_number", 0)), rule["id"]


def _policy_order(policy: dict[str, Any]) -> tuple[int, int, str]:
    category = policy.get("category")
    return (CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES),
            int(policy.get("sequence_number", 0)), policy["id"])


def _realized_copy(state: ClusterState, manifests: list[dict[str, Any]]) -> tuple[ClusterState, dict[str, list[str]]]:
    """A copy of ``state`` holding what the adapter would leave in the lab for ``manifests``."""
    copied = state.copy()
    wanted = {manifest_key(m) for m in manifests}
    try:
        items, problems = parse_manifest(copy.deepcopy(manifests))
        if problems:
            raise ManifestError(problems)
        copied.apply(items)
        stale = [obj.ref for obj in copied.objects.values()
                 if is_managed(getattr(obj, "raw", None)) and obj.ref.kind != "Tier"
                 and f"{obj.ref.kind}/{obj.ref.name}" not in wanted]
        copied.delete(stale)
    except LabkitError as exc:
        return state.copy(), {"(the cluster)": [f"the lab would refuse the rendered objects: {exc}"]}
    return copied, {}


__all__ = ["Preview", "preview"]
