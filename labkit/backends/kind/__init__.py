"""The ``kind`` backend: labs on a real Kubernetes cluster running real Antrea.

Modules (each readable in one sitting):

* :mod:`.tools`      the one subprocess boundary (timeouts, CommandError), tool versions, preflight
* :mod:`.cluster`    kind config, pinned versions, create/delete, Antrea install and wait, prefetch
* :mod:`.workloads`  the lab's state as manifests (agnhost pods as upstream netpol e2e), sync plan
* :mod:`.probe`      ``kubectl exec ... /agnhost connect`` probes in parallel, verdicts
* :mod:`.traceflow`  Traceflow CRs: render, poll, parse the observations
* :mod:`.backend`    :class:`KindBackend` (modes ``kind`` and ``k8s``)

Importing this package needs no Docker, kind or kubectl; they are looked for when a lab starts.
"""

from .backend import KindBackend, KindExplanation, PolicyEvaluation
from .cluster import ProgressEvent, prefetch, sweep
from .tools import PreflightReport, preflight

__all__ = ["KindBackend", "KindExplanation", "PolicyEvaluation", "ProgressEvent", "prefetch", "sweep", "preflight",
           "PreflightReport"]
