"""Issue 12 through the command line: policy status in ``labkit get``, lint findings and the API
server's warnings on ``labkit apply`` (stderr, as kubectl prints them)."""

UNREALIZABLE = """apiVersion: crd.antrea.io/v1beta1
kind: Group
metadata: {name: grp-with-ns-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  namespaceSelector: {matchLabels: {ns: y}}
---
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: annp-applied-to-unsupported-group, namespace: x}
spec:
  priority: 1
  appliedTo: [{group: grp-with-ns-selector}]
  ingress: [{action: Drop}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cluster-set}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: c}}}]
  ingress: [{action: Allow, from: [{podSelector: {}, scope: ClusterSet}]}]
"""


def test_get_lint_and_apply_warnings(labkit):
    labkit("up", "--profile", "workshop")
    applied = labkit("apply", "-f", "-", stdin=UNREALIZABLE)
    assert "annp/x/annp-applied-to-unsupported-group created" in applied.stdout
    assert "Warning:" not in applied.stdout
    assert "Warning: " in applied.stderr and "spec.ingress[0].from[0].scope" in applied.stderr
    table = labkit("get", "annp").stdout
    assert "Pending" in table and "NetworkPolicyAppliedToUnsupportedGroup" in table
    acnp = labkit("get", "acnp").stdout
    assert "Realized" in acnp
    lint = labkit("lint").stdout
    assert "not realized (Realizable=False, NetworkPolicyAppliedToUnsupportedGroup)" in lint
    assert "Group x/grp-with-ns-selector with Pods in other Namespaces can not be used as AppliedTo" in lint
    assert "Warning:" in labkit("validate", "-f", "-", stdin=UNREALIZABLE).stderr
    labkit("down")
