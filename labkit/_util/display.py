"""Show HTML in a notebook when IPython is there; do nothing elsewhere (CLI, plain scripts)."""

from __future__ import annotations


def show_html(html: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython ships with the lab extras
        return
    display(HTML(html))


def full_text(frame):
    """``frame`` as a DataFrame whose notebook display never cuts a cell short.

    pandas' HTML display shortens every text cell to ``display.max_colwidth`` (50) characters with
    "...", which cut the "detail" of ``labkit.widgets.backends()`` and the cells of 07's
    ``exercises.limits()`` mid-sentence; changing the option for the whole kernel would change the
    learner's own tables too. The returned frame is a subclass that lifts the limit for itself only
    (operations on it keep the subclass, pandas' ``_constructor`` protocol); it is a DataFrame in
    every other way.
    """
    return _full_text_class()(frame)


_FULL_TEXT = None


def _full_text_class():
    global _FULL_TEXT
    if _FULL_TEXT is None:
        import pandas as pd

        class FullTextFrame(pd.DataFrame):
            @property
            def _constructor(self):
                return FullTextFrame

            def _repr_html_(self):
                with pd.option_context("display.max_colwidth", None):
                    return super()._repr_html_()

        _FULL_TEXT = FullTextFrame
    return _FULL_TEXT
