"""Property: for any ClusterGroups/Groups and Antrea policies that reference them in appliedTo,
labkit applies each policy to exactly the Pods antrea-controller would, and realizes it exactly
when Antrea would (issue 12, items 1-3).

The reference below re-states Antrea v2.7.0 directly from its Go code, independently of
labkit.policy.groups:
* crd_utils.go createAppliedToGroupForGroup: a group whose own spec has ipBlocks is no appliedTo;
* networkpolicy_controller.go getInternalGroupWorkloads: a parent is the union of its children's
  Pods (an ipBlocks child has no Pods: its internal group has no selector); a namespaced Group
  whose (children's) Pods include one of another Namespace fails with
  ErrNetworkPolicyAppliedToUnsupportedGroup, and one failing appliedTo group fails the whole
  policy (syncInternalNetworkPolicy).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import Lab
from labkit.model.objects import ANTREA_GROUP, ObjectRef
from labkit.model.selectors import LabelSelector
from labkit.policy.compiler import antrea_policy_ref

LEAF_SPECS = [
    "{podSelector: {matchLabels: {pod: a}}}",
    "{podSelector: {matchLabels: {pod: c}}}",
    "{namespaceSelector: {matchLabels: {ns: x}}}",
    "{namespaceSelector: {matchLabels: {ns: y}}}",
    "{podSelector: {matchLabels: {pod: b}}, namespaceSelector: {matchLabels: {ns: z}}}",
    "{podSelector: {matchLabels: {pod: b}}, namespaceSelector: {}}",
    "{ipBlocks: [{cidr: 10.244.2.0/24}]}",
    "{ipBlocks: [{cidr: 10.244.0.0/16, except: [10.244.1.0/28]}]}",
]
LEAVES = ["l0", "l1", "l2", "l3"]
PARENTS = ["p0", "p1"]


@st.composite
def scenarios(draw):
    kind = draw(st.sampled_from(["ClusterGroup", "Group"]))
    meta_ns = ", namespace: x" if kind == "Group" else ""
    docs = []
    for leaf in LEAVES:
        if draw(st.booleans()) or leaf == "l0":
            docs.append(f"apiVersion: crd.antrea.io/v1beta1\nkind: {kind}\nmetadata: {{name: {leaf}{meta_ns}}}\n"
                        f"spec: {draw(st.sampled_from(LEAF_SPECS))}\n")
    for parent in PARENTS:
        children = draw(st.lists(st.sampled_from(LEAVES + ["missing"]), min_size=1, max_size=3, unique=True))
        docs.append(f"apiVersion: crd.antrea.io/v1beta1\nkind: {kind}\nmetadata: {{name: {parent}{meta_ns}}}\n"
                    f"spec: {{childGroups: [{', '.join(children)}]}}\n")
    policy_kind, meta = ("ClusterNetworkPolicy", "name: pol") if kind == "ClusterGroup" else \
        ("NetworkPolicy", "name: pol, namespace: x")
    names = LEAVES + PARENTS + ["missing"]
    entries = st.lists(st.one_of(st.sampled_from(names).map(lambda n: f"{{group: {n}}}"),
                                 st.just("{podSelector: {matchLabels: {pod: c}}}")), min_size=1, max_size=3)
    if draw(st.booleans()):
        body = (f"  appliedTo: [{', '.join(draw(entries))}]\n"
                "  ingress: [{action: Drop}]\n  egress: [{action: Reject, to: [{podSelector: {}}]}]\n")
    else:
        body = (f"  ingress:\n  - action: Drop\n    appliedTo: [{', '.join(draw(entries))}]\n"
                f"  egress:\n  - action: Reject\n    appliedTo: [{', '.join(draw(entries))}]\n")
    docs.append(f"apiVersion: crd.antrea.io/v1beta1\nkind: {policy_kind}\nmetadata: {{{meta}}}\n"
                f"spec:\n  priority: 1\n{body}")
    return "---\n".join(docs)


def reference(lab: Lab):
    """(applied-to Pods, error) of the policy 'pol', restated from Antrea's Go code."""
    state = lab.state
    policy = next(p for p in state.antrea_policies if p.name == "pol")
    cluster = policy.kind == "ClusterNetworkPolicy"
    group_kind, namespace = ("ClusterGroup", "") if cluster else ("Group", policy.namespace)

    def group(name):
        return state.objects.get(ObjectRef(ANTREA_GROUP, group_kind, namespace, name))

    def entities(g):  # grouping interface GetEntities for a group without children
        if g is None or g.ip_blocks or (g.pod_selector is None and g.namespace_selector is None):
            return set()
        ns_ok = (lambda n: g.namespace_selector.matches(state.namespace(n).labels)) \
            if g.namespace_selector is not None else (lambda n: cluster or n == namespace)
        pod_ok = g.pod_selector or LabelSelector()
        return {p.key for p in state.pods if ns_ok(p.namespace) and pod_ok.matches(p.labels)}

    def outside(pods):
        return not cluster and any(k.split("/")[0] != namespace for k in pods)

    def applied_to_group(name):
        g = group(name)
        if g is None or (g.ip_blocks and not g.child_groups):
            return set(), ""
        error = f"Group {namespace}/{name} with Pods in other Namespaces can not be used as AppliedTo"
        if not g.child_groups:
            pods = entities(g)
            return (set(), error) if outside(pods) else (pods, "")
        pods = set()
        for child in g.child_groups:
            child_pods = entities(group(child))
            if outside(child_pods):
                return set(), error
            pods |= child_pods
        return pods, ""

    def entry_pods(entry):
        if entry.group:
            return applied_to_group(entry.group)
        return {p.key for p in state.pods if (cluster or p.namespace == namespace)
                and entry.pod_selector.matches(p.labels)}, ""

    pods, errors = set(), []
    for entry in list(policy.applied_to) + [a for r in policy.ingress + policy.egress for a in r.applied_to]:
        got, error = entry_pods(entry)
        pods |= got
        if error:
            errors.append(error)
    return pods, errors


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifest=scenarios())
def test_applied_to_groups_match_antrea(manifest):
    with Lab(profile="workshop") as lab:
        lab.apply(manifest)
        pods, errors = reference(lab)
        policy = next(p for p in lab.state.antrea_policies if p.name == "pol")
        ref = antrea_policy_ref(policy)
        ps = lab.policy_set
        compiled = [r for r in ps.rules if r.policy_ref == ref]
        if errors:
            assert ps.unrealizable.get(ref) in errors, manifest
            assert not compiled, "an unrealizable policy must enforce none of its rules"
            status = lab.policy_status(policy.ref)
            assert (status.phase, status.desired_nodes_realized, status.realizable.reason) == \
                ("Pending", 0, "NetworkPolicyAppliedToUnsupportedGroup")
            assert lab.reachability().counts()["allow"] == 81
            return
        assert ref not in ps.unrealizable, manifest
        assert ps.applied_to[ref] == pods, manifest
        assert set().union(*(r.applied_to for r in compiled)) <= pods
        if policy.kind == "NetworkPolicy":
            assert all(k.startswith("x/") for k in ps.applied_to[ref])
        # Nothing a policy is not applied to is denied by it: every Pod outside `pods` keeps
        # sending to and receiving from every other Pod that is outside as well.
        m = lab.reachability()
        for src, dst, verdict in m.cells():
            if src not in pods and dst not in pods:
                assert verdict == "allow", (src, dst, manifest)
