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
WARN = "#B06000"  # a darker Okabe-Ito orange: readable as text on white


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def badge(verdict: str) -> str:
    bg, fg, glyph = VERDICT_STYLE.get(verdict, (MUTED, "black", "?"))
    return (f"<span style='background:{bg};color:{fg};padding:1px 6px;border-radius:3px;"
            f"font-weight:600;white-space:nowrap'>{glyph} {esc(verdict)}</span>")


def frame_html(frame, empty: str = "none", max_rows: int | None = None, classes: str = "") -> str:
    """A DataFrame as an HTML table (no index), or ``empty`` in italics: the one table style of the
    widgets (a widget's HTML gets none of JupyterLab's output-area table styles, so ``to_html()``
    there looks like a 1990s grid). At most ``max_rows`` rows, with a note saying how many."""
    if frame is None or len(frame) == 0:
        return f"<i>{esc(empty)}</i>"
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for _, row in shown.iterrows():
        cells = "".join(f"<td>{esc('' if _isna(v) else v)}</td>" for v in row)
        rows.append(f"<tr>{cells}</tr>")
    more = (f"<div style='color:#555'>showing {len(shown)} of {len(frame)} rows</div>"
            if len(shown) < len(frame) else "")
    return (f"{TABLE_CSS}<table class='labkit-table{(' ' + esc(classes)) if classes else ''}'><tr>{head}</tr>"
            f"{''.join(rows)}</table>{more}")


# One stylesheet for the widgets' tables, repeated with each (a widget's HTML is its own island).
TABLE_CSS = ("<style>.labkit-table{border-collapse:collapse;font-size:12px}"
             ".labkit-table th{text-align:left;padding:2px 8px;border-bottom:1px solid #999}"
             ".labkit-table td{padding:2px 8px}</style>")


def _isna(value: object) -> bool:
    try:
        return value is None or bool(value != value)  # NaN != NaN
    except TypeError:  # pandas' NA (nullable columns) has no truth value: it is missing
        return True
    except Exception:  # noqa: BLE001 - arrays and other oddities are not NaN
        return False
