"""One call for notebooks, ``from labkit.nsx import start_nsx``: an NSX Manager mock and an
interworking adapter for a Lab, held together as an :class:`NSXSession`.

::

    nsx, adapter = start_nsx(lab)           # mock on 127.0.0.1 (ephemeral port), adapter not yet registered
    adapter.register()
    ...
    nsx.stop()                               # stops the adapter too; or: with start_nsx(lab) as (nsx, adapter):

Without ``state_dir`` the mock keeps its state (SQLite, CA, certificates) in a temporary directory
that is removed when it stops; with one, a later ``start_nsx(lab, state_dir)`` finds the same
objects, CA and cluster certificate. Whatever is still running at interpreter exit is stopped
(a kernel restart must not leak a server or a thread).
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.nsx.interworking import NSXAdapter
from labkit.nsx.manager import NSXManagerServer

if TYPE_CHECKING:  # pragma: no cover
    from labkit.lab import Lab

# Handles still running (strong references: a running server is reachable anyway; stop() drops it).
_live: set[NSXSession] = set()


class NSXSession(tuple):
    """``(server, adapter)``, which also stops both (idempotent, also as a context manager)."""

    server: NSXManagerServer
    adapter: NSXAdapter

    def __new__(cls, server: NSXManagerServer, adapter: NSXAdapter, temp_dir: Path | None) -> NSXSession:
        self = super().__new__(cls, (server, adapter))
        self.server, self.adapter, self._temp_dir = server, adapter, temp_dir
        return self

    def stop(self) -> None:
        """Stop the adapter's loop and the server; remove a temporary state directory."""
        try:
            self.adapter.close()
        finally:
            self.server.stop()
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
                self._temp_dir = None
            _live.discard(self)

    def __enter__(self) -> NSXSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __hash__(self) -> int:  # set membership by identity, not by the tuple's contents
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


def start_nsx(lab: Lab, state_dir: str | Path | None = None, *, cluster_name: str | None = None,
              register: bool = False, **adapter_options: Any) -> NSXSession:
    """Start the NSX Manager mock and an :class:`NSXAdapter` for ``lab``; see the module docstring.

    ``adapter_options`` go to :class:`NSXAdapter` (``key_type="ec"`` makes registration faster
    than the documented RSA 2048). ``register=True`` also registers the cluster.
    """
    temp_dir = None if state_dir else Path(tempfile.mkdtemp(prefix=f"labkit-nsx-{lab.name}-"))
    root = Path(state_dir) if state_dir else temp_dir
    assert root is not None
    server = NSXManagerServer(root / "manager")
    try:
        server.start()
        name = cluster_name or f"labkit-{lab.name}"
        adapter_options.setdefault("cert_dir", root / "clusters" / name)
        adapter = NSXAdapter(lab, server.client(), cluster_name=name, ca_path=server.ca_path, **adapter_options)
        handle = NSXSession(server, adapter, temp_dir)
    except BaseException:
        server.stop()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    _live.add(handle)
    if register:
        try:
            adapter.register()
        except BaseException:
            handle.stop()
            raise
    return handle


@atexit.register
def _stop_all() -> None:
    for handle in list(_live):
        try:
            handle.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            logging.getLogger("labkit.nsx").debug("could not stop %r at exit", handle, exc_info=True)


__all__ = ["NSXSession", "start_nsx"]
