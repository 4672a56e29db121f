"""One OpenFlow flow entry as data, rendered to and parsed from ``ovs-ofctl`` text.

Flows refer to tables by *name* (``goto_table:ConntrackZone``, ``ct(table=ConntrackState,...)``);
:meth:`FlowEntry.text` writes names for people (golden files, docs) and ids for ``ovs-ofctl``
(``names=False``). :func:`parse_dump` reads ``ovs-ofctl dump-flows`` output back, counters included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from collections.abc import Iterable

from .pipeline import TABLES, table_id, table_name

_TABLE_REF = re.compile(r"(goto_table:|resubmit\(,|table=)([A-Za-z][A-Za-z0-9]*)")
_TABLE_NUM = re.compile(r"(goto_table:|resubmit\(,|table=)(\d+)")
_META_KEYS = ("cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age", "priority",
              "idle_timeout", "hard_timeout", "reset_counts", "send_flow_rem", "importance", "out_port",
              "out_group")


def _ids(text: str) -> str:
    return _TABLE_REF.sub(lambda m: f"{m[1]}{table_id(m[2]) if m[2] in TABLES else m[2]}", text)


def _names(text: str) -> str:
    return _TABLE_NUM.sub(lambda m: f"{m[1]}{table_name(int(m[2]))}", text)


@dataclass(frozen=True)
class FlowEntry:
    table: str
    priority: int
    match: str = ""  # ovs-ofctl match fields, e.g. "ip,nw_src=10.244.1.2"
    actions: str = "drop"
    cookie: int = 0
    n_packets: int | None = None  # only on flows read back from a switch
    n_bytes: int | None = None

    def text(self, names: bool = True) -> str:
        """``cookie=0x..,table=T,priority=P,<match> actions=<actions>`` (names or ids for tables)."""
        tbl = self.table if names else str(table_id(self.table))
        head = f"cookie={self.cookie:#x},table={tbl},priority={self.priority}"
        if self.match:
            head += f",{self.match}"
        actions = self.actions if names else _ids(self.actions)
        return f"{head} actions={actions}"

    def __str__(self) -> str:
        return self.text()

    @property
    def key(self) -> tuple[str, int, str]:
        """OpenFlow identifies a flow by (table, priority, match)."""
        return (self.table, self.priority, self.match)

    def without_counters(self) -> "FlowEntry":
        return replace(self, n_packets=None, n_bytes=None)


def _split_items(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    items, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur).strip())
    return items


def parse_flow(line: str) -> FlowEntry:
    """Parse one flow line (a flow file line or a ``dump-flows`` line) into a FlowEntry."""
    line = line.strip()
    head, sep, actions = line.partition(" actions=")
    if not sep:
        head, sep, actions = line.partition(",actions=")
    if not sep:
        raise ValueError(f"not a flow (no actions=): {line!r}")
    meta: dict[str, str] = {}
    match: list[str] = []
    for item in _split_items(head):
        key, eq, value = item.partition("=")
        if eq and key in _META_KEYS:
            meta[key] = value
        elif item:
            match.append(item)
    tbl = meta.get("table", "0")
    tbl = table_name(int(tbl)) if tbl.isdigit() else tbl
    return FlowEntry(
        table=tbl,
        priority=int(meta.get("priority", "32768")),
        match=",".join(match),
        actions=_names(actions.strip()),
        cookie=int(meta.get("cookie", "0"), 0),
        n_packets=int(meta["n_packets"]) if "n_packets" in meta else None,
        n_bytes=int(meta["n_bytes"]) if "n_bytes" in meta else None,
    )


def parse_dump(text: str) -> list[FlowEntry]:
    """Flows of ``ovs-ofctl dump-flows`` output (reply headers and blank lines skipped)."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("OFPST_", "NXST_", "OFPT_")) or "actions=" not in s:
            continue
        out.append(parse_flow(s))
    return out


def sort_key(flow: FlowEntry) -> tuple:
    return (table_id(flow.table) if flow.table in TABLES else 999, -flow.priority, flow.match, flow.actions)


def render_flows(flows: Iterable[FlowEntry], names: bool = True) -> str:
    """Flows as a flow file, one per line, in table order then descending priority."""
    return "".join(f.text(names) + "\n" for f in sorted(flows, key=sort_key))


__all__ = ["FlowEntry", "parse_flow", "parse_dump", "render_flows", "sort_key"]
