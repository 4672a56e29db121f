"""``LabSession``: the one place widgets learn that a lab changed.

The Lab has no event hooks (yet). Widgets that change the lab (the policy editor, a notebook
cell) and widgets that show it (matrix, topology, traceflow) must still agree, so the session is
a tiny observer: a traitlet ``generation`` that mirrors ``lab.state.generation`` (which the
cluster store bumps on every apply, delete and relabel). Views ``observe`` it.

Changes reach the session in two ways:

* through the session itself (``session.apply`` / ``delete`` / ``label``), which the editor uses;
* through plain ``lab.apply(...)`` in a notebook cell: after every cell IPython fires
  ``post_run_cell`` and the session polls the generation. No thread, no timer.

Widgets are views: the session forwards to the Lab and never changes state on its own.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Callable

import traitlets

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab
    from ..model.cluster import ApplyResult

_sessions: "weakref.WeakKeyDictionary[Lab, LabSession]" = weakref.WeakKeyDictionary()


class LabSession(traitlets.HasTraits):
    """Shares one Lab between widgets and tells them when its state changed."""

    generation = traitlets.Int(-1, help="lab.state.generation last seen; observe it to refresh")

    def __init__(self, lab: "Lab", watch_cells: bool = True) -> None:
        super().__init__()
        self.lab = lab
        self.generation = lab.state.generation
        self._shell: Any = None
        _sessions.setdefault(lab, self)  # widgets given the bare Lab share this session
        if watch_cells:
            self._watch_cells()

    # ------------------------------------------------------------------ changes (forwarded to the Lab)

    def apply(self, manifest: Any) -> "ApplyResult":
        try:
            return self.lab.apply(manifest)
        finally:
            self.poll()

    def delete(self, what: Any, ignore_not_found: bool = False) -> list:
        try:
            return self.lab.delete(what, ignore_not_found=ignore_not_found)
        finally:
            self.poll()

    def label(self, target: str, **labels: str | None) -> None:
        try:
            self.lab.label(target, **labels)
        finally:
            self.poll()

    # ------------------------------------------------------------------ notification

    def poll(self) -> bool:
        """Publish the lab's generation if it moved; True when observers were notified."""
        current = self.lab.state.generation
        if current == self.generation:
            return False
        self.generation = current  # traitlets notifies every observer of "generation"
        return True

    def subscribe(self, callback: Callable[[], None]) -> Callable[[dict], None]:
        """Call ``callback()`` after every change; returns the handler (for :meth:`unsubscribe`)."""
        def handler(change: dict) -> None:
            callback()

        self.observe(handler, names="generation")
        return handler

    def unsubscribe(self, handler: Callable[[dict], None]) -> None:
        self.unobserve(handler, names="generation")

    def _watch_cells(self) -> None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython ships with ipywidgets
            return
        shell = get_ipython()
        if shell is None:
            return
        self._shell = shell
        shell.events.register("post_run_cell", self._after_cell)

    def _after_cell(self, *_: Any) -> None:
        self.poll()

    def close(self) -> None:
        """Stop watching notebook cells (idempotent)."""
        if self._shell is not None:
            try:
                self._shell.events.unregister("post_run_cell", self._after_cell)
            except ValueError:
                pass
            self._shell = None

    def __repr__(self) -> str:
        return f"<LabSession lab={self.lab.name!r} generation={self.generation}>"


def session_for(lab_or_session: "Lab | LabSession") -> LabSession:
    """The session shared by every widget of this lab (created on first use)."""
    if isinstance(lab_or_session, LabSession):
        return lab_or_session
    session = _sessions.get(lab_or_session)
    if session is None:
        session = LabSession(lab_or_session)
        _sessions[lab_or_session] = session
    return session


__all__ = ["LabSession", "session_for"]
