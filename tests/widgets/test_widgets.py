"""The widgets without a browser: build each on a sim lab, click, and assert on the synced state.

What a browser would draw is the widget models' state (``get_state()``), so that is what the
tests read: button glyphs and colours, the HTML of error lists and explanations.
"""

from __future__ import annotations

import pytest

from labkit import CheckFailed, Lab
from labkit.widgets import (
    LabSession,
    PolicyEditor,
    ReachabilityMatrix,
    SelectorSyntaxError,
    TopologyView,
    TraceflowView,
    check_decided_by,
    check_reachability,
    parse_selector,
    session_for,
)
from labkit.widgets.doctor import backends

DENY_X_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-x-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""

REJECT_Y_TO_X = """\
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: reject-y-to-x}
spec:
  priority: 5
  tier: securityops
  appliedTo:
  - namespaceSelector: {matchLabels: {ns: x}}
  ingress:
  - action: Reject
    name: reject-from-y
    from:
    - namespaceSelector: {matchLabels: {ns: y}}
"""

ALLOW_Z_TO_X_80 = """\
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: allow-z-to-x-80}
spec:
  priority: 1
  tier: securityops
  appliedTo:
  - namespaceSelector: {matchLabels: {ns: x}}
  ingress:
  - action: Allow
    name: allow-z-80
    from:
    - namespaceSelector: {matchLabels: {ns: z}}
    ports:
    - {protocol: TCP, port: 80}
  - action: Drop
    name: drop-rest
    from:
    - namespaceSelector: {}
"""


@pytest.fixture
def lab():
    with Lab(backend="sim", profile="workshop") as lab:
        yield lab


@pytest.fixture
def session(lab):
    session = LabSession(lab, watch_cells=False)
    yield session
    session.close()


def glyph(matrix: ReachabilityMatrix, src: str, dst: str) -> tuple[str, str]:
    state = matrix.cell(src, dst).get_state()
    style = matrix.cell(src, dst).style.get_state()
    return state["description"], style["button_color"]


# ---------------------------------------------------------------------------- session


def test_session_notifies_after_session_and_direct_changes(lab, session):
    seen = []
    session.subscribe(lambda: seen.append(lab.state.generation))
    session.apply(DENY_X_INGRESS)
    assert len(seen) == 1
    lab.label("y/a", team="blue")  # a plain Lab call, as a notebook cell makes it
    assert session.poll() is True and len(seen) == 2
    assert session.poll() is False


def test_session_for_shares_one_session_per_lab(lab, session):
    assert session_for(lab) is session  # the first session made for a lab is the shared one
    assert session_for(session) is session
    matrix = ReachabilityMatrix(lab)  # a widget given the bare Lab joins it
    session.apply(DENY_X_INGRESS)
    assert matrix.cell("y/a", "x/a").description == "✗"


# ---------------------------------------------------------------------------- matrix


def test_matrix_repaints_after_editor_apply_and_delete(session):
    matrix = ReachabilityMatrix(session)
    editor = PolicyEditor(session, yaml=DENY_X_INGRESS)
    assert glyph(matrix, "y/a", "x/b") == ("✓", "#009E73")
    editor.apply_button.click()
    assert "created" in editor.status
    assert glyph(matrix, "y/a", "x/b") == ("✗", "#D55E00")
    assert glyph(matrix, "x/b", "y/a") == ("✓", "#009E73")  # egress from x is not isolated
    assert "24 drop" in matrix.summary.value
    editor.delete_button.click()
    assert glyph(matrix, "y/a", "x/b") == ("✓", "#009E73")


def test_matrix_reject_is_orange_with_its_own_glyph(session):
    matrix = ReachabilityMatrix(session)
    session.apply(REJECT_Y_TO_X)
    assert glyph(matrix, "y/c", "x/a") == ("⊘", "#E69F00")
    assert matrix.cell("y/c", "x/a").style.text_color == "black"  # readable on orange


def test_matrix_click_explains_both_sides(session):
    matrix = ReachabilityMatrix(session)
    session.apply(REJECT_Y_TO_X)
    matrix.cell("y/b", "x/c").click()
    assert matrix.selected == ("y/b", "x/c")
    text = matrix.explanation_text
    assert "y/b -> x/c TCP/80: reject" in text
    assert "AntreaClusterNetworkPolicy:reject-y-to-x rule reject-from-y" in text
    html = matrix.explanation_html.get_state()["value"]
    assert "Ingress" in html and "reject-from-y" in html and "securityops" in html


def test_matrix_port_and_protocol_pickers(session):
    matrix = ReachabilityMatrix(session)
    session.apply(ALLOW_Z_TO_X_80)
    assert glyph(matrix, "z/a", "x/a")[0] == "✓"
    matrix._port.value = 81  # what typing into the port box does
    assert matrix.port == 81
    assert glyph(matrix, "z/a", "x/a")[0] == "✗"
    assert "TCP/81" in matrix.summary.value
    matrix._protocol.value = "ICMP"
    assert matrix._port.disabled
    assert glyph(matrix, "z/a", "x/a")[0] == "✗"
    assert "ICMP" in matrix.summary.value


def test_matrix_explanation_follows_lab_changes(session):
    matrix = ReachabilityMatrix(session)
    matrix.select("y/a", "x/a")
    assert "allow" in matrix.explanation_text
    session.apply(DENY_X_INGRESS)
    assert "K8sNetworkPolicy:x/deny-x-ingress" in matrix.explanation_text


def test_matrix_diff_mode_against_intended(lab, session):
    intended = lab.reachability(port=80).text().replace(".", "X", 3)  # claim three allowed cells are dropped
    matrix = ReachabilityMatrix(session, intended=intended)
    assert "3 cell(s) differ" in matrix.summary.value
    matrix._diff.value = True
    differing = [(s, d) for s, d, _, _ in matrix.differences]
    assert len(differing) == 3
    same = matrix.cell("z/c", "z/a")
    assert same.style.button_color == "#DDDDDD"  # matching cells are greyed out
    wrong = matrix.cell(*differing[0])
    assert wrong.layout.border_top.startswith("3px solid")
    assert "intended drop" in wrong.tooltip
    assert "<table>" in matrix.diff_html.value


# ---------------------------------------------------------------------------- editor


def test_editor_shows_every_problem_with_line_and_field_path(session):
    bad = DENY_X_INGRESS.replace("[Ingress]", "[Ingres]") + "  ingress:\n  - ports: [{port: 99999}]\n"
    editor = PolicyEditor(session, yaml=bad)
    before = session.lab.state.generation
    assert editor.apply() is False
    assert session.lab.state.generation == before  # nothing applied
    paths = {p["path"] for p in editor.problems}
    assert {"spec.policyTypes[0]", "spec.ingress[0].ports[0].port"} <= paths
    html = editor.status_html.get_state()["value"]
    assert "2 problem(s)" in html
    assert "line 6" in html and "<code>spec.policyTypes[0]</code>" in html
    assert "policyTypes: [Ingres]" in html  # the offending line is quoted
    assert "fix: use Ingress or Egress" in html


def test_editor_yaml_syntax_error_and_empty_text(session):
    editor = PolicyEditor(session, yaml="kind: [")
    editor.apply_button.click()
    assert "invalid YAML" in editor.status and editor.problems[0]["line"] == 1
    editor.yaml = "# only a comment\n"
    editor.apply_button.click()
    assert "nothing to apply" in editor.status


def test_editor_reset_restores_text_without_touching_the_lab(session):
    editor = PolicyEditor(session, yaml=DENY_X_INGRESS)
    editor.apply_button.click()
    editor.text.value = "garbage"
    editor.reset_button.click()
    assert editor.yaml == DENY_X_INGRESS and editor.text.value == DENY_X_INGRESS
    assert len(session.lab.policies()) == 1


def test_editor_lists_policies_in_tier_order(session):
    editor = PolicyEditor(session)
    assert "no policies" in editor.policies_html.value
    session.apply(DENY_X_INGRESS)
    session.apply(REJECT_Y_TO_X)
    html = editor.policies_html.value
    assert html.index("reject-y-to-x") < html.index("deny-x-ingress")  # securityops tier before K8s NP
    assert "securityops" in html


def test_editor_delete_of_missing_object_says_so(session):
    editor = PolicyEditor(session, yaml=DENY_X_INGRESS)
    assert editor.delete() is False
    assert "not found" in editor.status


# ---------------------------------------------------------------------------- topology


@pytest.mark.parametrize("text, labels, expected", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("tier in (a, b)", {"tier": "b"}, True),
    ("tier notin (a,b)", {"tier": "a"}, False),
    ("app=web, tier in (a,b)", {"app": "web", "tier": "c"}, False),
    ("legacy", {"legacy": ""}, True),
    ("!legacy", {"legacy": "yes"}, False),
    ("", {"anything": "x"}, True),
    ("example.com/team=blue", {"example.com/team": "blue"}, True),
])
def test_parse_selector(text, labels, expected):
    assert parse_selector(text).matches(labels) is expected


def test_parse_selector_round_trips_kubectl_syntax():
    assert str(parse_selector("app=web, tier in (a,b), !legacy")) == "app=web,tier in (a,b),!legacy"


@pytest.mark.parametrize("text, words", [
    ("tier in (a", "unbalanced"),
    ("app=web,,x=y", "stray comma"),
    ("replicas>3", "'>' and '<'"),
    ("tier in ()", "at least one value"),
    ("app=we b", "cannot parse"),
    ("-bad=x", "cannot parse"),
    ("app=" + "v" * 64, "at most 63"),
])
def test_parse_selector_errors(text, words):
    with pytest.raises(SelectorSyntaxError, match=words):
        parse_selector(text)


def test_topology_highlights_selected_pods(session):
    view = TopologyView(session)
    assert view.selected == []
    view._pod_box.value = "pod in (a,b)"
    view._ns_box.value = "ns=y"
    assert view.selected == ["y/a", "y/b"]
    html = view.nodes_html.get_state()["value"]
    assert html.count("● ") == 2 and "kind-worker2" in html and "10.244." in html
    assert "matchExpressions" in view.selection_html.value
    view._pod_box.value = "pod in (a"
    assert view.selected == [] and "unbalanced" in view.error


def test_topology_follows_relabel(lab, session):
    view = TopologyView(session, pod_selector="team=blue")
    assert view.selected == []
    session.label("z/c", team="blue")
    assert view.selected == ["z/c"]


# ---------------------------------------------------------------------------- traceflow


def _worker_pods(lab):
    by_node: dict[str, list[str]] = {}
    for p in lab.state.pods:
        by_node.setdefault(p.node_name, []).append(p.key)
    return by_node


def test_traceflow_inter_node_allowed_by_rule(lab):
    lab.apply(ALLOW_Z_TO_X_80)
    nodes = _worker_pods(lab)
    src = next(k for k in nodes["kind-worker"] if k.startswith("z/"))
    dst = next(k for k in nodes["kind-worker2"] if k.startswith("x/"))
    tf = lab.traceflow(src, dst, port=80)
    assert [r.role for r in tf.results] == ["Sender", "Receiver"]
    sender, receiver = tf.results
    assert [(o.component, o.action) for o in sender.observations] == [
        ("SpoofGuard", "Forwarded"), ("Forwarding", "Forwarded")]
    assert sender.observations[-1].tunnel_dst_ip == "172.18.0.4"  # kind-worker2's internal IP
    assert [(o.component, o.component_info, o.action) for o in receiver.observations] == [
        ("Forwarding", "", "Received"), ("NetworkPolicy", "IngressRule", "Forwarded"),
        ("Forwarding", "Output", "Delivered")]
    assert receiver.observations[1].network_policy == "AntreaClusterNetworkPolicy:allow-z-to-x-80"
    assert receiver.observations[1].network_policy_rule == "allow-z-80"
    status = tf.to_dict()["status"]
    assert status["phase"] == "Succeeded"
    assert status["results"][0]["observations"][-1] == {"component": "Forwarding", "action": "Forwarded",
                                                        "componentInfo": "Output", "tunnelDstIP": "172.18.0.4"}
    assert tf.to_dict()["spec"]["packet"]["transportHeader"] == {"tcp": {"dstPort": 80, "flags": 2}}


def test_traceflow_drops_and_rejects(lab):
    lab.apply(ALLOW_Z_TO_X_80)
    tf = lab.traceflow("y/a", "x/a", port=80)
    last = tf.observations[-1][1]
    assert (last.component_info, last.action, last.network_policy_rule) == ("IngressMetric", "Dropped", "drop-rest")
    lab.apply(REJECT_Y_TO_X.replace("tier: securityops", "tier: emergency"))  # a tier evaluated earlier
    tf = lab.traceflow("y/a", "x/a", port=80)
    assert tf.final_action == "Rejected"


def test_traceflow_k8s_isolation_and_egress_side(lab):
    lab.apply(DENY_X_INGRESS.replace("[Ingress]", "[Egress]").replace("deny-x-ingress", "deny-x-egress"))
    tf = lab.traceflow("x/a", "y/b", port=80)
    assert len(tf.results) == 1  # dropped on the sender node
    assert [(o.component_info, o.action) for _, o in tf.observations][-1] == ("EgressDefaultRule", "Dropped")


def test_traceflow_same_node_and_self(lab):
    nodes = _worker_pods(lab)
    a, b = nodes["kind-worker"][:2]
    tf = lab.traceflow(a, b)
    assert len(tf.results) == 1 and tf.final_action == "Delivered"
    assert not any(o.tunnel_dst_ip for _, o in tf.observations)
    assert lab.traceflow(a, a).phase == "Failed"


def test_traceflow_view_follows_matrix_clicks(session):
    matrix = ReachabilityMatrix(session)
    view = TraceflowView(session, follow=matrix)
    session.apply(REJECT_Y_TO_X)
    matrix.cell("y/a", "x/b").click()
    assert (view.source, view.destination) == ("y/a", "x/b")
    assert "Rejected" in view.text and "reject-from-y" in view.path_html.value
    view._protocol.value = "UDP"
    view._trace.click()
    assert "UDP/80" in view.text


# ---------------------------------------------------------------------------- checks and doctor


def test_check_reachability_reports_and_raises_only_when_grading(lab, monkeypatch):
    lab.apply(DENY_X_INGRESS)
    table = """
           x/a x/b y/a
      x/a   .   X   .
      y/a   X   X   .
    """
    monkeypatch.delenv("LABKIT_GRADING", raising=False)
    result = check_reachability(lab, table, title="Exercise 0")
    assert result and result.passed and result.data.counts()["drop"] == 3
    assert "Exercise 0: passed" in result._repr_html_()
    wrong = table.replace("x/a   .   X   .", "x/a   .   .   .")
    result = check_reachability(lab, wrong, title="Exercise 0", hint="look at x")  # a learner's kernel: no error
    assert not result and result.state == "not yet"
    assert result.problems == ["x/a->x/b is drop, should be allow"]
    html = result._repr_html_()
    assert "Exercise 0: not yet" in html and "hint: look at x" in html and "run this cell again" in html
    bundle = result._repr_mimebundle_()
    assert bundle["application/vnd.labkit.check+json"]["passed"] is False
    monkeypatch.setenv("LABKIT_GRADING", "1")  # a grading run: the same check raises
    with pytest.raises(CheckFailed, match="1 cell"):
        check_reachability(lab, wrong, hint="look at x")


def test_check_decided_by(lab, monkeypatch):
    monkeypatch.setenv("LABKIT_GRADING", "1")
    lab.apply(REJECT_Y_TO_X)
    check_decided_by(lab, "y/a", "x/a", "AntreaClusterNetworkPolicy:reject-y-to-x")
    check_decided_by(lab, "y/a", "x/a", "reject-y-to-x")
    with pytest.raises(CheckFailed) as info:
        check_decided_by(lab, "y/a", "x/a", "K8sNetworkPolicy:x/deny-all")
    assert "reject-y-to-x" not in str(info.value)  # the message must not give the answer away
    monkeypatch.delenv("LABKIT_GRADING")
    result = check_decided_by(lab, "y/a", "x/a", "", title="Exercise 3.1")
    assert not result and "your answer is empty" in result.message()


def test_doctor_reports_sim_always_available():
    frame = backends()
    assert list(frame.backend) == ["sim", "ovs", "kind"]
    assert bool(frame.set_index("backend").loc["sim", "available"]) is True
    assert all(frame.detail.str.len() > 0)


def test_public_surface():
    import labkit.widgets as w

    assert sorted(w.__all__) == sorted(n for n in w.__all__ if hasattr(w, n))


def test_editor_says_when_the_lab_is_stopped():
    lab = Lab(profile="workshop", start=False)
    editor = PolicyEditor(lab, yaml=DENY_X_INGRESS)
    assert editor.apply()
    assert "lab is stopped" in editor.status and "lab.start()" in editor.status


def test_encryption_switch_recaptures_and_capture_view_shows_layers():
    from labkit.widgets import EncryptionSwitch

    with Lab(profile="workshop") as lab:
        switch = EncryptionSwitch(lab, "x/a", "x/b")  # kind-worker -> kind-worker2
        view = switch.view
        assert view.frames()["readable HTTP"].any(), "no encryption: the GET is readable on the wire"
        get = next(i for i, f in enumerate(view.capture.frames) if b"GET /" in f.data)
        layers = view.layers(get)
        assert list(layers.layer[:5]) == ["eth", "ip", "udp", "geneve", "eth"]
        assert layers.fields.str.contains("line=GET").any()
        switch.buttons.value = "wireGuard"  # a click
        assert lab.encryption == "wireGuard" and view.capture.mode == "wireGuard"
        assert not view.frames()["readable HTTP"].any()
        assert set(view.layers(len(view.capture.frames) - 1).layer) >= {"eth", "ip", "udp", "wg"}
        switch.buttons.value = "ipsec"
        assert "esp" in set(view.layers(len(view.capture.frames) - 1).layer)
        assert switch.status.value == ""
