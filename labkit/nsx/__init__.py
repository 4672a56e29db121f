"""NSX for labkit: an NSX Manager mock, the Antrea-NSX interworking adapter, and one call that
starts both for a ``Lab``.

::

    from labkit.nsx import start_nsx
    nsx, adapter = start_nsx(lab)           # an NSXSession: (NSXManagerServer, NSXAdapter)

Packages: :mod:`labkit.nsx.manager` (the mock: HTTPS server, Policy/MP API, SQLite store,
OpenAPI, console page, flow collector and flow view, client; standalone, ``labkit nsx serve``),
:mod:`labkit.nsx.interworking` (the adapter: drives a ``Lab``, talks to the manager only over
HTTPS through ``NSXClient``), :mod:`labkit.nsx.planner` (micro-segmentation planned from flows,
an NSX client too) and :mod:`labkit.nsx.session` (``start_nsx``). Docs: docs/nsx-mock.md,
docs/nsx-adapter.md, docs/nsx-planner.md.

Importing this package is light: the names below are loaded on first use (PEP 562), so
``import labkit.nsx`` pulls in neither the server nor ``cryptography`` nor the lab.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from labkit.nsx.interworking import AdapterError, NSXAdapter
    from labkit.nsx.manager import NSXApiError, NSXClient, NSXError, NSXManagerServer
    from labkit.nsx.planner import PlanError, SegmentationPlan
    from labkit.nsx.session import NSXSession, start_nsx

# public name -> the module that defines it
_EXPORTS = {
    "start_nsx": "labkit.nsx.session",
    "NSXSession": "labkit.nsx.session",
    "NSXManagerServer": "labkit.nsx.manager",
    "NSXClient": "labkit.nsx.manager",
    "NSXError": "labkit.nsx.manager",
    "NSXApiError": "labkit.nsx.manager",
    "NSXAdapter": "labkit.nsx.interworking",
    "AdapterError": "labkit.nsx.interworking",
    "SegmentationPlan": "labkit.nsx.planner",
    "PlanError": "labkit.nsx.planner",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labkit.nsx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
