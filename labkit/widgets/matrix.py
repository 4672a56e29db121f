"""``ReachabilityMatrix``: the lab's reachability matrix as a clickable heatmap.

Rows are source pods, columns destination pods (``ns/pod``), one coloured button per cell
(Okabe-Ito colour + glyph: ✓ allow, ✗ drop, ⊘ reject). Clicking a cell explains it: the deciding
rule on the egress side (at the source) and on the ingress side (at the destination), as
``Reachability.explain`` / ``Lab.explain`` report them. The matrix refreshes whenever the lab
changes (see :mod:`labkit.widgets.session`) and can be compared with an intended matrix.

It is a view: every verdict and every reason comes from the Lab.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as widgets
import traitlets

from ..errors import LabkitError
from ..policy.reachability import Explanation, Reachability
from ._style import ACCENT, MUTED, VERDICT_STYLE, badge, esc
from .session import LabSession, session_for

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab

PROTOCOLS = ("TCP", "UDP", "SCTP", "ICMP")
CELL_PX = 30


class ReachabilityMatrix(widgets.VBox):
    """Heatmap of ``lab.reachability(port, protocol)``; click a cell for its explanation.

    ``intended`` (a :class:`Reachability` or its truth-table text) enables the diff mode: cells
    that match the intent are greyed out, cells that differ keep their colour and get a blue frame.
    """

    protocol = traitlets.Enum(PROTOCOLS, default_value="TCP")
    port = traitlets.Int(80)
    selected = traitlets.Tuple(help="(source, destination) of the explained cell, or ()")
    diff_mode = traitlets.Bool(False)

    def __init__(self, lab: "Lab | LabSession", port: int | None = None, protocol: str | None = None,
                 namespaces: list[str] | None = None, intended: Reachability | str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session_for(lab)
        self.lab = self.session.lab
        probe = (self.lab.profile.probes or [{"port": 80, "protocol": "TCP"}])[0]
        self.namespaces = namespaces
        self.reachability: Reachability | None = None
        self.explanation: Explanation | None = None
        self.intended: Reachability | None = None
        self.differences: list[tuple[str, str, str, str]] = []
        self._buttons: dict[tuple[str, str], widgets.Button] = {}
        self._axes: tuple[list[str], list[str]] = ([], [])
        self._select_callbacks: list[Callable[[Explanation], None]] = []

        self._protocol = widgets.Dropdown(options=PROTOCOLS, description="protocol",
                                          layout=widgets.Layout(width="170px"))
        self._port = widgets.BoundedIntText(min=1, max=65535, description="port",
                                            layout=widgets.Layout(width="150px"))
        self._diff = widgets.ToggleButton(description="diff vs intended", icon="columns",
                                          tooltip="grey out the cells that match the intended matrix")
        self._refresh_button = widgets.Button(description="refresh", icon="refresh",
                                              layout=widgets.Layout(width="100px"))
        widgets.link((self._protocol, "value"), (self, "protocol"))
        widgets.link((self._port, "value"), (self, "port"))
        widgets.link((self._diff, "value"), (self, "diff_mode"))
        self._refresh_button.on_click(lambda _: self.refresh())

        self.summary = widgets.HTML()
        self.grid = widgets.GridBox(layout=widgets.Layout(grid_gap="2px", align_items="flex-end"))
        self.grid.add_class("labkit-matrix")
        self.legend = widgets.HTML(
            " ".join(badge(v) for v in VERDICT_STYLE)
            + " <span style='color:#555'>rows: source pod · columns: destination pod · click a cell to explain it</span>")
        self.explanation_html = widgets.HTML("<i>click a cell to see which rules decided it</i>")
        self.explanation_html.add_class("labkit-explanation")
        self.diff_html = widgets.HTML()
        self.children = [widgets.HBox([self._protocol, self._port, self._diff, self._refresh_button]),
                         self.summary, self.grid, self.legend, self.explanation_html, self.diff_html]

        self.set_intended(intended)
        with self.hold_trait_notifications():
            self.protocol = (protocol or probe.get("protocol", "TCP")).upper()
            self.port = int(port if port is not None else probe.get("port", 80) or 80)
        self._port.disabled = self.protocol == "ICMP"
        self.observe(self._on_probe_change, names=["protocol", "port"])
        self.observe(lambda _: self._paint(), names="diff_mode")
        self._handler = self.session.subscribe(self.refresh)
        self.refresh()

    # ------------------------------------------------------------------ public

    def refresh(self) -> None:
        """Recompute the matrix from the lab (also called on every lab change)."""
        try:
            self.reachability = self.lab.reachability(
                port=None if self.protocol == "ICMP" else self.port, protocol=self.protocol,
                namespaces=self.namespaces)
        except (LabkitError, ValueError) as exc:
            self.summary.value = f"<span style='color:#D55E00'>⚠ {esc(exc)}</span>"
            return
        self._layout_grid()
        self._paint()
        if self.selected and self.selected in self._buttons:
            self.select(*self.selected)

    def set_intended(self, intended: Reachability | str | None) -> None:
        """The matrix you meant to build (truth-table text or a Reachability); enables diff mode."""
        self.intended = Reachability.from_text(intended) if isinstance(intended, str) else intended
        self._diff.disabled = self.intended is None
        if self.intended is None:
            self.diff_mode = False
        if self.reachability is not None:
            self._paint()

    def select(self, src: str, dst: str) -> Explanation | None:
        """Explain one cell, as clicking it does."""
        if self.reachability is None:
            return None
        try:
            if self.reachability.evaluation is not None:
                exp = self.reachability.explain(src, dst)
            else:  # measured on ovs/kind: ask the engine why
                exp = self.lab.explain(src, dst, port=None if self.protocol == "ICMP" else self.port,
                                       protocol=self.protocol)
        except (LabkitError, ValueError) as exc:
            self.explanation_html.value = f"<span style='color:#D55E00'>⚠ {esc(exc)}</span>"
            return None
        self.explanation = exp
        self.selected = (src, dst)
        self.explanation_html.value = explanation_html(exp, self.lab)
        self._paint()
        for callback in self._select_callbacks:
            callback(exp)
        return exp

    def on_select(self, callback: Callable[[Explanation], None]) -> None:
        """Call ``callback(explanation)`` whenever a cell is selected."""
        self._select_callbacks.append(callback)

    @property
    def explanation_text(self) -> str:
        return str(self.explanation) if self.explanation is not None else ""

    def cell(self, src: str, dst: str) -> widgets.Button:
        """The button drawn for one cell (its description is the glyph, its tooltip the verdict)."""
        return self._buttons[(src, dst)]

    def close(self) -> None:
        handler = getattr(self, "_handler", None)  # absent if __init__ failed half-way
        if handler is not None:
            self.session.unsubscribe(handler)
            self._handler = None
        super().close()

    # ------------------------------------------------------------------ drawing

    def _on_probe_change(self, change: dict) -> None:
        self._port.disabled = self.protocol == "ICMP"
        self.refresh()

    def _layout_grid(self) -> None:
        reach = self.reachability
        axes = (list(reach.sources), list(reach.destinations))
        if axes == self._axes:
            return  # same pods: keep the buttons, only repaint them
        self._axes = axes
        self._buttons = {}
        children: list[widgets.Widget] = [widgets.HTML("")]
        for dst in reach.destinations:
            children.append(widgets.HTML(
                f"<div style='writing-mode:vertical-rl;transform:rotate(180deg);font-family:monospace;"
                f"white-space:nowrap;margin:0 auto'>{esc(dst)}</div>", layout=widgets.Layout(width=f"{CELL_PX}px")))
        for src in reach.sources:
            children.append(widgets.HTML(f"<div style='text-align:right;font-family:monospace;white-space:nowrap;"
                                         f"padding-right:4px'>{esc(src)}</div>"))
            for dst in reach.destinations:
                button = widgets.Button(layout=widgets.Layout(width=f"{CELL_PX}px", height=f"{CELL_PX}px",
                                                              padding="0px", margin="0px"))
                button.add_class("labkit-cell")
                button.on_click(lambda _b, s=src, d=dst: self.select(s, d))
                self._buttons[(src, dst)] = button
                children.append(button)
        self.grid.layout.grid_template_columns = f"max-content repeat({len(reach.destinations)}, {CELL_PX}px)"
        self.grid.children = children

    def _paint(self) -> None:
        reach = self.reachability
        if reach is None:
            return
        intended: dict[tuple[str, str], str] = {}
        self.differences = reach.diff(self.intended) if self.intended is not None else []
        if self.intended is not None:
            intended = {(s, d): v for s, d, v in self.intended.cells()}
        wrong = {(s, d) for s, d, _, _ in self.differences}
        for src, dst, verdict in reach.cells():
            button = self._buttons[(src, dst)]
            bg, fg, glyph = VERDICT_STYLE[verdict]
            border = ""
            tooltip = f"{src} → {dst}: {verdict}"
            if (src, dst) in intended:
                tooltip += f" (intended {intended[(src, dst)]})"
            if self.diff_mode and (src, dst) in intended:
                if (src, dst) in wrong:
                    border = f"3px solid {ACCENT}"
                else:
                    bg, fg = MUTED, "#555555"
            if self.selected == (src, dst):
                border = "3px solid black"
            button.description = glyph
            button.tooltip = tooltip
            button.style.button_color = bg
            button.style.text_color = fg
            button.style.font_weight = "bold"
            set_border(button.layout, border or None)
        counts = reach.counts()
        diff = ""
        if self.intended is not None:
            diff = (" · <b>matches the intended matrix</b>" if not self.differences
                    else f" · <b style='color:{ACCENT}'>{len(self.differences)} cell(s) differ from the intended matrix</b>")
        self.summary.value = (f"<b>{esc(reach.probe)}</b> ({esc(reach.kind)}, {esc(reach.backend)}): "
                              f"{counts['allow']} allow, {counts['drop']} drop, {counts['reject']} reject{diff}")
        if self.diff_mode and self.differences:
            rows = "".join(f"<tr><td>{esc(s)} → {esc(d)}</td><td>{badge(a)}</td><td>{badge(b)}</td></tr>"
                           for s, d, a, b in self.differences)
            self.diff_html.value = ("<table><tr><th>pair</th><th>actual</th><th>intended</th></tr>"
                                    f"{rows}</table>")
        else:
            self.diff_html.value = ""


def set_border(layout: widgets.Layout, border: str | None) -> None:
    layout.border_top = layout.border_right = layout.border_bottom = layout.border_left = border


def explanation_html(exp: Explanation, lab: "Lab | None" = None) -> str:
    """Both halves of a verdict, as a small table (used by the matrix and the traceflow view)."""
    rows = []
    cell = "style='padding:2px 8px;text-align:left;vertical-align:top'"
    for decision, where in ((exp.egress, exp.src), (exp.ingress, exp.dst)):
        d = decision.to_dict()
        node = ""
        if lab is not None:
            try:
                node = f"<br><span style='color:#555'>on {esc(lab.pod(where).node_name)}</span>"
            except LabkitError:
                node = ""
        if decision.rule is None and decision.isolated_by:
            policy = ", ".join(decision.isolated_by)  # K8s isolation: which policies isolate the pod
        else:
            policy = d["policy"] or "—"
        rule = d["rule_name"] or ("" if d["rule_index"] is None else f"#{d['rule_index']}")
        tier = d["tier"] or ("K8s NetworkPolicy" if d["stage"] == "k8s" else "")
        rows.append(f"<tr><td {cell[:-1]};white-space:nowrap'><b>{esc(decision.direction)}</b> at <code>{esc(where)}</code>{node}</td>"
                    f"<td {cell}>{badge(decision.action.lower())}</td><td {cell}>{esc(tier)}</td>"
                    f"<td {cell}><code>{esc(policy)}</code></td><td {cell}>{esc(rule)}</td>"
                    f"<td {cell}>{esc(decision.reason)}</td></tr>")
    head = "".join(f"<th {cell}>{h}</th>" for h in ("side", "action", "tier", "policy", "rule", "why"))
    return (f"<div><b>{esc(exp.src)} → {esc(exp.dst)}</b> {esc(exp.probe)}: {badge(exp.verdict)}</div>"
            f"<table style='border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}</table>")


__all__ = ["ReachabilityMatrix", "explanation_html"]
