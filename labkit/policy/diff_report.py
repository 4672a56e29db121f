"""A PolicyDiff as text: a terminal table and GitHub-flavoured Markdown (for pull-request comments).

Both start with the counts per kind of change, then the namespace pairs, then the first rows;
the full list is ``PolicyDiff.to_frame()`` (or ``labkit diff -o csv``). GitHub caps a comment at
65,536 characters, so the Markdown lists at most ``max_rows`` connections, inside a collapsed
``<details>`` block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .diff import CHANGES

if TYPE_CHECKING:  # pragma: no cover
    from .diff import PolicyDiff

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


__all__ = ["headline", "to_text", "to_markdown"]
