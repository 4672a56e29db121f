"""The NSX flow view in the console widget (Flows tab) and on the console page, without a browser
(tests/widgets/test_nsx_console_browser.py has the browser): on the shop with a planned policy and
a new version's blocked connection, every count equals what the Flow Aggregator's records give
when counted here, with group membership worked out from the lab (not by the mock)."""

from __future__ import annotations

import base64
import ssl
import urllib.request
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from labkit import Lab
from labkit.flows import SHOP_TRAFFIC, TrafficProfile, TrafficRule
from labkit.nsx import start_nsx
from labkit.widgets.nsx_console import NSXConsole

V2 = TrafficProfile("shop-v2", SHOP_TRAFFIC.rules + (
    TrafficRule("api-v2-to-redis", "backend/app=api", "data/app=redis", 6379, connections_per_minute=6),))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flow-console")
    with Lab(profile="shop", name="flowview", state_dir=tmp / "lab") as lab, \
            start_nsx(lab, tmp / "nsx", register=True, key_type="ec") as nsx:
        learning = lab.flows(lab.generate_traffic("shop", duration_s=120, seed=1))
        nsx.report_flows(learning, label="learning")
        plan = nsx.plan_segmentation(learning)
        plan.push()
        v2 = lab.flows(lab.generate_traffic(V2, duration_s=60, seed=3))
        report = nsx.report_flows(v2, label="v2")
        yield lab, nsx, plan, learning, v2, report["report_id"]


def _groups_of(plan) -> dict[str, set[str]]:
    """Each pod's planned groups, from the lab's labels (the tiers) and namespaces (the scope)."""
    out: dict[str, set[str]] = {}
    for pod, tier in plan.observation.tier_of.items():
        groups = {f"shop-{tier.slug}"} if f"shop-{tier.slug}" in {g["id"] for g in plan.groups} else set()
        if pod.split("/")[0] in plan.observation.app_namespaces:
            groups.add("shop-scope")
        out[pod] = groups or {"UNCATEGORIZED"}
    return out


def _expected_pairs(frame: pd.DataFrame, plan) -> Counter:
    groups = _groups_of(plan)
    return Counter((s, d) for src, dst in zip(frame.source, frame.destination)
                   for s in groups[src] for d in groups[dst])


def test_the_widget_counts_are_the_records(scene):
    lab, nsx, plan, learning, v2, report = scene
    console = NSXConsole(nsx.client(), adapter=nsx.adapter)
    assert console.tabs.get_state()["titles"][-1] == "Flows"
    totals = console.tables["flow_totals"]
    both = pd.concat([learning, v2])
    assert totals == {"records": len(both), "allowed": int((both.verdict == "allow").sum()),
                      "dropped": int((both.verdict == "drop").sum()), "rejected": 0}
    assert [r["records"] for r in console.tables["flow_reports"]] == [len(learning), len(v2)]

    console.show_flows(report_id=report)
    assert console.tables["flow_totals"]["records"] == len(v2)
    by_ns = {(r["from namespace"], r["to namespace"]): r["records"] for r in console.tables["flows_by_namespace"]}
    assert by_ns == v2.groupby(["sourcePodNamespace", "destinationPodNamespace"]).size().to_dict()
    by_group = {(r["from group"], r["to group"]): r["records"] for r in console.tables["flows_by_group"]}
    assert by_group == dict(_expected_pairs(v2, plan))
    by_service = {r["service"]: r["records"] for r in console.tables["flows_by_service"]}
    assert by_service == {"HTTP-8080": int((v2.destinationTransportPort == 8080).sum()),
                          **{f"TCP/{p}": int((v2.destinationTransportPort == p).sum()) for p in (5432, 6379, 9090)}}

    rows = console.show_flows(source_group="shop-backend-api", destination_group="shop-data-redis",
                              report_id=report)
    new = v2[v2.verdict == "drop"]
    assert len(rows) == len(new) and {r["action"] for r in rows} == {"DROP"}
    assert {(r["policy"], r["rule"]) for r in rows} == {("shop-segmentation", "default-drop")}
    assert "<h4>By group pair</h4>" in console.flows_html.get_state()["value"]
    rules = {(r["policy"], r["rule"]): r["dropped"] for r in console.tables["flows_by_rule"]}
    assert rules == {("shop-segmentation", "default-drop"): len(new)}
    with pytest.raises(ValueError, match="'no-such-group' is not offered"):
        console.show_flows(source_group="no-such-group")


class _Tables(HTMLParser):
    """Rows of every ``<table class=...>`` and the attributes of tagged elements, by class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        self._table = self._row = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("class"):
            self.attrs.setdefault(a["class"], {k: v or "" for k, v in attrs})
        if tag == "table":
            self._table = self.tables.setdefault(a.get("class", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _page(nsx, query: str = "") -> _Tables:
    ctx = ssl.create_default_context(cafile=str(nsx.server.ca_path))
    token = base64.b64encode(f"{nsx.server.admin_user}:{nsx.server.admin_password}".encode()).decode()
    request = urllib.request.Request(f"{nsx.url}/{query}", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, context=ctx) as answer:
        parser = _Tables()
        parser.raw = answer.read().decode()
        parser.feed(parser.raw)
        return parser


def test_the_page_counts_are_the_records_and_its_links_filter(scene):
    lab, nsx, plan, learning, v2, report = scene
    page = _page(nsx, f"?report_id={report}")
    totals = page.attrs["flow-totals"]
    assert int(totals["data-records"]) == len(v2)
    assert int(totals["data-dropped"]) == int((v2.verdict == "drop").sum())
    pairs = {(row[0], row[1]): int(row[2]) for row in page.tables["flows-by-group"]}
    assert pairs == dict(_expected_pairs(v2, plan))
    assert {(r[0], r[1]): int(r[2]) for r in page.tables["flows-by-namespace"]} == \
        v2.groupby(["sourcePodNamespace", "destinationPodNamespace"]).size().to_dict()
    talkers = page.tables["top-talkers"]
    assert len(talkers) == 10 and int(talkers[0][-1]) >= int(talkers[-1][-1])  # by bytes, largest first

    narrowed = _page(nsx, f"?report_id={report}&source_group=shop-backend-api&destination_group=shop-data-redis")
    records = narrowed.tables["flow-records"]
    assert int(narrowed.attrs["flow-totals"]["data-records"]) == len(records) == int((v2.verdict == "drop").sum())
    assert {(r[6], r[7]) for r in records} == {("DROP", "BLOCKED")}
    assert all(r[8].startswith("shop-segmentation / default-drop (") for r in records)
    assert (f"filter: report id = {report}, source group = shop-backend-api, destination group = shop-data-redis"
            in narrowed.raw
            and f'href="?report_id={report}#flows">clear</a>' not in narrowed.raw)
    assert '<a href="/#flows">clear</a>' in narrowed.raw


def test_without_records_the_view_says_how_to_get_some(tmp_path: Path):
    with Lab(profile="shop", name="noflows", state_dir=tmp_path / "lab") as lab, \
            start_nsx(lab, tmp_path / "nsx", register=True, key_type="ec") as nsx:
        console = NSXConsole(nsx.client(), adapter=nsx.adapter)
        assert "nsx.report_flows(lab.flows(run))" in console.flows_html.get_state()["value"]
        page = _page(nsx)
        assert "flow-totals" not in page.attrs and "flow-reports" not in page.tables
