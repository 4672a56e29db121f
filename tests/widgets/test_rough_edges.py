"""The rough edges issue 14 lists that a learner meets in the widgets and tables (one test each;
the browser test checks that no button or label is cut short on screen)."""

from __future__ import annotations

import pytest

from labkit import Lab
from labkit.widgets import EncryptionSwitch, OffloadDashboard, PolicyEditor, backends

DENY_X = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-x, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


@pytest.fixture
def lab():
    with Lab(profile="workshop") as lab:
        yield lab


def test_policies_show_priorities_as_kubectl_does(lab):
    lab.apply("notebooks/policies/03-team-policies.yaml")  # two ACNPs and a K8s NetworkPolicy
    frame = lab.policies()
    text = frame.to_string()
    assert "10.0" not in text and "NaN" not in text, text
    acnp = frame[frame.type == "ACNP"].iloc[0]
    assert acnp.priority == 10 and str(acnp.priority) == "10"
    k8s = frame[frame.type == "K8sNP"].iloc[0]
    assert str(k8s.priority) == "<NA>" and str(k8s.tier_priority) == "<NA>"
    lab.apply({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "half"},
               "spec": {"priority": 1.5, "appliedTo": [{"podSelector": {}}], "ingress": [{"action": "Allow"}]}})
    assert 1.5 in set(lab.policies().priority.dropna())  # a fractional priority stays one


def test_a_static_matrix_keeps_its_caption_on_one_line(lab):
    html = lab.reachability(port=80, sources=["x/a"], destinations=["y/a", "y/b"])._repr_html_()
    assert "<caption>" not in html
    assert "<div style='white-space:nowrap;margin-bottom:2px'>TCP/80 (" in html and "): 2 allow, 0 drop" in html


def test_the_editor_grows_with_its_text(lab):
    short = PolicyEditor(lab, yaml=DENY_X)
    assert short.text.rows == 6
    medium = PolicyEditor(lab, yaml=open("notebooks/solutions/03-exception.yaml").read())
    assert medium.text.rows == len(medium.yaml.splitlines()) + 1 > 14  # 14 rows used to cut it
    long = PolicyEditor(lab, yaml=open("notebooks/solutions/04-least-privilege.yaml").read())
    assert long.text.rows == 40  # at most 40; the box scrolls beyond
    long.yaml = DENY_X
    assert long.text.rows == 6
    assert PolicyEditor(lab, yaml=DENY_X, rows=14).text.rows == 14  # asked for: fixed


def test_delete_after_lab_stop_does_not_claim_success():
    lab = Lab(profile="workshop")
    editor = PolicyEditor(lab, yaml=DENY_X)
    assert editor.apply() and "✓" in editor.status_html.value
    lab.stop()  # the notebook's last cell
    assert editor.delete()
    assert "lab is stopped" in editor.status and "run the notebook's Lab cell again" in editor.status
    assert "✓" not in editor.status_html.value and "⚠" in editor.status_html.value


def test_long_texts_are_not_cut_short():
    frame = backends()
    assert "..." not in frame._repr_html_()
    assert any(len(detail) > 50 and detail in frame._repr_html_() for detail in frame.detail)
    from labkit.encryption import exercises

    limits = exercises.limits()
    html = limits._repr_html_()
    assert "..." not in html and "PSK from Secret kube-system/antrea-ipsec (default 'changeme')" in html
    assert type(limits.reset_index()).__name__ == "FullTextFrame"  # operations keep the full display


def test_tables_in_07_and_08_widgets_look_like_the_others(lab):
    view = EncryptionSwitch(lab, "x/a", "y/a").view
    dashboard = OffloadDashboard(lab)
    for html in (view.frames_html.value, view.layers_html.value, dashboard._reasons.value, dashboard._flows.value):
        assert "<table" in html and 'border="1"' not in html and "border-collapse:collapse" in html


def test_the_nsx_console_form_shows_what_was_traced():
    from labkit.nsx import start_nsx
    from labkit.widgets import NSXConsole

    lab = Lab(profile="workshop", name="nsx-form")
    nsx, adapter = start_nsx(lab)
    try:
        adapter.register()
        console = NSXConsole(nsx.client(), adapter=adapter)
        assert console._tf_src.label == "x/a" and console._tf_dst.label == "x/b"
        console.trace("z/a", "y/b", protocol="UDP", port=53)
        assert (console._tf_src.label, console._tf_dst.label) == ("z/a", "y/b")
        assert (console._tf_protocol.value, console._tf_port.value) == ("UDP", 53)
        console.refresh()
        assert console._tf_src.label == "z/a", "a refresh keeps the choice"
    finally:
        nsx.stop()
        lab.stop()


def test_a_check_run_again_after_lab_stop_says_what_to_do(monkeypatch):
    """After Run All the notebook's last cell has stopped the lab; a learner who then runs a check
    cell again gets a "not yet" that says so, not a LabStateError traceback."""
    from labkit.smartnic import exercises
    from labkit.widgets import check_intent, check_reachability

    monkeypatch.delenv("LABKIT_GRADING", raising=False)
    lab = Lab(profile="workshop", name="stopped")
    lab.stop()
    for result in (check_reachability(lab, "\n   x/a\nx/b .\n", title="Exercise 0"),
                   check_intent(lab, ["x/a -> x/b : TCP/80"], ["TCP/80"], title="Exercise 4"),
                   exercises.check_offload_friendly_block(lab, title="Exercise 8")):
        assert not result and "lab 'stopped' is stopped" in result.summary and "lab.start()" in result.hint
