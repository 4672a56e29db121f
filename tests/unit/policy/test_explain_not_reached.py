"""When the egress side denies, the packet never meets an ingress rule: the explanation says the
ingress side was not reached, in the API, the CLI and the predicted Traceflow (issue 12, item 6)."""

import json
import os
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import Lab

POLICY = """apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: egress-reject}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: x}}}]
  egress: [{action: Reject, name: no-out}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: ingress-drop}
spec:
  priority: 2
  appliedTo: [{podSelector: {matchLabels: {pod: b}}}]
  ingress: [{action: Drop, name: no-in}]
"""


def test_egress_reject_leaves_ingress_not_reached():
    with Lab(profile="workshop") as lab:
        lab.apply(POLICY)
        e = lab.explain("x/a", "y/b")
        assert e.verdict == "reject" and e.deciding is e.egress
        assert e.egress.rule.rule_name == "no-out"
        assert not e.ingress.reached and e.ingress.rule is None and e.ingress.action == ""
        d = e.ingress.to_dict()
        assert d["action"] is None and d["policy"] is None and d["rule_name"] is None and d["stage"] == "not_reached"
        assert "ingress-drop" not in str(e) and "not reached" in str(e)
        tf = lab.traceflow("x/a", "y/b")
        assert [r.role for r in tf.results] == ["Sender"] and tf.final_action == "Rejected"
        assert all("ingress-drop" not in o.network_policy for _, o in tf.observations)
        # egress allowed: the ingress side decides and is named
        e = lab.explain("x/c", "y/b")
        assert e.ingress.reached and e.ingress.rule.rule_name == "no-in" and e.deciding is e.ingress


def test_cli_explain_says_not_reached(tmp_path):
    env = {**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "state")}

    def labkit(*args, stdin=None):
        proc = subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True,
                              env=env, input=stdin, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    labkit("up", "--profile", "workshop")
    labkit("apply", "-f", "-", stdin=POLICY)
    text = labkit("explain", "x/a", "y/b")
    ingress_line = next(line for line in text.splitlines() if line.strip().startswith("ingress"))
    assert "not reached" in ingress_line and "ingress-drop" not in ingress_line
    data = json.loads(labkit("explain", "x/a", "y/b", "-o", "json"))
    assert data["ingress"]["stage"] == "not_reached" and data["ingress"]["policy"] is None
    labkit("down")


ACTIONS = st.sampled_from(["Allow", "Drop", "Reject", "Pass"])
PODS = ["x/a", "x/b", "y/a", "y/b", "z/c"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(egress=ACTIONS, ingress=ACTIONS, src=st.sampled_from(PODS), dst=st.sampled_from(PODS))
def test_ingress_is_named_only_when_the_egress_side_let_the_packet_through(egress, ingress, src, dst):
    """For any pair of egress/ingress actions, an explanation names an ingress rule only if the
    egress side allowed the packet, and the deciding side is the one that denied it first."""
    with Lab(profile="workshop") as lab:
        lab.apply(f"""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: both}}
spec:
  priority: 1
  appliedTo: [{{podSelector: {{}}}}]
  egress: [{{action: {egress}, name: out}}]
  ingress: [{{action: {ingress}, name: in}}]
""")
        e = lab.explain(src, dst)
        if src == dst:
            assert e.verdict == "allow" and e.ingress.stage == "self"
        elif e.egress.action != "Allow":
            assert not e.ingress.reached and e.ingress.rule is None
            assert e.deciding is e.egress and e.verdict == e.egress.action.lower()
        else:
            assert e.ingress.reached and e.deciding is e.ingress and e.verdict == e.ingress.action.lower()
