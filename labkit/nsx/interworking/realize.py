"""NSX desired state -> Antrea Tiers, ClusterGroups and ClusterNetworkPolicies (pure, no I/O).

What the Central Control Plane adapter writes into the cluster (nsx.md §4.2, §5.3, §5.4; observed
objects in the NSX-realized ACNP/ClusterGroup YAML quoted there):

* **Tiers**: one per NSX category, ``nsx-category-<category>`` with priorities 0..4, so every
  NSX policy is evaluated before Antrea's own tiers (emergency is 50) and K8s NetworkPolicies.
* **ClusterGroups**: one parent per NSX Antrea group, named after the group's ``unique_id``, with
  ``childGroups`` ``<uuid>-<n>``: one child per OR-ed criterion. Pod Tag EQUALS -> ``podSelector``
  ``matchLabels``, NOTEQUALS -> ``matchExpressions NotIn`` (observed); Namespace Name ->
  ``namespaceSelector`` on ``kubernetes.io/metadata.name`` (observed); Namespace Tag ->
  ``namespaceSelector``; Service Name + Namespace Name -> ``serviceReference``; IP addresses ->
  ``ipBlocks`` (observed). Conditions of one criterion share one child.
* **ClusterNetworkPolicies**: one per NSX policy, named after its ``unique_id``, in its category's
  tier; each NSX rule becomes an ingress rule (sources set), an egress rule (destinations set) or,
  Any-to-Any, ingress for IN, egress for OUT and both for IN_OUT. Rule name = NSX ``rule_id``
  (the egress half of an IN_OUT rule gets ``-out``, since Antrea wants unique names per policy).
  ``appliedTo`` goes on every rule: the policy's Applied-To groups when set (policy level wins),
  else the rule's, else every pod (``podSelector: {}``). ALLOW/DROP/REJECT -> Allow/Drop/Reject,
  ``logged`` -> ``enableLogging``, TCP/UDP destination ports -> ``ports``. Disabled rules are left out.
* Every object carries the label the real adapter sets,
  ``ccp-adapter.antrea.tanzu.vmware.com/managedBy: ccp-adapter``, and its NSX display name and
  intent path as annotations.

Priorities: NSX orders policies in a category by ``sequence_number``; the adapter maps that order
onto small floats (observed values like 1.0000000532...). The formula is not public, so here the
i-th of n policies of a category gets ``1 + (i + 1) / (n + 1)``: strictly increasing, inside (1, 2).

What cannot be realized (a Tag condition without scope, an ICMP service ...) is not rendered and is
reported per intent path in :attr:`Rendering.errors`; a policy that uses a broken group fails too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from labkit.model.objects import ANTREA_GROUP

API_VERSION = f"{ANTREA_GROUP}/v1beta1"
MANAGED_BY_LABEL = "ccp-adapter.antrea.tanzu.vmware.com/managedBy"
MANAGED_BY_VALUE = "ccp-adapter"
DISPLAY_NAME_ANNOTATION = "ccp-adapter.antrea.tanzu.vmware.com/display-name"
PARENT_ANNOTATION = "ccp-adapter.antrea.tanzu.vmware.com/parent"
# labkit's own: which NSX object (and which _revision of it) an Antrea object realizes.
INTENT_PATH_ANNOTATION = "labkit.io/nsx-intent-path"
INTENT_VERSION_ANNOTATION = "labkit.io/nsx-intent-version"

# NSX category -> (Antrea Tier, priority) as the adapter creates them (nsx.md §5.3).
CATEGORY_TIERS: dict[str, tuple[str, int]] = {
    "Ethernet": ("nsx-category-ethernet", 0),
    "Emergency": ("nsx-category-emergency", 1),
    "Infrastructure": ("nsx-category-infrastructure", 2),
    "Environment": ("nsx-category-environment", 3),
    "Application": ("nsx-category-application", 4),
}
ACTIONS = {"ALLOW": "Allow", "DROP": "Drop", "REJECT": "Reject"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
LABEL_SCOPE_PREFIX = "dis:k8s:"
EGRESS_SUFFIX = "-out"


@dataclass
class Rendering:
    """What the cluster should hold: manifests in apply order, who they realize, what failed."""

    manifests: list[dict[str, Any]] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)  # "Kind/name" -> NSX intent path
    errors: dict[str, list[str]] = field(default_factory=dict)  # intent path -> problems
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # ACNP name -> NSX policy


def manifest_key(manifest: dict[str, Any]) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def is_managed(raw: Any) -> bool:
    labels = ((raw or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def rule_id_of(acnp_rule_name: str) -> str:
    """The NSX ``rule_id`` an ACNP rule realizes (inverse of the naming above)."""
    return acnp_rule_name.removesuffix(EGRESS_SUFFIX)


def tier_manifests() -> list[dict[str, Any]]:
    return [_object("Tier", name, {"priority": priority,
                                   "description": f"NSX {category} category (managed by NSX)"},
                    display=f"NSX {category} category", intent="")
            for category, (name, priority) in CATEGORY_TIERS.items()]


def render(desired: dict[str, Any]) -> Rendering:
    """Everything the adapter should have in the cluster for one ``desired-state`` answer."""
    out = Rendering(manifests=tier_manifests())
    groups = {g["path"]: g for g in desired.get("groups") or []}
    services = {s["path"]: s for s in desired.get("services") or []}
    group_names: dict[str, str] = {}
    for path, group in groups.items():
        try:
            manifests = group_manifests(group)
        except _Unrealizable as exc:
            out.errors[path] = exc.problems
            continue
        group_names[path] = group["unique_id"]
        for m in manifests:
            out.manifests.append(m)
            out.owners[manifest_key(m)] = path
    policies = desired.get("security_policies") or []
    by_category: dict[str, list[dict[str, Any]]] = {}
    for policy in policies:  # the manager sends them in evaluation order
        by_category.setdefault(policy.get("category", "Application"), []).append(policy)
    for members in by_category.values():
        for i, policy in enumerate(members):
            priority = 1 + (i + 1) / (len(members) + 1)
            missing = [p for p in groups_used(policy) if p in out.errors]
            if missing:
                out.errors[policy["path"]] = [f"uses group {p}, which could not be realized" for p in missing]
                continue
            try:
                manifest = policy_manifest(policy, priority, group_names, services)
            except _Unrealizable as exc:
                out.errors[policy["path"]] = exc.problems
                continue
            out.manifests.append(manifest)
            out.owners[manifest_key(manifest)] = policy["path"]
            out.policies[manifest["metadata"]["name"]] = policy
    return out


# -- groups --------------------------------------------------------------------------------------
class _Unrealizable(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def group_manifests(group: dict[str, Any]) -> list[dict[str, Any]]:
    """The parent ClusterGroup of an NSX Antrea group and its ``-<n>`` children."""
    name = group["unique_id"]
    children = []
    problems: list[str] = []
    for n, term in enumerate(_criteria_dnf(group.get("expression") or [])):
        try:
            spec = _child_spec(term)
        except _Unrealizable as exc:
            problems += [f"criterion {n}: {p}" for p in exc.problems]
            continue
        child = _object("ClusterGroup", f"{name}-{n}", spec, display=f"{group.get('display_name', '')}-{n}",
                        intent=group["path"])
        child["metadata"]["annotations"][PARENT_ANNOTATION] = name
        children.append(child)
    if problems:
        raise _Unrealizable(problems)
    parent = _object("ClusterGroup", name, {"childGroups": [c["metadata"]["name"] for c in children]},
                     display=group.get("display_name", name), intent=group["path"],
                     version=group.get("_revision"))
    return [*children, parent]  # children first: the parent names them


def _criteria_dnf(expression: list[Any]) -> list[list[dict[str, Any]]]:
    """The group's criteria as an OR of ANDed conditions, folding left to right as NSX reads them.

    ``A OR B AND C`` (B, C single conditions of one member type) is ``A OR (B AND C)``; an IP
    criterion is one term holding the IPAddressExpression.
    """
    terms: list[list[dict[str, Any]]] = []
    pending = "OR"
    for expr in expression:
        if not isinstance(expr, dict):
            continue
        rt = expr.get("resource_type")
        if rt == "ConjunctionOperator":
            pending = expr.get("conjunction_operator", "OR")
            continue
        if rt == "Condition":
            conditions = [expr]
        elif rt == "NestedExpression":
            conditions = [e for e in expr.get("expressions") or []
                          if isinstance(e, dict) and e.get("resource_type") == "Condition"]
        elif rt == "IPAddressExpression":
            conditions = [expr]
        else:
            raise _Unrealizable([f"{rt} criteria are not supported in Antrea groups"])
        if pending == "AND" and terms:
            terms[-1] = terms[-1] + conditions
        else:
            terms.append(conditions)
    return terms


def _child_spec(term: list[dict[str, Any]]) -> dict[str, Any]:
    if term and term[0].get("resource_type") == "IPAddressExpression":
        return {"ipBlocks": [{"cidr": c} for ip in term[0].get("ip_addresses") or [] for c in _cidrs(ip)]}
    pod: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    service = namespace_name = ""
    problems = []
    for cond in term:
        member, key, value = cond.get("member_type"), cond.get("key"), str(cond.get("value", ""))
        negate = cond.get("operator") == "NOTEQUALS"
        if member == "Service" and key == "Name":
            service = value
        elif member == "Namespace" and key == "Name":
            namespace_name = value
            _require(namespace, NAMESPACE_NAME_LABEL, value, False)
        elif key == "Tag" and member in ("Pod", "Namespace"):
            scope, sep, tag = value.partition("|")
            scope = scope.removeprefix(LABEL_SCOPE_PREFIX)
            if not sep or not scope:
                problems.append(f"{member} Tag {value!r} has no scope: Antrea selects by label key, "
                                "write the tag as 'scope|tag' (e.g. 'app|web')")
                continue
            _require(pod if member == "Pod" else namespace, scope, tag, negate)
        else:
            problems.append(f"{member} {key} conditions cannot be realized as an Antrea ClusterGroup")
    if service and (len(term) != 2 or not namespace_name):
        problems.append("a Service Name condition is realized as serviceReference: combine it with "
                        "exactly one Namespace Name condition")
    if problems:
        raise _Unrealizable(problems)
    if service:
        return {"serviceReference": {"name": service, "namespace": namespace_name}}
    spec: dict[str, Any] = {}
    if pod:
        spec["podSelector"] = pod
    if namespace:
        spec["namespaceSelector"] = namespace
    return spec


def _require(selector: dict[str, Any], key: str, value: str, negate: bool) -> None:
    """Add ``key == value`` (or ``NotIn``) to a LabelSelector dict."""
    if negate:
        selector.setdefault("matchExpressions", []).append({"key": key, "operator": "NotIn", "values": [value]})
    elif key == NAMESPACE_NAME_LABEL or key in selector.get("matchLabels", {}):  # the form the real adapter writes for Namespace Name
        selector.setdefault("matchExpressions", []).append({"key": key, "operator": "In", "values": [value]})
    else:
        selector.setdefault("matchLabels", {})[key] = value


def _cidrs(member: str) -> list[str]:
    if "-" in member:
        start, end = (ipaddress.ip_address(x.strip()) for x in member.split("-", 1))
        return [str(n) for n in ipaddress.summarize_address_range(start, end)]  # type: ignore[arg-type]
    return [str(ipaddress.ip_network(member, strict=False))]


# -- policies ------------------------------------------------------------------------------------
def policy_manifest(policy: dict[str, Any], priority: float, group_names: dict[str, str],
                    services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ClusterNetworkPolicy realizing one NSX security policy."""
    category = policy.get("category", "Application")
    if category not in CATEGORY_TIERS:
        raise _Unrealizable([f"category {category!r} has no Antrea tier"])
    problems: list[str] = []

    def peers(paths: list[str], where: str) -> list[dict[str, Any]]:
        out = []
        for p in paths:
            if p == "ANY":
                continue
            if p not in group_names:
                problems.append(f"{where}: group {p} is not part of the desired state")
                continue
            out.append({"group": group_names[p]})
        return out

    policy_scope = peers([p for p in policy.get("scope") or [] if "/groups/" in p], "scope")
    ingress: list[dict[str, Any]] = []
    egress: list[dict[str, Any]] = []
    for rule in policy.get("rules") or []:
        if rule.get("disabled"):
            continue  # a disabled NSX rule is not enforced
        where = f"rule {rule.get('id')} ({rule.get('rule_id')})"
        action = ACTIONS.get(str(rule.get("action")))
        if action is None:
            problems.append(f"{where}: action {rule.get('action')!r} is not supported for Antrea clusters")
            continue
        applied = policy_scope or peers(rule.get("scope") or [], f"{where}.scope") or [{"podSelector": {}}]
        base = {"action": action, "enableLogging": bool(rule.get("logged")), "appliedTo": applied}
        ports = _ports(rule, services, where, problems)
        if ports:
            base["ports"] = ports
        sources = peers(rule.get("source_groups") or [], f"{where}.source_groups")
        destinations = peers(rule.get("destination_groups") or [], f"{where}.destination_groups")
        rule_id = str(rule.get("rule_id"))
        direction = rule.get("direction", "IN_OUT")
        if sources:
            ingress.append({"name": rule_id, **base, "from": sources})
        elif destinations:
            egress.append({"name": rule_id, **base, "to": destinations})
        else:
            if direction in ("IN", "IN_OUT"):
                ingress.append({"name": rule_id, **base})
            if direction in ("OUT", "IN_OUT"):
                name = rule_id + EGRESS_SUFFIX if direction == "IN_OUT" else rule_id
                egress.append({"name": name, **base})
    if problems:
        raise _Unrealizable(problems)
    spec: dict[str, Any] = {"tier": CATEGORY_TIERS[category][0], "priority": priority}
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    if not ingress and not egress:  # no enabled rule: keep the policy, selecting nothing to do
        spec["appliedTo"] = [{"podSelector": {}}]
    return _object("ClusterNetworkPolicy", policy["unique_id"], spec,
                   display=policy.get("display_name", policy["id"]), intent=policy["path"],
                   version=policy.get("_revision"))


def _ports(rule: dict[str, Any], services: dict[str, dict[str, Any]], where: str,
           problems: list[str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for path in rule.get("services") or []:
        if path == "ANY":
            continue
        service = services.get(path)
        if service is None:
            problems.append(f"{where}: service {path} is not part of the desired state")
            continue
        entries += service.get("service_entries") or []
    entries += rule.get("service_entries") or []
    ports: list[dict[str, Any]] = []
    for entry in entries:
        protocol = entry.get("l4_protocol")
        if entry.get("resource_type") != "L4PortSetServiceEntry" or protocol not in ("TCP", "UDP"):
            problems.append(f"{where}: service entry {entry.get('id') or entry.get('resource_type')} is "
                            "not TCP/UDP; Antrea clusters support TCP and UDP services only")
            continue
        destination_ports = entry.get("destination_ports") or []
        if not destination_ports:
            ports.append({"protocol": protocol})
        for text in destination_ports:
            first, _, last = str(text).partition("-")
            port: dict[str, Any] = {"protocol": protocol, "port": int(first)}
            if last:
                port["endPort"] = int(last)
            ports.append(port)
    return ports


def groups_used(policy: dict[str, Any]) -> list[str]:
    used = [p for p in policy.get("scope") or [] if "/groups/" in p]
    for rule in policy.get("rules") or []:
        for name in ("source_groups", "destination_groups", "scope"):
            used += [p for p in rule.get(name) or [] if "/groups/" in p]
    return list(dict.fromkeys(used))


def _object(kind: str, name: str, spec: dict[str, Any], *, display: str, intent: str,
            version: Any = None) -> dict[str, Any]:
    annotations = {DISPLAY_NAME_ANNOTATION: display}
    if intent:
        annotations[INTENT_PATH_ANNOTATION] = intent
    if version is not None:
        annotations[INTENT_VERSION_ANNOTATION] = str(version)
    return {"apiVersion": API_VERSION, "kind": kind,
            "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                         "annotations": annotations},
            "spec": spec}


__all__ = [
    "CATEGORY_TIERS",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "Rendering",
    "group_manifests",
    "groups_used",
    "is_managed",
    "manifest_key",
    "policy_manifest",
    "render",
    "rule_id_of",
    "tier_manifests",
]
