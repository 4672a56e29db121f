"""Who is selected: label selectors over pods and namespaces, ClusterGroup/Group membership.

Reproduces Antrea's group semantics (docs/antrea-network-policy.md, "ClusterGroup" and "Group"):
* ClusterGroup podSelector alone = matching pods of every namespace; Group podSelector alone =
  matching pods of the Group's namespace; namespaceSelector (with or without podSelector) =
  matching pods of matching namespaces;
* ipBlocks select addresses (pods whose IP falls inside are matched by address, as in the datapath);
* serviceReference = the pods the Service's selector currently selects (selector-less: none);
* childGroups = union of children, one level of nesting only: a child that has children of its own
  contributes nothing (status reason ChildGroupsNestingExceeded); children may be created later
  (the e2e tests create the parent first) and membership follows them.

A group used as ``appliedTo`` selects Pods only (:meth:`Selection.applied_to_group`), which differs
from its membership as a rule peer: see that method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.cluster import ClusterState
from ..model.objects import ANTREA_GROUP, Group, IPBlock, ObjectRef, Pod
from ..model.selectors import LabelSelector


@dataclass(frozen=True)
class Members:
    """Pods (by key) plus address blocks. ``any_address`` means every address, in or out of the cluster."""

    pods: frozenset[str] = frozenset()
    ip_blocks: tuple[IPBlock, ...] = ()
    any_address: bool = False

    def __or__(self, other: "Members") -> "Members":
        return Members(self.pods | other.pods, self.ip_blocks + other.ip_blocks, self.any_address or other.any_address)


EMPTY = Members()


@dataclass(frozen=True)
class AppliedToGroup:
    """What a group used as ``appliedTo`` selects: Pods, or the reason the policy cannot be realized."""

    pods: frozenset[str] = frozenset()
    error: str = ""


@dataclass
class Selection:
    """Indexes a ClusterState for fast selector evaluation."""

    state: ClusterState
    ns_labels: dict[str, dict[str, str]] = field(init=False)
    pods: list[Pod] = field(init=False)
    _cache: dict = field(init=False, default_factory=dict)
    # namespace -> [(labels, keys of the pods with exactly those labels)]: a selector is matched
    # once per distinct label set (10,000 pods often carry a few hundred), not once per pod.
    _label_sets: dict[str, list[tuple[dict[str, str], list[str]]]] = field(init=False)

    def __post_init__(self) -> None:
        self.ns_labels = {ns.name: dict(ns.labels) for ns in self.state.namespaces}
        self.pods = self.state.pods
        by_labels: dict[str, dict[tuple, tuple[dict[str, str], list[str]]]] = {}
        for p in self.pods:
            entry = by_labels.setdefault(p.namespace, {}).setdefault(tuple(sorted(p.labels.items())), (p.labels, []))
            entry[1].append(p.key)
        self._label_sets = {ns: list(sets.values()) for ns, sets in by_labels.items()}
        # namespace -> (label key, value) -> the label sets that carry it: a selector's matchLabels
        # (or an `In` expression) narrows the sets it is matched against.
        self._postings: dict[str, dict[tuple[str, str], list[tuple[dict[str, str], list[str]]]]] = {}
        for ns, entries in self._label_sets.items():
            postings = self._postings.setdefault(ns, {})
            for entry in entries:
                for item in entry[0].items():
                    postings.setdefault(item, []).append(entry)

    def _candidates(self, ns: str, selector: LabelSelector | None) -> list[tuple[dict[str, str], list[str]]]:
        """The label sets of ``ns`` that may match ``selector`` (every one it matches, and maybe more)."""
        if selector is not None:
            postings = self._postings.get(ns, {})
            if selector.match_labels:
                return min((postings.get(item, []) for item in selector.match_labels), key=len)
            for req in selector.match_expressions:
                if req.operator == "In":
                    return [e for v in dict.fromkeys(req.values) for e in postings.get((req.key, v), [])]
        return self._label_sets.get(ns, [])

    def namespaces(self, selector: LabelSelector) -> set[str]:
        key = ("ns", selector)
        if key not in self._cache:
            self._cache[key] = {name for name, labels in self.ns_labels.items() if selector.matches(labels)}
        return self._cache[key]

    def select_pods(self, pod_selector: LabelSelector | None, namespace_selector: LabelSelector | None,
                    own_namespace: str | None) -> frozenset[str]:
        """Pods matching the selectors.

        ``own_namespace`` is where a lone podSelector looks (the policy's namespace); ``None`` means
        every namespace (ClusterNetworkPolicy / ClusterGroup semantics).
        """
        key = ("pods", pod_selector, namespace_selector, own_namespace)
        if key in self._cache:
            return self._cache[key]
        if namespace_selector is not None:
            allowed_ns = self.namespaces(namespace_selector)
        elif own_namespace is not None:
            allowed_ns = {own_namespace}
        else:
            allowed_ns = None
        out = frozenset(
            k for ns in (self._label_sets if allowed_ns is None else allowed_ns)
            for labels, keys in self._candidates(ns, pod_selector)
            if pod_selector is None or pod_selector.matches(labels)
            for k in keys
        )
        self._cache[key] = out
        return out

    def pods_in(self, namespaces: set[str]) -> frozenset[str]:
        return frozenset(k for ns in namespaces for _, keys in self._label_sets.get(ns, ()) for k in keys)

    def pods_with_service_account(self, namespace: str, name: str) -> frozenset[str]:
        return frozenset(p.key for p in self.pods if p.namespace == namespace and p.service_account == name)

    def service_pods(self, namespace: str, name: str) -> frozenset[str]:
        svc = self.state.objects.get(ObjectRef("", "Service", namespace, name))
        if svc is None or not getattr(svc, "selector", None):
            return frozenset()
        selector = LabelSelector.of(svc.selector)
        return self.select_pods(selector, None, namespace)

    # ------------------------------------------------------------------ groups

    def group(self, kind: str, namespace: str, name: str) -> Group | None:
        obj = self.state.objects.get(ObjectRef(ANTREA_GROUP, kind, namespace, name))
        return obj if isinstance(obj, Group) else None

    def group_members(self, kind: str, namespace: str, name: str, as_child: bool = False) -> Members:
        """Members of a ClusterGroup (``namespace=''``) or Group; a missing group has none."""
        g = self.group(kind, namespace, name)
        if g is None:
            return EMPTY
        if g.child_groups:
            if as_child:
                return EMPTY  # nesting deeper than one level: the child contributes nothing
            out = EMPTY
            for child in g.child_groups:
                out = out | self.group_members(kind, namespace, child, as_child=True)
            return out
        if g.service_reference is not None:
            return Members(self.service_pods(g.service_reference.namespace or namespace, g.service_reference.name))
        if g.ip_blocks:
            return Members(self.pods_by_ip_blocks(g.ip_blocks), g.ip_blocks)
        if g.pod_selector is None and g.namespace_selector is None:
            return EMPTY
        own = None if kind == "ClusterGroup" else namespace
        return Members(self.select_pods(g.pod_selector, g.namespace_selector, own))

    def applied_to_group(self, kind: str, namespace: str, name: str) -> AppliedToGroup:
        """The Pods a ClusterGroup (``namespace=''``) or Group selects when a policy uses it as
        ``appliedTo``, as antrea-controller computes them (v2.7.0
        pkg/controller/networkpolicy/crd_utils.go ``createAppliedToGroupForGroup`` and
        networkpolicy_controller.go ``getInternalGroupWorkloads``):

        * a group defined by ``ipBlocks`` is ignored: it selects no Pod, even Pods whose IP is in
          the block ("An IPBlock ClusterGroup referenced in an appliedTo field will be ignored,
          and the policy will have no effect", docs/antrea-network-policy.md; PR #4119);
        * a parent applies to the Pods its children select; an ``ipBlocks`` child contributes
          nothing ("apply NetworkPolicy to the selected Pods and ignore the IPBlocks");
        * a namespaced Group (Antrea NetworkPolicy) whose Pods, or whose children's Pods, include
          one of another Namespace makes the policy unrealizable: the result carries Antrea's
          error message (ErrNetworkPolicyAppliedToUnsupportedGroup, naming the group the policy
          references). The check is on the Pods selected now, so a namespaceSelector that only
          matches the Group's own Namespace (or no Pod at all) is accepted, as in Antrea;
        * a missing group (or child) selects nothing, until it is created.
        """
        g = self.group(kind, namespace, name)
        if g is None or (g.ip_blocks and not g.child_groups):
            return AppliedToGroup()
        if g.child_groups:
            if not self.group_status(g)[0]:
                return AppliedToGroup()  # ChildGroupsNestingExceeded: not realized, selects nothing
            parts = [self._applied_to_pods(self.group(kind, namespace, child)) for child in g.child_groups]
            pods = frozenset().union(*parts)
        else:
            pods = self._applied_to_pods(g)
        if namespace and any(key.partition("/")[0] != namespace for key in pods):
            return AppliedToGroup(error=f"Group {namespace}/{name} with Pods in other Namespaces can not be used "
                                        "as AppliedTo")
        return AppliedToGroup(pods)

    def _applied_to_pods(self, g: Group | None) -> frozenset[str]:
        """The Pods of one group without children (ipBlocks select no Pod as appliedTo)."""
        if g is None or g.child_groups or g.ip_blocks:
            return frozenset()
        return self.group_members(g.kind, g.namespace, g.name).pods

    def pods_by_ip_blocks(self, blocks: tuple[IPBlock, ...]) -> frozenset[str]:
        return frozenset(p.key for p in self.pods if p.pod_ip and any(b.contains(p.pod_ip) for b in blocks))

    def group_status(self, g: Group) -> tuple[bool, str]:
        """(GroupMembersComputed, reason) as Antrea reports it."""
        for child in g.child_groups:
            c = self.group(g.kind, g.namespace, child)
            if c is not None and c.child_groups:
                return False, "ChildGroupsNestingExceeded"
        return True, ""
