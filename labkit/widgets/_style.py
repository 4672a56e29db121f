"""Colours, glyphs and tiny HTML helpers shared by the widgets.

Verdict colours are the Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008), the same as
``Reachability._repr_html_``, and every colour comes with a glyph so the matrix also reads in
greyscale and for colour-blind learners.
"""

from __future__ import annotations

import html

# verdict -> (background, text colour, glyph). Orange takes black text: white on #E69F00 is unreadable.
VERDICT_STYLE: dict[str, tuple[str, str, str]] = {
    "allow": ("#009E73", "white", "✓"),   # bluish green
    "drop": ("#D55E00", "white", "✗"),    # vermillion
    "reject": ("#E69F00", "black", "⊘"),  # orange
}
ACCENT = "#0072B2"        # Okabe-Ito blue: selection, highlights, differences
ACCENT_LIGHT = "#56B4E9"  # Okabe-Ito sky blue
MUTED = "#DDDDDD"
ERROR = "#D55E00"
OK = "#009E73"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def badge(verdict: str) -> str:
    bg, fg, glyph = VERDICT_STYLE.get(verdict, (MUTED, "black", "?"))
    return (f"<span style='background:{bg};color:{fg};padding:1px 6px;border-radius:3px;"
            f"font-weight:600;white-space:nowrap'>{glyph} {esc(verdict)}</span>")


def frame_html(frame, empty: str = "none") -> str:
    """A small DataFrame as an HTML table (no index), or ``empty`` in italics."""
    if frame is None or len(frame) == 0:
        return f"<i>{esc(empty)}</i>"
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td style='padding:2px 8px'>{esc('' if _isna(v) else v)}</td>" for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table style='border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}</table>"


def _isna(value: object) -> bool:
    try:
        return value is None or value != value  # NaN != NaN
    except Exception:  # noqa: BLE001 - arrays and other oddities are not NaN
        return False
