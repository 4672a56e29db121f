"""One filter_flows for `labkit flows` and the FlowTable widget (labkit.flows.filters)."""

from __future__ import annotations

import pytest

from labkit import cli
from labkit.flows import filters
from labkit.flows.records import FlowRecord, RuleAction, records_to_frame
from labkit.widgets import flows as widget_flows


def frame():
    def flow(src, dst, port, **meta):
        sns, _, spod = src.partition("/") if "/" in src else ("", "", "")
        dns, _, dpod = dst.partition("/") if "/" in dst else ("", "", "")
        return FlowRecord(f"10.0.0.{port % 250}", "10.0.1.1" if "/" in dst else dst, 40000 + port, port, 6,
                          source_pod_namespace=sns, source_pod_name=spod,
                          destination_pod_namespace=dns, destination_pod_name=dpod, **meta)

    return records_to_frame([
        flow("frontend/web", "backend/api", 1),
        flow("frontend/web", "data/redis", 2, egress_network_policy_name="default-deny",
             egress_network_policy_rule_action=RuleAction.DROP),
        flow("monitoring/prometheus", "data/redis", 3, ingress_network_policy_name="redis-only-api",
             ingress_network_policy_rule_action=RuleAction.REJECT),
        flow("kube-system/coredns", "backend/api", 4),
        flow("backend/api", "203.0.113.9", 5),
    ])


def pairs(rows) -> list[tuple[str, str]]:
    return list(zip(rows.source, rows.destination))


def test_every_filter() -> None:
    f = frame()
    assert len(filters.filter_flows(f)) == 5
    assert pairs(filters.filter_flows(f, verdict="DROP")) == [("frontend/web", "data/redis")]
    assert len(filters.filter_flows(f, verdict="denied")) == 2
    assert {s for s, _ in pairs(filters.filter_flows(f, namespace="data"))} == {"frontend/web", "monitoring/prometheus"}
    assert pairs(filters.filter_flows(f, namespace="external")) == [("backend/api", "203.0.113.9")]
    assert len(filters.filter_flows(f, pod="api")) == 3
    assert len(filters.filter_flows(f, pod="data/redis")) == 2 and filters.filter_flows(f, pod="x/redis").empty
    assert pairs(filters.filter_flows(f, policy="redis-only-api")) == [("monitoring/prometheus", "data/redis")]
    assert len(filters.filter_flows(f, text="REDIS")) == 2 and len(filters.filter_flows(f, text="!redis")) == 3
    assert len(filters.filter_flows(f, hide_system=True)) == 4
    assert pairs(filters.filter_flows(f, verdict="allow", namespace="backend", hide_system=True, text="!203")) == [
        ("frontend/web", "backend/api")]
    with pytest.raises(ValueError, match="use one of all, allow"):
        filters.filter_flows(f, verdict="dropped")


def test_the_cli_and_the_widget_use_the_one_filter() -> None:
    assert widget_flows.filter_flows is filters.filter_flows
    assert not hasattr(cli, "filter_flows")
    table = widget_flows.FlowTable(frame())
    table.verdict, table.hide_system = "denied", False
    assert len(table.filtered()) == 2
