"""Which backends can run on this machine, and what to install for the others (``labkit doctor``)."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

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
        missing = [tool for tool in ("docker", "kind", "kubectl") if shutil.which(tool) is None]
        if "docker" not in missing and not Path("/var/run/docker.sock").exists():
            missing.append("a running Docker engine (/var/run/docker.sock)")
        out.append(BackendStatus("kind", not missing, "docker, kind and kubectl found" if not missing
                                 else "needs " + ", ".join(missing)))
    return out
