from labkit import Lab


def findings(lab):
    return [str(f) for f in lab.lint()]


def test_nondeterministic_tie_missing_group_shadowed_rule_and_baseline_allow():
    with Lab(profile="workshop") as lab:
        lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: one}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress:
  - {action: Drop, name: drop-y, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  - {action: Allow, name: allow-ya, from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: a}}}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: two}
spec:
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {pod: a}}}]
  ingress:
  - {action: Allow, name: allow-y, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  - {action: Drop, name: from-missing, from: [{group: nobody}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: base}
spec:
  tier: baseline
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: nothing}}}]
  ingress: [{action: Allow}]
""")
        text = "\n".join(findings(lab))
        assert "nondeterministic" in text and "Drop vs Allow" in text
        assert "ClusterGroup 'nobody' does not exist" in text
        assert "allow-ya never matches" in text
        assert "Allow in the baseline tier" in text
        assert "AntreaClusterNetworkPolicy:base: appliedTo selects no pod" in text


def test_clean_policy_has_no_findings():
    with Lab(profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        assert lab.lint() == []


def test_a_tie_is_not_called_an_order(tmp_path):
    """Issue 14: `labkit lint` called a tie nondeterministic and then said which rule goes first
    ("never matches: ... is evaluated first")."""
    with Lab(profile="workshop") as lab:
        lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: drop-y}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress: [{action: Drop, name: d, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: allow-y}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress: [{action: Allow, name: a, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
""")
        text = "\n".join(findings(lab))
        assert "nondeterministic" in text
        assert "evaluated first" not in text and "never matches" not in text, text
