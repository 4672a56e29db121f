"""Offload dashboard: which datapath flows a SmartNIC holds, the packets on the NIC vs the host, capacity use.

::

    from labkit.widgets.offload import OffloadDashboard

    dash = OffloadDashboard(lab)           # reads lab.offload_report() (ovs: real flows; sim: modelled)
    dash.capacity = 8                      # what if the NIC held only 8 flows? (same as the control)
    dash.refresh()                         # read the datapath again (the Refresh button)

A view of :class:`labkit.smartnic.report.OffloadReport`, never a second classifier: every number
comes from the report (and so, on ovs, from OVS's own counters). Colours: Okabe-Ito blue for the
NIC, vermillion for the host CPU, each with a label so the bars read in greyscale.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from ._style import esc, frame_html

NIC_COLOR, HOST_COLOR = "#0072B2", "#D55E00"
FLOW_COLUMNS = ("node", "match", "actions", "packets", "where", "reason")


def _bar(nic: float, host: float, label: str) -> str:
    total = nic + host
    share = nic / total if total else 0.0
    return (f"<div style='margin:2px 0'><span style='display:inline-block;width:210px'>{esc(label)}</span>"
            f"<span style='display:inline-block;width:300px;height:14px;background:{HOST_COLOR};vertical-align:middle'>"
            f"<span style='display:block;width:{share * 100:.1f}%;height:14px;background:{NIC_COLOR}'></span></span>"
            f" <b>{share:.0%}</b> NIC ({int(nic)}) / host ({int(host)})</div>")


def summary_html(report: Any) -> str:
    """Per node: packet passes on the NIC vs the host, flows offloaded vs host, capacity used."""
    parts = [f"<div><b>Offload</b> — {esc(report.backend)}, <i>{esc(report.source)}</i>; "
             f"<span style='color:{NIC_COLOR}'>■ NIC</span> <span style='color:{HOST_COLOR}'>■ host CPU</span></div>"]
    for n in report.nodes:
        t = n.totals()
        where = "DPU Arm cores" if t["switch runs on"] == "dpu" else "host"
        parts.append(f"<div style='margin-top:6px'><b>{esc(n.node)}</b> · {esc(n.profile.name)} · software path on "
                     f"{where}</div>")
        parts.append(_bar(t["packets_nic"], t["packets_host"], "packet passes"))
        parts.append(_bar(t["flows_offloaded"], t["flows_host"], "datapath flows"))
        cap = t["capacity"]
        parts.append(_bar(t["flows_offloaded"], max(cap - t["flows_offloaded"], 0), f"flow table ({cap})")
                     .replace(f"background:{HOST_COLOR}", "background:#DDDDDD").replace(" NIC (", " used (")
                     .replace(" / host (", " / free ("))
    return "".join(parts)


class OffloadDashboard(widgets.VBox):
    """Bars per node (packets, flows, flow-table use), a reason table and the flow list."""

    node = traitlets.Unicode("all")
    where = traitlets.Unicode("all")  # all | NIC | host CPU
    capacity = traitlets.Int(0)  # 0: the NIC profile's own flow capacity

    def __init__(self, lab: Any = None, report: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if lab is None and report is None:
            raise ValueError("OffloadDashboard needs a Lab (to read reports) or an OffloadReport")
        self.lab = lab
        self.report = report
        self._node = widgets.Dropdown(options=["all"], value="all", description="node")
        self._where = widgets.ToggleButtons(options=["all", "NIC", "host CPU"], value="all")
        self._capacity = widgets.BoundedIntText(value=0, min=0, max=1_000_000, description="capacity",
                                                tooltip="flows the NIC can hold; 0 = the profile's")
        self._refresh = widgets.Button(description="Refresh", icon="refresh", disabled=lab is None)
        self._summary = widgets.HTML()
        self._reasons = widgets.HTML()
        self._flows = widgets.HTML()
        self._refresh.on_click(lambda _: self.refresh())
        widgets.link((self._node, "value"), (self, "node"))
        widgets.link((self._where, "value"), (self, "where"))
        widgets.link((self._capacity, "value"), (self, "capacity"))
        self.children = [widgets.HBox([self._refresh, self._node, self._capacity]), self._summary, self._reasons,
                         self._where, self._flows]
        self.refresh() if lab is not None else self._render()

    @traitlets.validate("capacity")
    def _valid_capacity(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise traitlets.TraitError("capacity must be 0 (the profile's) or a positive number of flows")
        return proposal["value"]

    @traitlets.observe("capacity")
    def _on_capacity(self, _: Any) -> None:
        if self.lab is not None:
            self.refresh()

    @traitlets.observe("node", "where")
    def _on_filter(self, _: Any) -> None:
        self._render()

    def refresh(self) -> None:
        """Read a new report from the lab (its datapath flows and counters, now)."""
        if self.lab is not None:
            self.report = self.lab.offload_report(flow_capacity=self.capacity or None)
        self._render()

    def _render(self) -> None:
        report = self.report
        nodes = ["all"] + [n.node for n in report.nodes]
        if list(self._node.options) != nodes:
            self._node.options = nodes
        if self.node not in nodes:
            self.node = "all"
        shown = report if self.node == "all" else type(report)((report.node(self.node),), report.backend,
                                                               report.source, report.notes)
        self._summary.value = summary_html(shown)
        reasons = shown.reasons().reset_index()
        self._reasons.value = frame_html(reasons, classes="labkit-offload-reasons")
        frame = shown.flows()
        if self.where != "all":
            frame = frame[frame["where"] == self.where]
        self._flows.value = ("<div style='max-height:360px;overflow:auto'>"
                             + frame_html(frame[list(FLOW_COLUMNS)], max_rows=200) + "</div>")


__all__ = ["OffloadDashboard", "summary_html"]
