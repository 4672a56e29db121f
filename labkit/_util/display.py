"""Show HTML in a notebook when IPython is there; do nothing elsewhere (CLI, plain scripts)."""

from __future__ import annotations


def show_html(html: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython ships with the lab extras
        return
    display(HTML(html))
