"""The Backend protocol: what every backend (sim, ovs, kind) does for a Lab.

The Lab owns the cluster state and the compiled policy set; a backend *realizes* them (nothing to
do for sim; OVS flows for ovs; manifests applied to a real cluster for kind) and *observes*
(reachability, traceflow, flows). What a backend cannot do it refuses with
:class:`~labkit.errors.UnsupportedOperation`, naming a backend that can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import UnsupportedOperation

if TYPE_CHECKING:  # pragma: no cover
    from ..model.cluster import ClusterState
    from ..policy.compiler import PolicySet
    from ..policy.probe import Probe
    from ..policy.reachability import Reachability


@runtime_checkable
class Backend(Protocol):
    name: str

    def start(self, state: "ClusterState", policy_set: "PolicySet") -> None:
        """Bring up the cluster described by ``state`` and enforce ``policy_set``."""

    def stop(self) -> None:
        """Tear everything down; idempotent; never raises for what is already gone."""

    def sync(self, state: "ClusterState", policy_set: "PolicySet", manifests: list[dict]) -> None:
        """Realize a changed state (after apply/delete); ``manifests`` are the raw objects changed."""

    def reachability(self, state: "ClusterState", policy_set: "PolicySet", probe: "Probe",
                     sources: list[str], destinations: list[str]) -> "Reachability":
        """Verdicts for ``probe`` between pods: computed (sim) or measured (ovs, kind)."""


def unsupported(backend: str, what: str, alternatives: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"the {backend} backend cannot {what}; use {alternatives}")
