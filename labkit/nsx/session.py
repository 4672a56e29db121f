"""One call for notebooks, ``from labkit.nsx import start_nsx``: an NSX Manager mock and an
interworking adapter for a Lab, held together as an :class:`NSXSession`.

::

    nsx, adapter = start_nsx(lab)           # mock on 127.0.0.1 (ephemeral port), adapter not yet registered
    adapter.register()
    ...
    nsx.stop()                               # stops the adapter too; or: with start_nsx(lab) as (nsx, adapter):

    nsx = start_nsx(lab, register=True)     # the session itself: the same, plus flows and the planner
    nsx.report_flows(lab.flows(run))        # a traffic run's records into NSX's flow view
    plan = nsx.plan_segmentation(lab.flows(run)); plan.preview(); plan.push()

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
from labkit.nsx.manager import NSXClient, NSXManagerServer
from labkit.nsx.planner import SegmentationPlan, plan_segmentation
from labkit.nsx.flow_view import flow_table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

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
        self._security: NSXClient | None = None  # the security admin's client, made on first use
        return self

    def stop(self) -> None:
        """Stop the adapter's loop and the server; remove a temporary state directory."""
        try:
            self.adapter.close()
            if self._security is not None:
                self._security.close()
        finally:
            self.server.stop()
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
                self._temp_dir = None
            _live.discard(self)

    # -- what notebooks call on the session (``nsx = start_nsx(lab, register=True)``) -------------
    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **options: Any) -> NSXClient:
        """An :class:`NSXClient` of the manager (admin by default; see ``NSXManagerServer.client``)."""
        return self.server.client(**options)

    def report_flows(self, flows: pd.DataFrame, *, label: str = "") -> dict[str, Any]:
        """Send a traffic run's flow records (``lab.flows(run)``) to NSX as the cluster, for its
        flow view and rule statistics (:meth:`NSXAdapter.report_flows`)."""
        return self.adapter.report_flows(flows, label=label)

    def flows(self, **filters: Any) -> pd.DataFrame:
        """The NSX flow view's records as a table (filters: ``report_id``, ``source_group``,
        ``destination_group``, ``action``, ``flow_type`` ...; docs/nsx-mock.md "Flows")."""
        return flow_table(self._admin().flows(container_cluster_id=self.adapter.cluster_id, **filters))

    def flow_summary(self, group_by: str = "group", **filters: Any) -> pd.DataFrame:
        """Counts per ``group_by`` (cluster, namespace, group, service, rule, talker) in NSX."""
        import pandas as pd

        answer = self._admin().flow_summary(group_by, container_cluster_id=self.adapter.cluster_id, **filters)
        return pd.DataFrame(answer["results"])

    def plan_segmentation(self, flows: pd.DataFrame, **options: Any) -> SegmentationPlan:
        """Plan NSX groups and one DFW policy from observed flows; nothing is written until
        ``plan.push()`` (:func:`labkit.nsx.planner.plan_segmentation` for the options)."""
        return plan_segmentation(flows, client=self._admin(), adapter=self.adapter, **options)

    def _admin(self) -> NSXClient:
        if self._security is None:
            self._security = self.server.client()
        return self._security

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
