"""Drift: the flows a switch holds versus the flows labkit compiled for it (pure; no I/O).

Antrea's agent owns its bridge's flows: it installs them, and after OVS restarts it replays every
one it cached (``ReplayFlows`` in pkg/agent/openflow/client.go). Flows changed behind its back
(``ovs-ofctl del-flows`` by hand) are not its concern. labkit checks instead: the ovs backend
compares what each node's ``br-int`` holds with the compiled flows and reports, per table and
cookie (hence per policy rule), what is missing and what should not be there.

Two sources of text are read here:

* ``ovs-ofctl diff-flows <switch> <flow file>`` output, where OVS itself has normalized both sides
  (``-`` lines are on the switch only, ``+`` lines only in the file; a flow whose actions or cookie
  differ appears on both sides). This is the exact comparison :func:`parse_diff` reads.
* per-table flow counts (``ofp_table_stats.active_count``), the cheap first look
  (:func:`count_by_table`, :func:`counts_differ`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .openflow import FlowEntry, parse_flow
from .pipeline import TABLES, table_id


@dataclass(frozen=True)
class DriftGroup:
    """The differences of one (table, cookie): how many compiled flows are missing, how many
    foreign flows are there, and how many flows have other actions than compiled."""

    table: str
    cookie: int
    missing: int = 0
    unexpected: int = 0
    changed: int = 0
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlowDrift:
    """What a switch holds that was not compiled, and what was compiled that it does not hold."""

    missing: tuple[FlowEntry, ...] = ()  # compiled, not on the switch
    unexpected: tuple[FlowEntry, ...] = ()  # on the switch, not compiled

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected

    def changed_keys(self) -> set[tuple[str, int, str]]:
        """(table, priority, match) present on both sides with different actions or cookie."""
        return {f.key for f in self.missing} & {f.key for f in self.unexpected}

    def groups(self) -> list[DriftGroup]:
        """Differences per (table, cookie), in pipeline order. A changed flow counts once, under
        its compiled cookie."""
        changed = self.changed_keys()
        acc: dict[tuple[str, int], dict] = defaultdict(lambda: {"missing": 0, "unexpected": 0, "changed": 0,
                                                                  "examples": []})
        for f in self.missing:
            entry = acc[(f.table, f.cookie)]
            entry["changed" if f.key in changed else "missing"] += 1
            entry["examples"].append(("~" if f.key in changed else "-") + f.text())
        for f in self.unexpected:
            if f.key in changed:
                continue
            entry = acc[(f.table, f.cookie)]
            entry["unexpected"] += 1
            entry["examples"].append("+" + f.text())
        order = lambda k: (table_id(k[0]) if k[0] in TABLES else 999, k[1])  # noqa: E731
        return [DriftGroup(t, c, e["missing"], e["unexpected"], e["changed"], tuple(e["examples"][:3]))
                for (t, c), e in sorted(acc.items(), key=lambda item: order(item[0]))]

    def __str__(self) -> str:
        if self.ok:
            return "no drift"
        parts = []
        for g in self.groups():
            what = [f"{n} {label}" for n, label in ((g.missing, "missing"), (g.unexpected, "unexpected"),
                                                    (g.changed, "changed")) if n]
            parts.append(f"table {g.table} cookie {g.cookie:#x}: {', '.join(what)}")
        return "; ".join(parts)


def parse_diff(text: str) -> FlowDrift:
    """Read ``ovs-ofctl diff-flows <switch> <file>`` output (``-``: switch only, ``+``: file only).

    Its lines look like ``+table=17 priority=200,ip,reg1=0x3 cookie=0x3000000000002 actions=drop``
    (cookie omitted when 0).
    """
    missing, unexpected = [], []
    for line in text.splitlines():
        if not line or line[0] not in "+-" or "actions=" not in line:
            continue
        head, _, actions = line[1:].partition(" actions=")
        flow = parse_flow(",".join(head.split()) + " actions=" + actions)
        (missing if line[0] == "+" else unexpected).append(flow)
    return FlowDrift(tuple(missing), tuple(unexpected))


def compare(expected: Iterable[FlowEntry], actual: Iterable[FlowEntry]) -> FlowDrift:
    """Exact comparison of two flow lists in the same normal form (counters ignored)."""
    want = {f.without_counters() for f in expected}
    have = {f.without_counters() for f in actual}
    return FlowDrift(tuple(sorted(want - have, key=lambda f: f.text())),
                     tuple(sorted(have - want, key=lambda f: f.text())))


def count_by_table(flows: Iterable[FlowEntry]) -> dict[int, int]:
    """Flows per table id, as a switch's table statistics count them."""
    counts: dict[int, int] = defaultdict(int)
    for f in flows:
        counts[table_id(f.table)] += 1
    return dict(counts)


def counts_differ(expected: dict[int, int], actual: dict[int, int]) -> list[str]:
    """Tables whose flow count differs, as ``Name: N on the switch, M compiled``."""
    out = []
    for tid in sorted(set(expected) | set(actual)):
        if expected.get(tid, 0) != actual.get(tid, 0):
            name = next((t.name for t in TABLES.values() if t.id == tid), str(tid))
            out.append(f"{name}: {actual.get(tid, 0)} on the switch, {expected.get(tid, 0)} compiled")
    return out


__all__ = ["FlowDrift", "DriftGroup", "parse_diff", "compare", "count_by_table", "counts_differ"]
