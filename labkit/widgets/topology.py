"""``TopologyView``: nodes and their pods (grouped by namespace, with labels and IPs), and which
pods a selector picks.

Type a selector in kubectl's syntax (``app=web, tier in (a,b), !legacy``) into the podSelector
and/or namespaceSelector box; the pods it selects light up. Selection is labkit's own
(:class:`labkit.policy.groups.Selection`, the same code the policy compiler uses), with
ClusterNetworkPolicy semantics: a lone podSelector looks in every namespace.

:func:`parse_selector` turns the string form into a :class:`~labkit.model.selectors.LabelSelector`.
It reproduces ``labels.Parse`` of k8s.io/apimachinery for the operators a LabelSelector can hold
(``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``); ``>``/``<`` exist only in the string
form and are refused with a hint.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets
import yaml

from ..errors import LabkitError
from ..model.selectors import LabelSelector, Requirement, label_key_error, label_value_error
from ..policy.groups import Selection
from ._style import ACCENT, ACCENT_LIGHT, esc
from .session import LabSession, session_for

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab


class SelectorSyntaxError(ValueError):
    """A selector string that kubectl would refuse; the message says which part and why."""


_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ_RE = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>[^=!<>()\s,]*)$")
_EXISTS_RE = re.compile(rf"^(?P<neg>!)?\s*(?P<key>{_KEY})$")


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorSyntaxError(f"unbalanced ')' in selector {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise SelectorSyntaxError(f"unbalanced '(' in selector {text!r}")
    parts.append("".join(current))
    return parts


def parse_selector(text: str) -> LabelSelector:
    """``"app=web, tier in (a,b), !legacy"`` -> LabelSelector. Empty text selects everything.

    Raises :class:`SelectorSyntaxError` naming the offending requirement.
    """
    text = text.strip()
    if not text:
        return LabelSelector()
    match_labels: dict[str, str] = {}
    exprs: list[Requirement] = []
    for raw in _split_top_level(text):
        part = raw.strip()
        if not part:
            raise SelectorSyntaxError(f"empty requirement in selector {text!r} (a stray comma?)")
        if any(op in part for op in (">", "<")) and "(" not in part:
            raise SelectorSyntaxError(f"{part!r}: '>' and '<' are not allowed in a podSelector/namespaceSelector "
                                      "(LabelSelector has In, NotIn, Exists, DoesNotExist only)")
        if m := _SET_RE.match(part):
            values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
            if not values:
                raise SelectorSyntaxError(f"{part!r}: '{m['op']}' needs at least one value, e.g. {m['key']} "
                                          f"{m['op']} (a,b)")
            _check_key(m["key"], part)
            for v in values:
                _check_value(v, part)
            exprs.append(Requirement(m["key"], "In" if m["op"] == "in" else "NotIn", values))
        elif m := _EQ_RE.match(part):
            _check_key(m["key"], part)
            _check_value(m["value"], part)
            if m["op"] == "!=":
                exprs.append(Requirement(m["key"], "NotIn", (m["value"],)))
            elif m["key"] in match_labels and match_labels[m["key"]] != m["value"]:
                exprs.append(Requirement(m["key"], "In", (m["value"],)))  # selects nothing, as kubectl's would
            else:
                match_labels[m["key"]] = m["value"]
        elif m := _EXISTS_RE.match(part):
            _check_key(m["key"], part)
            exprs.append(Requirement(m["key"], "DoesNotExist" if m["neg"] else "Exists"))
        else:
            raise SelectorSyntaxError(
                f"cannot parse {part!r}; use key=value, key!=value, key in (a,b), key notin (a,b), key or !key")
    return LabelSelector(tuple(sorted(match_labels.items())), tuple(exprs))


def _check_key(key: str, part: str) -> None:
    if (error := label_key_error(key)) is not None:
        raise SelectorSyntaxError(f"{part!r}: {error}")


def _check_value(value: str, part: str) -> None:
    if (error := label_value_error(value)) is not None:
        raise SelectorSyntaxError(f"{part!r}: {error}")


class TopologyView(widgets.VBox):
    """Nodes, pods grouped by namespace (labels, IP), and the pods a selector picks."""

    pod_selector = traitlets.Unicode(help="podSelector in kubectl syntax ('' = not used)")
    namespace_selector = traitlets.Unicode(help="namespaceSelector in kubectl syntax ('' = not used)")
    selected = traitlets.List(help="pod keys (ns/name) the selectors pick")
    error = traitlets.Unicode(help="why the selector text does not parse ('' if it does)")

    def __init__(self, lab: "Lab | LabSession", pod_selector: str = "", namespace_selector: str = "",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session_for(lab)
        self.lab = self.session.lab
        self._pod_box = widgets.Text(description="podSelector", placeholder="app=web, tier in (a,b)",
                                     layout=widgets.Layout(width="420px"),
                                     style={"description_width": "130px"})
        self._ns_box = widgets.Text(description="namespaceSelector", placeholder="ns=x (empty: every namespace)",
                                    layout=widgets.Layout(width="420px"),
                                    style={"description_width": "130px"})
        widgets.link((self._pod_box, "value"), (self, "pod_selector"))
        widgets.link((self._ns_box, "value"), (self, "namespace_selector"))
        self.selection_html = widgets.HTML()
        self.nodes_html = widgets.HTML()
        self.nodes_html.add_class("labkit-topology")
        self.children = [self._pod_box, self._ns_box, self.selection_html, self.nodes_html]
        with self.hold_trait_notifications():
            self.pod_selector = pod_selector
            self.namespace_selector = namespace_selector
        self.observe(lambda _: self.refresh(), names=["pod_selector", "namespace_selector"])
        self._handler = self.session.subscribe(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self._select()
        self._draw()

    def close(self) -> None:
        handler = getattr(self, "_handler", None)  # absent if __init__ failed half-way
        if handler is not None:
            self.session.unsubscribe(handler)
            self._handler = None
        super().close()

    def _select(self) -> None:
        pod_text, ns_text = self.pod_selector.strip(), self.namespace_selector.strip()
        if not pod_text and not ns_text:
            self.error, self.selected = "", []
            self.selection_html.value = ("<i>type a selector to see which pods it picks "
                                         "(an empty selector <code>{}</code> would pick every pod)</i>")
            return
        try:
            pod_sel = parse_selector(pod_text) if pod_text else None
            ns_sel = parse_selector(ns_text) if ns_text else None
        except SelectorSyntaxError as exc:
            self.error, self.selected = str(exc), []
            self.selection_html.value = f"<span style='color:#D55E00'>✗ {esc(exc)}</span>"
            return
        self.error = ""
        self.selected = sorted(Selection(self.lab.state).select_pods(pod_sel, ns_sel, None))
        spec: dict = {}
        if pod_sel is not None:
            spec["podSelector"] = pod_sel.to_dict()
        if ns_sel is not None:
            spec["namespaceSelector"] = ns_sel.to_dict()
        as_yaml = yaml.safe_dump(spec, default_flow_style=None, sort_keys=False).strip()
        picked = ", ".join(esc(k) for k in self.selected) or "none"
        self.selection_html.value = (f"<b>selects {len(self.selected)} pod(s):</b> {picked}"
                                     f"<pre style='margin:4px 0;background:#f6f6f6'>{esc(as_yaml)}</pre>")

    def _draw(self) -> None:
        try:
            state = self.lab.state
        except LabkitError as exc:  # pragma: no cover - state is always there today
            self.nodes_html.value = f"<i>{esc(exc)}</i>"
            return
        chosen = set(self.selected)
        ns_labels = {ns.name: dict(ns.labels) for ns in state.namespaces}
        cards = []
        for node in state.nodes:
            pods = [p for p in state.pods if p.node_name == node.name]
            groups = []
            for ns in sorted({p.namespace for p in pods}):
                chips = "".join(_pod_chip(p, p.key in chosen, bool(chosen)) for p in pods if p.namespace == ns)
                labels = ",".join(f"{k}={v}" for k, v in sorted(ns_labels.get(ns, {}).items())
                                  if k != "kubernetes.io/metadata.name")
                groups.append(f"<div style='border:1px dashed #999;border-radius:4px;padding:3px;margin:3px 0'>"
                              f"<div><b>ns/{esc(ns)}</b> <span style='color:#555;font-size:90%'>{esc(labels)}</span>"
                              f"</div>{chips}</div>")
            role = "control-plane" if node.is_control_plane else "worker"
            body = "".join(groups) or "<i style='color:#777'>no pods</i>"
            cards.append(f"<div style='border:2px solid #555;border-radius:6px;padding:6px;min-width:210px;"
                         f"vertical-align:top'><div><b>{esc(node.name)}</b> ({role})</div>"
                         f"<div style='font-size:90%;color:#555'>{esc(node.internal_ip)} · podCIDR "
                         f"{esc(node.pod_cidr)}</div>{body}</div>")
        self.nodes_html.value = f"<div style='display:flex;gap:10px;flex-wrap:wrap'>{''.join(cards)}</div>"


def _pod_chip(pod, picked: bool, any_picked: bool) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(pod.labels.items()) if k != "pod-template-hash")
    if picked:
        style = f"background:{ACCENT_LIGHT};border:2px solid {ACCENT};font-weight:600"
        mark = "● "
    else:
        style = "background:#f4f4f4;border:2px solid transparent" + (";opacity:0.55" if any_picked else "")
        mark = ""
    return (f"<div title='{esc(pod.key)}' style='{style};border-radius:4px;padding:2px 5px;margin:2px 0;"
            f"font-family:monospace;font-size:90%'>{mark}{esc(pod.name)} <span style='color:#333'>"
            f"{esc(pod.pod_ip)}</span><br><span style='color:#444'>{esc(labels)}</span></div>")


__all__ = ["TopologyView", "parse_selector", "SelectorSyntaxError"]
