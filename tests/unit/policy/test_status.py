"""The status antrea-controller writes on Antrea-native policies, reproduced from the model.

Expected values are those of Antrea's e2e tests (test/e2e/antreapolicy_test.go, v2.7.0):
TestAntreaPolicyStatusWithAppliedToUnsupportedGroup and TestAntreaPolicyStatusWithAppliedToPerRule.
"""

import pytest

from labkit import Lab
from labkit.model.objects import ANTREA_GROUP, ObjectRef
from labkit.policy.status import policy_status

GROUPS = """apiVersion: crd.antrea.io/v1beta1
kind: Group
metadata: {name: grp-with-ns-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  namespaceSelector: {matchLabels: {ns: y}}
---
apiVersion: crd.antrea.io/v1beta1
kind: Group
metadata: {name: grp-nested, namespace: x}
spec:
  childGroups: [grp-with-ns-selector]
"""


def annp(name, group, priority=1):
    return f"""apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: x}}
spec:
  priority: {priority}
  appliedTo: [{{group: {group}}}]
  ingress: [{{action: Drop}}]
"""


@pytest.fixture()
def lab():
    with Lab(backend="sim", profile="workshop") as lab:
        yield lab


def test_applied_to_unsupported_group_directly_and_through_child_groups(lab):
    """TestAntreaPolicyStatusWithAppliedToUnsupportedGroup: Pending, 0/0 Nodes, Realizable=False."""
    lab.apply(GROUPS)
    lab.apply(annp("annp-applied-to-unsupported-group", "grp-with-ns-selector"))
    lab.apply(annp("annp-applied-to-unsupported-child-group", "grp-nested"))
    for name, group in (("annp-applied-to-unsupported-group", "grp-with-ns-selector"),
                        ("annp-applied-to-unsupported-child-group", "grp-nested")):
        status = lab.policy_status(f"annp/x/{name}")
        assert status.to_dict() == {
            "phase": "Pending", "observedGeneration": 1, "currentNodesRealized": 0, "desiredNodesRealized": 0,
            "conditions": [{"type": "Realizable", "status": "False",
                            "reason": "NetworkPolicyAppliedToUnsupportedGroup",
                            "message": f"Group x/{group} with Pods in other Namespaces can not be used as AppliedTo"}]}
    table = lab.get("annp").set_index("name")
    row = table.loc["annp-applied-to-unsupported-child-group"]
    assert (row.phase, row.realizable, row.reason, row.desired_nodes, row.current_nodes) == \
        ("Pending", "False", "NetworkPolicyAppliedToUnsupportedGroup", 0, 0)
    assert lab.reachability().counts()["drop"] == 0  # y/b is not isolated by either policy


def test_realized_status_follows_span_and_generation(lab):
    """TestAntreaPolicyStatusWithAppliedToPerRule: Realized on the Nodes of the applied-to Pods;
    observedGeneration follows spec changes; a missing group keeps the policy Realized."""
    policy = """apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: annp-applied-to-per-rule, namespace: x}
spec:
  priority: 1
  ingress:
  - action: Allow
    appliedTo: [{podSelector: {matchLabels: {pod: a}}}]
  - action: Allow
    appliedTo: [{podSelector: {matchLabels: {pod: b}}}]%s
"""
    lab.apply(policy % "")
    realizable = [{"type": "Realizable", "status": "True"}]
    # x/a runs on kind-worker, x/b on kind-worker2
    assert lab.policy_status("annp/x/annp-applied-to-per-rule").to_dict() == {
        "phase": "Realized", "observedGeneration": 1, "currentNodesRealized": 2, "desiredNodesRealized": 2,
        "conditions": realizable}
    lab.apply(policy.replace("  - action: Allow\n    appliedTo: [{podSelector: {matchLabels: {pod: b}}}]%s\n", ""))
    status = lab.policy_status("annp/x/annp-applied-to-per-rule")
    assert (status.phase, status.observed_generation, status.desired_nodes_realized) == ("Realized", 2, 1)
    lab.apply(policy.replace("  - action: Allow\n    appliedTo: [{podSelector: {matchLabels: {pod: b}}}]%s\n", ""))
    assert lab.policy_status("annp/x/annp-applied-to-per-rule").observed_generation == 2  # unchanged: same gen
    lab.label("x/a", extra="yes")  # metadata of another object: no generation change
    assert lab.policy_status("annp/x/annp-applied-to-per-rule").observed_generation == 2
    lab.apply(policy.replace("  - action: Allow\n    appliedTo: [{podSelector: {matchLabels: {pod: b}}}]%s\n", "")
              .replace("{pod: a}}}]", "{pod: a}}}, {group: foo}]"))
    assert lab.policy_status("annp/x/annp-applied-to-per-rule").to_dict() == {
        "phase": "Realized", "observedGeneration": 3, "currentNodesRealized": 1, "desiredNodesRealized": 1,
        "conditions": realizable}


def test_policy_on_no_pod_is_realized_on_zero_nodes_and_a_stopped_lab_realizes_nothing(lab):
    lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: nobody}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: nobody}}}]
  ingress: [{action: Drop}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: everybody}
spec:
  priority: 2
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Allow}]
""")
    nobody = lab.policy_status("acnp/nobody")
    assert (nobody.phase, nobody.current_nodes_realized, nobody.desired_nodes_realized) == ("Realized", 0, 0)
    assert lab.policy_status("acnp/everybody").desired_nodes_realized == 2
    lab.stop()
    stopped = lab.policy_status("acnp/everybody")
    assert (stopped.phase, stopped.current_nodes_realized, stopped.desired_nodes_realized) == ("Realizing", 0, 2)


def test_k8s_network_policy_has_no_antrea_status_and_unknown_refs_fail(lab):
    lab.apply("policies/deny-all.yaml")
    assert lab.policy_status("netpol/x/deny-all") is None
    with pytest.raises(Exception, match="not found"):
        policy_status(lab.state, lab.policy_set, ObjectRef(ANTREA_GROUP, "ClusterNetworkPolicy", "", "missing"))


def test_generation_survives_resume(tmp_path):
    with Lab(backend="sim", profile="workshop", state_dir=tmp_path / "lab") as lab:
        lab.apply(annp("p", "g"))
        lab.apply(annp("p", "g", priority=2))
        assert lab.policy_status("annp/x/p").observed_generation == 2
        lab.save()
        again = Lab.resume(state_dir=tmp_path / "lab")
        try:
            assert again.policy_status("annp/x/p").observed_generation == 2
            again.apply(annp("p", "g", priority=3))
            assert again.policy_status("annp/x/p").observed_generation == 3
        finally:
            again.stop()
