"""Which backends can run on this machine, and what to install for the others (``labkit doctor``)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from .lab import ovs_available


@dataclass(frozen=True)
class BackendStatus:
    backend: str
    available: bool
    detail: str


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def backend_status() -> list[BackendStatus]:
    out = [BackendStatus("sim", True, "pure Python reference semantics; runs everywhere (Binder, laptops, CI)")]
    ok, why = ovs_available()
    if ok and not _module_present("labkit.backends.ovs"):
        ok, why = False, "this labkit installation has no ovs backend (labkit/backends/ovs)"
    out.append(BackendStatus("ovs", ok, "root and Open vSwitch found" if ok else why))
    if not _module_present("labkit.backends.kind"):
        out.append(BackendStatus("kind", False, "this labkit installation has no kind backend (labkit/backends/kind)"))
    else:
        out.append(_kind_status())
    return out


def _kind_status() -> BackendStatus:
    """The kind backend's own pre-flight (the checks a lab runs before it starts), in one line:
    what is missing here and where the fixes are; ``labkit doctor -v`` prints every check."""
    from .backends.kind import preflight

    report = preflight("kind")
    if report.ok:
        return BackendStatus("kind", True, "Docker engine, kind, kubectl, openvswitch module and memory OK")
    missing = "; ".join(f"{c.name}: {c.message}" for c in report.problems)
    return BackendStatus("kind", False, f"missing here: {missing} ('labkit doctor -v' says how to fix each)")
