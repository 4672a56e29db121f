"""Validation errors: each names file/line, kind/name and the field path, and nothing is applied."""

import pytest

from labkit import Lab, ManifestError

ACNP_HEAD = """apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: bad
spec:
"""


@pytest.fixture()
def lab():
    with Lab(backend="sim", profile="workshop") as lab:
        yield lab


def problems_of(lab, manifest):
    before = lab.manifests()
    generation = lab.state.generation
    with pytest.raises(ManifestError) as info:
        lab.apply(manifest)
    assert lab.manifests() == before and lab.state.generation == generation, "a bad manifest applied something"
    return info.value.problems


def only(problems, path):
    found = [p for p in problems if p.path == path]
    assert found, f"no problem at {path}; got {[(p.path, p.message) for p in problems]}"
    return found[0]


CASES = [
    # (manifest body after ACNP_HEAD, field path, words the message must contain)
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    ports:\n"
     "    - {protocol: TCP, port: 90, endPort: 80}\n", "spec.ingress[0].ports[0].endPort", "greater than or equal"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    ports:\n"
     "    - {protocol: TCP, endPort: 80}\n", "spec.ingress[0].ports[0].endPort", "port is not specified"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    ports:\n"
     "    - {protocol: TCP, port: http, endPort: 80}\n", "spec.ingress[0].ports[0].endPort", "named port"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    ports:\n"
     "    - {protocol: TCP, port: 80, sourcePort: 200, sourceEndPort: 100}\n",
     "spec.ingress[0].ports[0].sourceEndPort", "sourcePort"),
    ("  priority: 5\n  tier: baseline\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Pass\n",
     "spec.ingress[0].action", "baseline"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Accept\n",
     "spec.ingress[0].action", "Allow, Drop, Reject, Pass"),
    ("  priority: 5\n  ingress:\n  - action: Allow\n", "spec.appliedTo", "appliedTo must be set"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    appliedTo: [{podSelector: {}}]\n",
     "spec.ingress[0].appliedTo", "both spec and rules"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    from:\n"
     "    - group: g\n      podSelector: {}\n", "spec.ingress[0].from[0]", "group cannot be set with other fields"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    from:\n"
     "    - namespaces: {match: Self}\n      namespaceSelector: {}\n", "spec.ingress[0].from[0]",
     "namespaces and namespaceSelector"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    from:\n"
     "    - ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/24]}\n", "spec.ingress[0].from[0].ipBlock.except[0]",
     "strictly within"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    name: r\n"
     "  - action: Drop\n    name: r\n", "spec.ingress[1].name", "already used"),
    ("  priority: 5\n  appliedTo: [{podSelectr: {}}]\n  ingress:\n  - action: Allow\n",
     "spec.appliedTo[0].podSelectr", "did you mean 'podSelector'"),
    ("  priority: 0.5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n",
     "spec.priority", "between 1 and 10000"),
    ("  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n", "spec.priority", "required"),
    ("  priority: 5\n  tier: nosuchtier\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n",
     "spec.tier", "does not exist"),
    ("  priority: 5\n  appliedTo: [{podSelector: {matchExpressions: [{key: app, operator: In}]}}]\n"
     "  ingress:\n  - action: Allow\n", "spec.appliedTo[0].podSelector.matchExpressions[0].values", "non-empty"),
    ("  priority: 5\n  appliedTo: [{podSelector: {matchLabels: {'bad key!': x}}}]\n  ingress:\n  - action: Allow\n",
     "spec.appliedTo[0].podSelector.matchLabels.bad key!", "label key"),
    ("  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    toServices: [{name: s, namespace: x}]\n",
     "spec.ingress[0].toServices", "only allowed in egress"),
]


@pytest.mark.parametrize("body,path,words", CASES, ids=[c[1] for c in CASES])
def test_acnp_problem_names_field_path_and_line(lab, body, path, words):
    problem = only(problems_of(lab, ACNP_HEAD + body), path)
    assert words in problem.message + " " + problem.hint
    assert problem.kind == "ClusterNetworkPolicy" and problem.name == "bad"
    assert problem.line is not None and problem.line >= 5
    assert path in str(problem)


def test_all_problems_reported_at_once_and_nothing_applied(lab):
    manifest = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: good, namespace: x}
spec:
  podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - {protocol: ICMP, port: 80}
    - {protocol: TCP, port: 70000}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: worse, namespace: nowhere}
spec:
  podSelector: {}
"""
    problems = problems_of(lab, manifest)
    paths = {(p.name, p.path) for p in problems}
    assert ("bad", "spec.ingress[0].ports[0].protocol") in paths
    assert ("bad", "spec.ingress[0].ports[1].port") in paths
    assert ("worse", "metadata.namespace") in paths
    bad_proto = only(problems, "spec.ingress[0].ports[0].protocol")
    assert bad_proto.line == 14 and bad_proto.document == 1
    assert lab.get("netpol").empty, "the good policy of a bad manifest must not be applied"


def test_k8s_networkpolicy_rules(lab):
    manifest = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  policyTypes: [Ingress, Sideways]
  ingress:
  - from:
    - {}
    - ipBlock: {cidr: 10.0.0.0/8}
      podSelector: {}
    ports:
    - {port: 80, endPort: 79}
"""
    problems = problems_of(lab, manifest)
    assert only(problems, "spec.podSelector").message == "is required"
    assert "Sideways" in only(problems, "spec.policyTypes[1]").message
    assert "must specify a peer" in only(problems, "spec.ingress[0].from[0]").message
    assert "ipBlock may not be combined" in only(problems, "spec.ingress[0].from[1]").message
    assert "greater than or equal" in only(problems, "spec.ingress[0].ports[0].endPort").message


def test_tier_rules(lab):
    problems = problems_of(lab, """apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: reserved}
spec: {priority: 251}
---
apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: clash}
spec: {priority: 100}
""")
    assert "reserved" in only([p for p in problems if p.name == "reserved"], "spec.priority").message
    assert "securityops" in only([p for p in problems if p.name == "clash"], "spec.priority").message
    lab.apply("apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: mine}\nspec: {priority: 120}\n")
    problems = problems_of(lab, "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: mine}\nspec: {priority: 121}\n")
    assert "cannot be changed" in only(problems, "spec.priority").message
    problems = problems_of(lab, "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: application}\nspec: {priority: 249}\n")
    assert "read-only" in problems[0].message


def test_tier_in_use_cannot_be_deleted(lab):
    from labkit import ConflictError

    lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: mine}
spec: {priority: 120}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: uses-mine}
spec:
  tier: mine
  priority: 1
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Drop}]
""")
    with pytest.raises(ConflictError, match="referenced by acnp/uses-mine"):
        lab.delete("tier/mine")
    with pytest.raises(ConflictError, match="static Antrea tier"):
        lab.delete("tier/application")
    lab.delete("acnp/uses-mine")
    lab.delete("tier/mine")


def test_group_rules(lab):
    problems = problems_of(lab, """apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: mixed}
spec:
  podSelector: {}
  ipBlocks: [{cidr: 10.0.0.0/8}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: selfish}
spec:
  childGroups: [selfish]
""")
    assert "only one way" in only([p for p in problems if p.name == "mixed"], "spec").message
    assert "child of itself" in only([p for p in problems if p.name == "selfish"], "spec.childGroups").message
    lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: parent}
spec: {childGroups: [child]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: child}
spec: {podSelector: {}}
""")
    problems = problems_of(lab, """apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: child}
spec: {childGroups: [grandchild]}
""")
    assert "one level of nesting" in problems[0].message


def test_annp_forbidden_fields(lab):
    problems = problems_of(lab, """apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: n, namespace: x}
spec:
  priority: 1
  appliedTo: [{namespaceSelector: {}}]
  ingress:
  - action: Allow
    from: [{namespaces: {match: Self}}]
""")
    # Not in the v1beta1 NetworkPolicy CRD schema: unknown fields, with the reason as the fix.
    ns_selector = only(problems, "spec.appliedTo[0].namespaceSelector")
    assert "unknown field" in ns_selector.message and "its own namespace" in ns_selector.hint
    namespaces = only(problems, "spec.ingress[0].from[0].namespaces")
    assert "unknown field" in namespaces.message and "only valid in a ClusterNetworkPolicy" in namespaces.hint


def test_yaml_syntax_error_has_line(lab):
    problems = problems_of(lab, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [oops\n")
    assert problems[0].line is not None and "invalid YAML" in problems[0].message


def test_unknown_kind_and_retired_group(lab):
    problems = problems_of(lab, """apiVersion: v1
kind: Secret
metadata: {name: s}
---
apiVersion: security.antrea.tanzu.vmware.com/v1alpha1
kind: ClusterNetworkPolicy
metadata: {name: old}
""")
    assert "Secret" in problems[0].message
    assert "crd.antrea.io/v1beta1" in problems[1].hint


def test_manifest_from_file_names_the_file(lab, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(ACNP_HEAD + "  priority: 5\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Nope\n")
    problem = problems_of(lab, str(f))[0]
    assert str(problem).startswith(f"{f}:9")


def test_missing_file_is_a_clear_error(lab):
    from labkit import NotFoundError

    with pytest.raises(NotFoundError, match="not found"):
        lab.apply("policies/no-such-file.yaml")


def test_pod_and_namespace_checks(lab):
    problems = problems_of(lab, """apiVersion: v1
kind: Pod
metadata: {name: Bad_Name, namespace: x}
spec:
  nodeName: nowhere
  containers:
  - name: c
    ports:
    - {containerPort: 0}
""")
    assert only(problems, "metadata.name")
    assert only(problems, "spec.containers[0].ports[0].containerPort")


def test_crd_enums_and_removed_fields_are_rejected_with_a_fix(lab):
    """Issue 12, item 5: scope is Cluster | ClusterSet; a v1beta1 ClusterGroup has no singular
    ipBlock; v1alpha* versions are not served by Antrea v2."""
    problems = problems_of(lab, ACNP_HEAD + """  priority: 5
  appliedTo: [{podSelector: {}}]
  ingress:
  - action: Allow
    from: [{podSelector: {}, scope: Region}]
  egress:
  - action: Allow
    to: [{podSelector: {}, scope: Cluster}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: legacy}
spec:
  ipBlock: {cidr: 10.0.0.0/24}
---
apiVersion: crd.antrea.io/v1alpha1
kind: Tier
metadata: {name: old}
spec: {priority: 30}
""")
    scope = only(problems, "spec.ingress[0].from[0].scope")
    assert "unsupported value 'Region'" in scope.message and "Cluster, ClusterSet" in scope.hint
    to_scope = only(problems, "spec.egress[0].to[0].scope")
    assert "unknown field" in to_scope.message and "ingress 'from'" in to_scope.hint
    legacy = only(problems, "spec.ipBlock")
    assert "unknown field 'ipBlock'" in legacy.message and "ipBlocks: [{cidr" in legacy.hint
    version = only(problems, "apiVersion")
    assert "'v1alpha1' is not served for Tier" in version.message and "crd.antrea.io/v1beta1" in version.hint


def test_cluster_set_scope_is_applied_with_a_warning(lab, tmp_path):
    result = lab.apply(ACNP_HEAD.replace("name: bad", "name: cs") + """  priority: 5
  appliedTo: [{podSelector: {}}]
  ingress:
  - action: Drop
    from: [{namespaceSelector: {matchLabels: {ns: y}}, scope: ClusterSet}]
  egress:
  - action: Allow
    toServices: [{name: web, namespace: y, scope: ClusterSet}]
""")
    paths = [w.path for w in result.warnings]
    assert paths == ["spec.ingress[0].from[0].scope", "spec.egress[0].toServices[0].scope"]
    assert all("treated as scope Cluster" in w.message for w in result.warnings)
    assert "Warning: " in str(result) and "acnp/cs created" in result.changes_text()
    # a single cluster: ClusterSet scope behaves as Cluster
    assert lab.reachability()["y/a", "x/a"] == "drop" and lab.reachability()["z/a", "x/a"] == "allow"


def test_annp_to_services_scope_is_free_text_in_the_crd(lab):
    """The v1beta1 NetworkPolicy CRD has no enum for toServices[].scope (the ClusterNetworkPolicy one
    has): Antrea accepts any string there and treats it as Cluster; labkit warns."""
    result = lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: svc, namespace: x}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  egress:
  - action: Allow
    toServices: [{name: web, scope: Anything}]
""")
    assert [w.path for w in result.warnings] == ["spec.egress[0].toServices[0].scope"]
    assert "neither Cluster nor ClusterSet" in result.warnings[0].message
