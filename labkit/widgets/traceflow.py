"""TraceflowView: the path of one packet, drawn from a :class:`~labkit.policy.traceflow.Traceflow`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from ..errors import LabkitError
from ..policy.reachability import Explanation
from ..policy.traceflow import Traceflow
from ._style import VERDICT_STYLE, badge, esc
from .session import LabSession, session_for

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab
    from .matrix import ReachabilityMatrix

# ---------------------------------------------------------------------------- the widget

_ACTION_STYLE = {"Delivered": VERDICT_STYLE["allow"], "Dropped": VERDICT_STYLE["drop"],
                 "Rejected": VERDICT_STYLE["reject"]}


class TraceflowView(widgets.VBox):
    """Pick a source, a destination and a probe; see the packet's path node by node.

    ``follow=matrix`` traces whatever cell is clicked in a :class:`ReachabilityMatrix`.
    """

    source = traitlets.Unicode()
    destination = traitlets.Unicode()
    protocol = traitlets.Enum(("TCP", "UDP", "SCTP", "ICMP"), default_value="TCP")
    port = traitlets.Int(80)

    def __init__(self, lab: "Lab | LabSession", source: str | None = None, destination: str | None = None,
                 port: int = 80, protocol: str = "TCP", follow: "ReachabilityMatrix | None" = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session_for(lab)
        self.lab = self.session.lab
        self.traceflow: Traceflow | None = None
        pods = [p.key for p in self.lab.state.pods]
        self._src = widgets.Dropdown(options=pods, description="source", layout=widgets.Layout(width="260px"))
        self._dst = widgets.Dropdown(options=pods, description="destination", layout=widgets.Layout(width="260px"))
        self._protocol = widgets.Dropdown(options=("TCP", "UDP", "SCTP", "ICMP"), description="protocol",
                                          layout=widgets.Layout(width="170px"))
        self._port = widgets.BoundedIntText(min=1, max=65535, description="port", layout=widgets.Layout(width="150px"))
        self._trace = widgets.Button(description="Trace", icon="route", button_style="primary")
        for box, name in ((self._src, "source"), (self._dst, "destination"), (self._protocol, "protocol"),
                          (self._port, "port")):
            widgets.link((box, "value"), (self, name))
        self._trace.on_click(lambda _: self.trace())
        self.path_html = widgets.HTML("<i>pick a source and a destination, then Trace</i>")
        self.path_html.add_class("labkit-traceflow")
        self.children = [widgets.HBox([self._src, self._dst]),
                         widgets.HBox([self._protocol, self._port, self._trace]), self.path_html]
        with self.hold_trait_notifications():
            self.source = source or (pods[0] if pods else "")
            self.destination = destination or (pods[-1] if pods else "")
            self.protocol = protocol.upper()
            self.port = port
        if follow is not None:
            follow.on_select(self.show)
        self._handler = self.session.subscribe(self._on_lab_change)
        if source and destination:
            self.trace()

    def trace(self) -> Traceflow | None:
        """Trace the current source -> destination probe."""
        try:
            exp = self.lab.explain(self.source, self.destination,
                                   port=None if self.protocol == "ICMP" else self.port, protocol=self.protocol)
        except (LabkitError, ValueError) as exc:
            self.path_html.value = f"<span style='color:#D55E00'>⚠ {esc(exc)}</span>"
            return None
        return self.show(exp)

    def show(self, explanation: Explanation) -> Traceflow:
        """Show the trace of an explanation (what ``follow=matrix`` calls on each click)."""
        probe = explanation.probe
        tf = self.lab.traceflow(explanation.src, explanation.dst, port=probe.port, protocol=probe.protocol,
                                src_port=probe.src_port)
        with self.hold_trait_notifications():
            self.source, self.destination = explanation.src, explanation.dst
            self.protocol = explanation.probe.protocol
            if explanation.probe.port:
                self.port = explanation.probe.port
        self.traceflow = tf
        self.path_html.value = traceflow_html(tf)
        return tf

    @property
    def text(self) -> str:
        return str(self.traceflow) if self.traceflow is not None else ""

    def _on_lab_change(self) -> None:
        pods = [p.key for p in self.lab.state.pods]
        if list(self._src.options) != pods:
            self._src.options = pods
            self._dst.options = pods
        if self.traceflow is not None and self.source in pods and self.destination in pods:
            self.trace()

    def close(self) -> None:
        handler = getattr(self, "_handler", None)  # absent if __init__ failed half-way
        if handler is not None:
            self.session.unsubscribe(handler)
            self._handler = None
        super().close()


def traceflow_html(tf: Traceflow) -> str:
    if tf.phase != "Succeeded":
        return f"<div><b>{esc(tf.source)} → {esc(tf.destination)}</b> {esc(tf.probe)}: {esc(tf.phase)} — {esc(tf.reason)}</div>"
    cards = []
    for i, result in enumerate(tf.results):
        rows = []
        for o in result.observations:
            bg, fg, glyph = _ACTION_STYLE.get(o.action, ("#eeeeee", "black", "→"))
            detail = " ".join(x for x in (esc(o.network_policy), f"rule <b>{esc(o.network_policy_rule)}</b>"
                                          if o.network_policy_rule else "",
                                          f"tunnelDstIP {esc(o.tunnel_dst_ip)}" if o.tunnel_dst_ip else "",
                                          f"srcPodIP {esc(o.src_pod_ip)}" if o.src_pod_ip else "") if x)
            nowrap = "style='white-space:nowrap;padding:1px 6px'"
            rows.append(f"<tr><td {nowrap}>{esc(o.component)}</td><td {nowrap}>{esc(o.component_info)}</td>"
                        f"<td style='background:{bg};color:{fg};padding:1px 6px;white-space:nowrap'>{glyph} "
                        f"{esc(o.action)}</td><td style='padding:1px 6px'>{detail}</td></tr>")
        cards.append(f"<div style='border:2px solid #555;border-radius:6px;padding:6px'>"
                     f"<b>{esc(result.node)}</b> ({esc(result.role)})<table>{''.join(rows)}</table></div>")
        if i + 1 < len(tf.results):
            cards.append("<div style='align-self:center;font-size:20px'>⟶<br><span style='font-size:11px'>"
                         "tunnel</span></div>")
    verdict = tf.explanation.verdict if tf.explanation is not None else ""
    why = ""
    if tf.explanation is not None:
        why = "".join(f"<li>{esc(d.direction)}: {esc(d.reason)}</li>"
                      for d in (tf.explanation.egress, tf.explanation.ingress))
    return (f"<div><b>{esc(tf.source)} → {esc(tf.destination)}</b> {esc(tf.probe)}: {badge(verdict)} "
            f"(last observation: {esc(tf.final_action)})</div>"
            f"<div style='display:flex;gap:8px;align-items:stretch;margin:4px 0'>{''.join(cards)}</div>"
            f"<ul style='margin:0'>{why}</ul>")


__all__ = ["TraceflowView", "traceflow_html"]
