"""Flow table and graphs without a browser: widget state and figure data, not pixels."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from labkit import Lab
from labkit.flows import summary
from labkit.flows.traffic import SHOP_TRAFFIC
from labkit import CheckFailed
from labkit.widgets import flows as fw


@pytest.fixture(scope="module")
def shop():
    lab = Lab(profile="shop", name="flows-ui")
    lab.apply("notebooks/policies/04-baseline-deny.yaml")
    lab.apply("notebooks/policies/04-web-to-api.yaml")
    run = lab.generate_traffic(SHOP_TRAFFIC, duration_s=60, seed=1)
    agg = run.aggregate()
    yield lab, run, agg
    lab.stop()


def test_summary_tables(shop):
    _, run, agg = shop
    flows = agg.flows()
    assert len(flows) == len(run.connections)
    edges = summary.edges(flows)
    web_api = edges[(edges.source == "frontend/web") & (edges.destination == "backend/api")].iloc[0]
    assert web_api.verdict == "allow" and web_api.flows == 60 and web_api.denied == 0
    assert set(edges[edges.source == "monitoring/prometheus"].verdict) == {"drop"}
    by_ns = summary.edges(flows, "namespace")
    assert int(by_ns.bytes.sum()) == int(edges.bytes.sum())  # grouping does not change the total
    volume, states = summary.policy_matrix(flows)
    assert states.loc["frontend", "backend"] == "allow" and states.loc["frontend", "data"] == "deny"
    assert states.loc["data", "frontend"] == "" and volume.loc["data", "frontend"] == 0
    assert summary.workload_of("frontend/web-z7x94qhlsx-hqj7z") == "frontend/web"
    assert summary.workload_of("backend/cart") == "backend/cart"


def test_sankey_figure_data(shop):
    flows = shop[2].flows()
    spec = fw.sankey_figure(flows)
    trace, = spec["data"]
    assert trace["type"] == "sankey"
    edges = summary.edges(flows)
    assert sum(trace["link"]["value"]) == int((edges.bytes + edges.reverse_bytes).sum())
    labels = trace["node"]["label"]
    i = next(i for i, (s, t) in enumerate(zip(trace["link"]["source"], trace["link"]["target"]))
             if labels[s] == "frontend/web" and labels[t] == "backend/api")
    assert trace["link"]["customdata"][i][0] == "allow"
    assert trace["link"]["color"][i].startswith("rgba(0,158,115")  # Okabe-Ito bluish green


def test_chord_and_service_map_colour_each_edge_by_verdict(shop):
    flows = shop[2].flows()
    edges = summary.edges(flows)
    for build in (fw.policy_chord_figure, fw.service_map_figure):
        spec = build(flows)
        chords = [t for t in spec["data"] if t.get("mode") == "lines+markers"]
        assert len(chords) == len(edges)
        for t in chords:
            src, _, dst = t["name"].partition(" → ")
            verdict = edges[(edges.source == src) & (edges.destination == dst)].verdict.iloc[0]
            assert t["line"]["color"] == fw.VERDICT_COLORS[verdict]
        legend = [t["name"] for t in spec["data"] if t.get("showlegend")]
        assert legend == ["allow", "drop", "reject"]
    shapes = fw.service_map_figure(flows)["layout"]["shapes"]
    assert len(shapes) == 4  # one region per namespace


def test_matrix_figure_data(shop):
    spec = fw.policy_matrix_figure(shop[2].flows())
    heat, = spec["data"]
    row = heat["y"].index("frontend")
    assert heat["z"][row][heat["x"].index("backend")] == 0  # allowed
    assert heat["z"][row][heat["x"].index("data")] == 2  # denied
    assert heat["z"][heat["y"].index("data")][row] is None  # no traffic


def test_figures_are_valid_plotly(shop):
    go = pytest.importorskip("plotly.graph_objects", reason="plotly is not installed: pip install plotly")
    flows = shop[2].flows()
    for build in fw.FIGURES.values():
        go.Figure(build(flows))  # raises on any property plotly does not know
    widget = fw.show_figure(fw.sankey_figure(flows))
    bundle = widget.outputs[0]["data"] if hasattr(widget, "outputs") else None
    if bundle is not None:
        assert bundle["application/vnd.plotly.v1+json"]["data"][0]["type"] == "sankey"
        assert "text/html" in bundle


def test_without_plotly_the_numbers_are_shown(shop, monkeypatch):
    monkeypatch.setattr(fw, "plotly_available", lambda: False)
    flows = shop[2].flows()
    for build in fw.FIGURES.values():
        html = fw.show_figure(build(flows)).value
        assert "pip install plotly" in html and "<td>frontend" in html
    assert fw.show_figure(fw.sankey_figure(flows.iloc[0:0])).value.count("no flows") == 2


def test_flow_table_filters(shop, tmp_path):
    agg = shop[2]
    table = fw.FlowTable(agg)
    total = len(table.frame)
    assert total == len(agg.flows()) and f"<b>{total}</b> of {total}" in table.summary.value
    assert [label for label, _ in table._namespace.options] == ["all", "backend", "data", "frontend", "monitoring"]
    table.verdict = "drop"
    assert set(table.filtered().verdict) == {"drop"} and "✓ allow" not in table.table.value
    table.verdict = "all"
    table.namespace = "data"
    assert all("data/" in s + d for s, d in zip(table.filtered().source, table.filtered().destination))
    table.namespace = ""
    table.text = "!prometheus"
    assert not table.filtered().source.str.contains("prometheus").any()
    table.text = "default-deny"
    assert len(table.filtered()) == (table.frame.verdict == "drop").sum()
    assert "default-deny (Drop)" in table.table.value
    table.max_rows = 5
    assert table.table.value.count("<tr>") == 6 and "showing 5 of" in table.table.value
    table.to_csv(str(tmp_path / "flows.csv"))
    assert (tmp_path / "flows.csv").read_text().count("\n") == len(table.filtered()) + 1


def test_flow_table_hides_system_namespaces_and_watches(shop):
    flows = shop[2].flows()
    system = flows.iloc[:3].copy()
    system["destination"] = "kube-system/coredns"
    frame = pd.concat([flows, system], ignore_index=True)
    table = fw.FlowTable(frame, one_per_flow=False)
    assert len(table.filtered()) == len(flows)
    table.hide_system = False
    assert len(table.filtered()) == len(flows) + 3
    threads = set(threading.enumerate())
    table.watch(interval_s=0.01)
    table.unwatch()
    assert set(threading.enumerate()) <= threads


def test_dashboard_tabs(shop):
    dash = fw.FlowDashboard(shop[2])
    assert [dash.get_title(i) for i in range(len(dash.children))] == [
        "flows", "sankey", "service map", "policy chord", "policy matrix"]
    assert set(dash.figures) == {"sankey", "service map", "policy chord", "policy matrix"}


def test_check_flows(shop, monkeypatch):
    monkeypatch.setenv("LABKIT_GRADING", "1")  # failures raise, as in a grading run
    lab, _, agg = shop
    flows = agg.flows()
    probes = SHOP_TRAFFIC.probes()
    port = flows.destinationTransportPort
    dropped_probes = flows[(flows.source.str.startswith("frontend/") & port.isin([5432, 6379, 9090]))
                           | ((flows.source == "backend/cart") & (port == 5432))]
    fw.check_flows(lab, dropped_probes, probes, verdict="drop", title="t")
    with pytest.raises(CheckFailed, match="not drop|not reject"):
        fw.check_flows(lab, dropped_probes, probes, verdict="reject", title="t")
    with pytest.raises(CheckFailed, match="unexpected frontend/web -> backend/api"):
        fw.check_flows(lab, flows, probes, verdict="drop", title="t")
    with pytest.raises(CheckFailed, match="not a flow DataFrame"):
        fw.check_flows(lab, None, probes)
    monkeypatch.delenv("LABKIT_GRADING")  # a learner's kernel: the same failure is a "not yet"
    result = fw.check_flows(lab, flows, probes, verdict="drop", title="t")
    assert not result and any(p.startswith("unexpected frontend/web -> backend/api") for p in result.problems)
