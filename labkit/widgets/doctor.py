"""Which backends can run here, and why not: the course's environment check.

A view over :func:`labkit.doctor.backend_status` (what ``labkit doctor`` prints). Nothing here starts
a lab.
"""

from __future__ import annotations

import platform


def backends():
    """DataFrame: backend, available (bool), detail (what is missing and how to get it)."""
    import pandas as pd

    from .._util.display import full_text
    from ..doctor import backend_status

    return full_text(pd.DataFrame([vars(status) for status in backend_status()],
                                  columns=["backend", "available", "detail"]))


def environment() -> dict[str, str]:
    """Versions a trainer asks for first when a notebook misbehaves."""
    import ipywidgets

    from .. import __version__

    return {"python": platform.python_version(), "labkit": __version__, "ipywidgets": ipywidgets.__version__,
            "platform": platform.platform(terse=True)}


__all__ = ["backends", "environment"]
