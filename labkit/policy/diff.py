"""What a policy change does to connections: every cell whose verdict differs between two states.

``diff_states(before, after)`` compiles both ClusterStates and evaluates them with the engine
(never a backend: nothing is applied, no packet is sent) for a set of probes: by default
:func:`~labkit.policy.probeset.spanning_probes` over the rules of *both* states, so every
(protocol, port range) and ICMP type/code that any rule treats differently from its neighbours is
probed once, and no change goes unseen. The result, a :class:`PolicyDiff`, is exact: its rows are
precisely the (source, destination, probe) cells whose verdict differs, each with the deciding
rule before and after as ``lab.explain`` names it.

It stays small at scale: both states are evaluated on pod classes (see
:mod:`labkit.policy.evaluate`); the two partitions are intersected, compared class pair by class
pair, and only the class pairs that changed are kept. Rows are spelled out by :meth:`PolicyDiff.to_frame`;
counts (:meth:`PolicyDiff.counts`, :meth:`PolicyDiff.summary`) come from the class pairs directly.

Pods that exist in only one state have no before (or after) verdict: they are listed in
``pods_added`` / ``pods_removed`` and not compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np

from ..model.cluster import ClusterState
from .compiler import PolicySet, compile_policies
from .evaluate import ALLOW, K8S_ISOLATION, REJECT, Engine, Evaluation, _joint, engine_for
from .probe import Probe
from .probeset import ProbeSpan, probe_spans, spanning_probes
from .reachability import decision_of, verdict_dtype

CHANGES = ("opened", "closed", "reject->drop", "drop->reject")
COLUMNS = ["src", "dst", "protocol", "port", "ports", "before", "after", "before_rule", "after_rule"]


def change_of(before: int, after: int) -> str:
    """How a verdict changed: opened (now allowed), closed (now denied), reject->drop, drop->reject."""
    if before == ALLOW:
        return "closed"
    if after == ALLOW:
        return "opened"
    return "reject->drop" if before == REJECT else "drop->reject"


# change index per (before, after) code pair (codes 0..2); -1 on the diagonal
_CHANGE_INDEX = np.full((3, 3), -1, dtype=np.int8)
for _b in range(3):
    for _a in range(3):
        if _a != _b:
            _CHANGE_INDEX[_b, _a] = CHANGES.index(change_of(_b, _a))


@dataclass
class _SpanChanges:
    """The class pairs whose verdict changed for one probe."""

    span: ProbeSpan
    src_class: np.ndarray  # per compared pod, as a source: its class (before x after)
    dst_class: np.ndarray
    pair_src: np.ndarray  # changed class pairs
    pair_dst: np.ndarray
    cells: np.ndarray  # int64: changed cells of each pair (self cells excluded)
    before: np.ndarray  # uint8 verdict of each pair
    after: np.ndarray
    before_label: np.ndarray  # int32 index into PolicyDiff.labels
    after_label: np.ndarray

    @cached_property
    def _members(self) -> tuple[np.ndarray, ...]:
        """Per side: the pods ordered by class, where each class starts, each class's size."""
        out: list[np.ndarray] = []
        for classes in (self.src_class, self.dst_class):
            count = int(classes.max()) + 1 if len(classes) else 0
            sizes = np.bincount(classes, minlength=count).astype(np.int64)
            out += [np.argsort(classes, kind="stable"), np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
                    sizes]
        return tuple(out)

    def expand(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row (source pod, destination pod, pair index), without self cells."""
        s_order, s_start, s_size, d_order, d_start, d_size = self._members
        ps, pd_ = self.pair_src, self.pair_dst
        width = d_size[pd_]
        total = s_size[ps] * width
        row_pair = np.repeat(np.arange(len(ps)), total)
        offset = np.arange(int(total.sum()), dtype=np.int64) - np.repeat(np.cumsum(total) - total, total)
        src = s_order[s_start[ps][row_pair] + offset // width[row_pair]]
        dst = d_order[d_start[pd_][row_pair] + offset % width[row_pair]]
        keep = src != dst
        return src[keep], dst[keep], row_pair[keep]

    def rows_of_source(self, pod: int, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(destination pod, pair index) of one source pod's changed cells, by destination."""
        _, _, _, d_order, d_start, d_size = self._members
        dst = np.concatenate([d_order[d_start[q]:d_start[q] + d_size[q]] for q in self.pair_dst[pairs]])
        pair = np.repeat(pairs, d_size[self.pair_dst[pairs]])
        keep = dst != pod
        order = np.argsort(dst[keep], kind="stable")
        return dst[keep][order], pair[keep][order]


@dataclass
class PolicyDiff:
    """The connections a change opens, closes or turns between reject and drop.

    ``to_frame()``: one row per changed cell (src, dst, protocol, port, ports, before, after,
    before_rule, after_rule); ``summary()``: changed cells per namespace pair and kind of change;
    ``counts()``: per kind of change. ``pods`` are the pods compared (present in both states).
    """

    pods: list[str]
    spans: list[ProbeSpan]
    labels: list[str]
    changes: list[_SpanChanges] = field(repr=False)
    pods_added: list[str] = field(default_factory=list)
    pods_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ counts

    def __len__(self) -> int:
        return int(sum(int(c.cells.sum()) for c in self.changes))

    def __bool__(self) -> bool:
        return any(len(c.cells) for c in self.changes)

    def counts(self) -> dict[str, int]:
        """Changed cells per kind of change (opened, closed, reject->drop, drop->reject)."""
        out = dict.fromkeys(CHANGES, 0)
        for c in self.changes:
            kinds = _CHANGE_INDEX[c.before, c.after]
            for i, name in enumerate(CHANGES):
                out[name] += int(c.cells[kinds == i].sum())
        return out

    def summary(self):
        """Changed cells per (source namespace, destination namespace): one column per kind of
        change plus ``total``; namespace pairs without a change are left out."""
        import pandas as pd

        namespaces = sorted({k.partition("/")[0] for k in self.pods})
        ns_index = {ns: i for i, ns in enumerate(namespaces)}
        ns_of = np.array([ns_index[k.partition("/")[0]] for k in self.pods], dtype=np.int64)
        n = len(namespaces)
        table = np.zeros((len(CHANGES), n, n), dtype=np.int64)
        for c in self.changes:
            if not len(c.cells):
                continue
            k = int(c.src_class.max()) + 1
            m = int(c.dst_class.max()) + 1
            src_ns = np.zeros((n, k), dtype=np.float64)  # pods of namespace i in source class p
            np.add.at(src_ns, (ns_of, c.src_class), 1)
            dst_ns = np.zeros((n, m), dtype=np.float64)
            np.add.at(dst_ns, (ns_of, c.dst_class), 1)
            kinds = _CHANGE_INDEX[c.before, c.after]
            for i in range(len(CHANGES)):
                sel = np.flatnonzero(kinds == i)
                for start in range(0, len(sel), 200_000):  # bounded (namespaces x pairs) blocks
                    chunk = sel[start:start + 200_000]
                    table[i] += np.rint(src_ns[:, c.pair_src[chunk]] @ dst_ns[:, c.pair_dst[chunk]].T).astype(np.int64)
                # A pod towards itself is not a cell: take out the pods whose own pair changed.
                changed = np.zeros((k, m), dtype=bool)
                changed[c.pair_src[sel], c.pair_dst[sel]] = True
                selfish = changed[c.src_class, c.dst_class]
                np.subtract.at(table[i], (ns_of[selfish], ns_of[selfish]), 1)
        rows = []
        for a in range(n):
            for b in range(n):
                cells = table[:, a, b]
                if cells.any():
                    rows.append({"src_namespace": namespaces[a], "dst_namespace": namespaces[b],
                                 **{name: int(cells[i]) for i, name in enumerate(CHANGES)},
                                 "total": int(cells.sum())})
        frame = pd.DataFrame(rows, columns=["src_namespace", "dst_namespace", *CHANGES, "total"])
        return frame.set_index(["src_namespace", "dst_namespace"])

    # ------------------------------------------------------------------ rows

    def to_frame(self, limit: int | None = None):
        """One row per changed cell, ordered by probe, source, destination (``limit``: the first ones).

        ``src``, ``dst``, ``protocol``, ``ports`` (the traffic the probe stands for), ``before``,
        ``after`` (allow | drop | reject), ``before_rule``, ``after_rule`` are Categoricals
        (compare them with strings as usual); ``port`` is the probe's port (``<NA>`` for ICMP).
        """
        import pandas as pd

        parts = []
        left = limit
        for index, c in enumerate(self.changes):
            if left is not None and left <= 0:
                break
            src, dst, pair = self._rows(c, left)
            if left is not None:
                left -= len(src)
            parts.append((index, src, dst, pair, c))
        span_col = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int32) for p in parts] or [np.zeros(0, np.int32)])
        src = np.concatenate([p[1] for p in parts] or [np.zeros(0, np.int64)])
        dst = np.concatenate([p[2] for p in parts] or [np.zeros(0, np.int64)])
        before = np.concatenate([p[4].before[p[3]] for p in parts] or [np.zeros(0, np.uint8)])
        after = np.concatenate([p[4].after[p[3]] for p in parts] or [np.zeros(0, np.uint8)])
        before_label = np.concatenate([p[4].before_label[p[3]] for p in parts] or [np.zeros(0, np.int32)])
        after_label = np.concatenate([p[4].after_label[p[3]] for p in parts] or [np.zeros(0, np.int32)])
        protocols = sorted({s.protocol for s in self.spans})
        span_protocol = np.array([protocols.index(s.protocol) for s in self.spans] or [0], dtype=np.int8)
        span_port = np.array([s.port if s.port is not None else -1 for s in self.spans] or [0], dtype=np.int64)
        ports = sorted({s.traffic for s in self.spans})
        span_ports = np.array([ports.index(s.traffic) for s in self.spans] or [0], dtype=np.int32)
        port = pd.array(span_port[span_col], dtype="Int32")
        port[span_port[span_col] < 0] = pd.NA
        verdicts = verdict_dtype()
        frame = pd.DataFrame({
            "src": pd.Categorical.from_codes(src, categories=self.pods),
            "dst": pd.Categorical.from_codes(dst, categories=self.pods),
            "protocol": pd.Categorical.from_codes(span_protocol[span_col], categories=protocols),
            "port": port,
            "ports": pd.Categorical.from_codes(span_ports[span_col], categories=ports),
            "before": pd.Categorical.from_codes(before.astype(np.int8), dtype=verdicts),
            "after": pd.Categorical.from_codes(after.astype(np.int8), dtype=verdicts),
            "before_rule": pd.Categorical.from_codes(before_label, categories=self.labels),
            "after_rule": pd.Categorical.from_codes(after_label, categories=self.labels),
        }, columns=COLUMNS)
        return frame.head(limit) if limit is not None else frame

    def _rows(self, c: _SpanChanges, limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of one span sorted by (source, destination); with a limit, only the first ones are
        spelled out (source by source, so a huge change costs no more than the rows asked for)."""
        if limit is None or int(c.cells.sum()) <= limit:
            src, dst, pair = c.expand()
            order = np.lexsort((dst, src))
            return src[order], dst[order], pair[order]
        by_class: dict[int, list[int]] = {}
        for i, p in enumerate(c.pair_src.tolist()):
            by_class.setdefault(p, []).append(i)
        srcs, dsts, pairs, taken = [], [], [], 0
        for pod in range(len(self.pods)):
            mine = by_class.get(int(c.src_class[pod]))
            if mine is None:
                continue
            dst, pair = c.rows_of_source(pod, np.array(mine))
            srcs.append(np.full(len(dst), pod, dtype=np.int64))
            dsts.append(dst)
            pairs.append(pair)
            taken += len(dst)
            if taken >= limit:
                break
        return np.concatenate(srcs)[:limit], np.concatenate(dsts)[:limit], np.concatenate(pairs)[:limit]

    # ------------------------------------------------------------------ display

    def __str__(self) -> str:
        return to_text(self)

    def to_markdown(self, max_rows: int = 50, title: str = "") -> str:
        """A GitHub-flavoured Markdown report (for a pull-request comment): counts, the namespace
        pairs, and the first ``max_rows`` changed connections."""
        return to_markdown(self, max_rows=max_rows, title=title)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731  (IPython pretty printer)


# ---------------------------------------------------------------------------- computing a diff


def scratch_state(state: ClusterState) -> ClusterState:
    """A copy of ``state`` that can be applied to and deleted from without touching the original
    (objects are immutable; every dict the store keeps is copied, hints included)."""
    scratch = state.copy()
    for name, value in vars(scratch).items():
        if isinstance(value, dict):
            setattr(scratch, name, dict(value))
    return scratch


class _Labels:
    """Deciding-rule names, deduplicated across spans and states."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]


def _decisions(ev: Evaluation, engine: Engine, policy_set: PolicySet, src: np.ndarray, dst: np.ndarray,
               labels: _Labels) -> np.ndarray:
    """The deciding rule's name (as Explanation.deciding.reason) for cells (src[i], dst[i])."""
    e, g = ev.egress, ev.ingress
    e_code = e.code[e.src_class[src], e.dst_class[dst]]
    e_rule = e.rule[e.src_class[src], e.dst_class[dst]]
    e_pass = e.passed[e.src_class[src], e.dst_class[dst]]
    i_rule = g.rule[g.src_class[src], g.dst_class[dst]]
    i_code = g.code[g.src_class[src], g.dst_class[dst]]
    i_pass = g.passed[g.src_class[src], g.dst_class[dst]]
    egress_decides = e_code != ALLOW
    code = np.where(egress_decides, e_code, i_code)
    rule = np.where(egress_decides, e_rule, i_rule)
    passed = np.where(egress_decides, e_pass, i_pass)
    pod = np.where(egress_decides, src, dst)
    isolation = np.where(egress_decides, engine.isolation_ids["Egress"][src], engine.isolation_ids["Ingress"][dst])
    isolation = np.where(rule == K8S_ISOLATION, isolation, 0)
    # One number per distinct (side, code, rule, Pass rule, isolating policies): rule ids run from
    # SELF (-3) up, so +4 keeps every digit of the mixed radix non-negative.
    radix = len(policy_set.rules) + 4
    iso_radix = max(len(engine.isolation_sets["Egress"]), len(engine.isolation_sets["Ingress"]), 1)
    key = ((((egress_decides.astype(np.int64) * 4 + code) * radix + (rule + 4)) * radix + (passed + 4))
           * iso_radix + isolation)
    unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    names = np.empty(len(unique), dtype=np.int32)
    for u, at in enumerate(first):
        decision = decision_of("Egress" if egress_decides[at] else "Ingress", int(code[at]), int(rule[at]),
                               int(passed[at]), policy_set, ev.sources[int(pod[at])])
        names[u] = labels.add(decision.reason)
    return names[inverse.ravel()]


def _span_changes(span: ProbeSpan, engines: tuple[Engine, Engine], policy_sets: tuple[PolicySet, PolicySet],
                  labels: _Labels, warnings: set[str]) -> _SpanChanges:
    ev_b, ev_a = engines[0].evaluate(span.probe), engines[1].evaluate(span.probe)
    for ev, ps in ((ev_b, policy_sets[0]), (ev_a, policy_sets[1])):
        for rule_id in ev.ambiguous_rules:
            warnings.add(f"{ps.rule(rule_id).describe()}: its sourcePort range partly overlaps the ephemeral range "
                         f"32768-60999; {span.probe} assumes a source port outside it")
    src_class, src_rep = _joint(ev_b.src_class, ev_a.src_class)
    dst_class, dst_rep = _joint(ev_b.dst_class, ev_a.dst_class)
    before = ev_b.class_verdict.take(ev_b.dst_class[dst_rep], axis=1).take(ev_b.src_class[src_rep], axis=0)
    after = ev_a.class_verdict.take(ev_a.dst_class[dst_rep], axis=1).take(ev_a.src_class[src_rep], axis=0)
    pair_src, pair_dst = np.nonzero(before != after)
    k, m = len(src_rep), len(dst_rep)
    s_size = np.bincount(src_class, minlength=k).astype(np.int64)
    d_size = np.bincount(dst_class, minlength=m).astype(np.int64)
    cells = s_size[pair_src] * d_size[pair_dst]
    # A pod towards itself is always allowed: the cells of a pair minus the pods in both classes.
    self_keys, self_counts = np.unique(src_class.astype(np.int64) * m + dst_class, return_counts=True)
    pair_keys = pair_src.astype(np.int64) * m + pair_dst
    at = np.searchsorted(self_keys, pair_keys)
    hit = (at < len(self_keys)) & (self_keys[np.minimum(at, len(self_keys) - 1)] == pair_keys)
    cells[hit] -= self_counts[at[hit]]
    real = cells > 0
    pair_src, pair_dst, cells = pair_src[real], pair_dst[real], cells[real]
    # A representative cell of each pair that is not a pod towards itself.
    rep_s, rep_d = src_rep[pair_src].copy(), dst_rep[pair_dst].copy()
    for i in np.flatnonzero(rep_s == rep_d):
        members_s = np.flatnonzero(src_class == pair_src[i])
        members_d = np.flatnonzero(dst_class == pair_dst[i])
        rep_s[i], rep_d[i] = next((a, b) for a in members_s for b in members_d if a != b)
    before_v, after_v = before[pair_src, pair_dst], after[pair_src, pair_dst]
    before_label = _decisions(ev_b, engines[0], policy_sets[0], rep_s, rep_d, labels)
    after_label = _decisions(ev_a, engines[1], policy_sets[1], rep_s, rep_d, labels)
    return _SpanChanges(span, src_class, dst_class, pair_src, pair_dst, cells, before_v, after_v,
                        before_label, after_label)


def diff_states(before: ClusterState, after: ClusterState, probes: Sequence[Probe | tuple] | None = None,
                before_policies: PolicySet | None = None, after_policies: PolicySet | None = None) -> PolicyDiff:
    """Every (source, destination, probe) whose verdict differs between ``before`` and ``after``.

    ``probes=None``: the spanning probes of both states' rules (every port range, named port and
    ICMP type the rules tell apart, plus the traffic no rule names); else a list of ``Probe`` or
    ``(protocol, port)``. The compiled PolicySets may be passed when already known.
    """
    ps_b = before_policies if before_policies is not None else compile_policies(before)
    ps_a = after_policies if after_policies is not None else compile_policies(after)
    pods_b, pods_a = before.pods, after.pods
    keys_a = {p.key for p in pods_a}
    keys_b = {p.key for p in pods_b}
    compared = [p.key for p in pods_b if p.key in keys_a]
    spans = spanning_probes([ps_b, ps_a], list(pods_b) + list(pods_a)) if probes is None else probe_spans(probes)
    engines = (engine_for(ps_b, pods_b, compared, compared), engine_for(ps_a, pods_a, compared, compared))
    labels = _Labels()
    warnings: set[str] = set()
    changes = [_span_changes(span, engines, (ps_b, ps_a), labels, warnings) for span in spans]
    return PolicyDiff(compared, spans, labels.names, changes,
                      pods_added=sorted(keys_a - keys_b), pods_removed=sorted(keys_b - keys_a),
                      warnings=sorted(warnings))


# ---------------------------------------------------------------------------- reading a diff
# Both reports start with the counts per kind of change, then the namespace pairs, then the first
# rows; the full list is ``PolicyDiff.to_frame()`` (or ``labkit diff -o csv``). GitHub caps a comment
# at 65,536 characters, so the Markdown lists at most ``max_rows`` connections, inside a collapsed
# ``<details>`` block.

ROW_HEADERS = {"src": "source", "dst": "destination", "protocol": "protocol", "ports": "ports", "before": "before",
               "after": "after", "before_rule": "deciding rule before", "after_rule": "deciding rule after"}
_ARROWS = {"reject->drop": "reject→drop", "drop->reject": "drop→reject"}


def headline(diff: "PolicyDiff") -> str:
    counts = diff.counts()
    total = sum(counts.values())
    scope = f"{len(diff.pods)} pods compared, {len(diff.spans)} probe{'s' if len(diff.spans) != 1 else ''}"
    if not total:
        return f"No connection changes ({scope})."
    parts = ", ".join(f"{n:,} {_ARROWS.get(k, k)}" for k, n in counts.items() if n)
    return f"{total:,} connection{'s' if total != 1 else ''} change: {parts} ({scope})."


def _pods_note(diff: "PolicyDiff") -> list[str]:
    out = []
    for what, pods in (("only after the change (not compared)", diff.pods_added),
                       ("only before the change (not compared)", diff.pods_removed)):
        if pods:
            shown = ", ".join(pods[:10]) + (f" and {len(pods) - 10} more" if len(pods) > 10 else "")
            out.append(f"Pods {what}: {shown}.")
    return out


def to_text(diff: "PolicyDiff", max_rows: int = 50) -> str:
    lines = [headline(diff)] + _pods_note(diff) + [f"warning: {w}" for w in diff.warnings]
    if not diff:
        return "\n".join(lines)
    summary = diff.summary().reset_index()
    summary.columns = [c.upper() for c in summary.columns]
    lines += ["", "By namespace pair:", summary.to_string(index=False)]
    rows = diff.to_frame(limit=max_rows if max_rows > 0 else None)
    total = len(diff)
    shown = f" (first {len(rows):,} of {total:,})" if len(rows) < total else ""
    table = rows.drop(columns=["port"]).astype(str)
    table.columns = [c.upper() for c in table.columns]
    lines += ["", f"Changed connections{shown}:", table.to_string(index=False)]
    return "\n".join(lines)


def _md(value: object) -> str:
    """A Markdown table cell: pipes escaped, no line breaks."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def to_markdown(diff: "PolicyDiff", max_rows: int = 50, title: str = "") -> str:
    lines = [f"### labkit policy diff{': ' + _md(title) if title else ''}", "", f"**{headline(diff)}**"]
    lines += [""] + _pods_note(diff) if diff.pods_added or diff.pods_removed else []
    lines += [f"> warning: {_md(w)}" for w in diff.warnings]
    if not diff:
        return "\n".join(lines) + "\n"
    summary = diff.summary()
    lines += ["", *_md_table(["source namespace", "destination namespace", *(_ARROWS.get(c, c) for c in CHANGES),
                              "total"],
                             [[f"`{_md(a)}`", f"`{_md(b)}`", *(f"{int(row[c]):,}" for c in CHANGES),
                               f"{int(row['total']):,}"] for (a, b), row in summary.iterrows()],
                             right=set(range(2, 3 + len(CHANGES))))]
    rows = diff.to_frame(limit=max_rows if max_rows > 0 else None)
    total = len(diff)
    shown = f"{total:,}" if len(rows) == total else f"{total:,}; the first {len(rows):,}"
    body = [[f"`{_md(r.src)}`", f"`{_md(r.dst)}`", _md(r.protocol), _md(r.ports), _md(r.before), _md(r.after),
             _md(r.before_rule), _md(r.after_rule)] for r in rows.itertuples(index=False)]
    lines += ["", f"<details><summary>Changed connections ({shown})</summary>", "",
              *_md_table([ROW_HEADERS[c] for c in ROW_HEADERS], body), "", "</details>"]
    if len(rows) < total:
        lines += ["", f"{total - len(rows):,} more: run `labkit diff ... -o csv` for every row."]
    return "\n".join(lines) + "\n"


__all__ = ["PolicyDiff", "ProbeSpan", "CHANGES", "COLUMNS", "change_of", "diff_states", "scratch_state", "headline",
           "to_text", "to_markdown"]
