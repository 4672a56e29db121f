"""The ``kind`` backend: labs on a real Kubernetes cluster running real Antrea.

Modules (each readable in one sitting):

* :mod:`.tools`      the one subprocess boundary (docker, kind, kubectl: timeouts, CommandError), preflight
* :mod:`.kube`       the one Kubernetes API boundary (the official Python client): apply, delete, waits,
                     exec, watch
* :mod:`.cluster`    kind config, pinned versions, create/delete, Antrea install and wait, prefetch
* :mod:`.workloads`  the lab's state as manifests (agnhost pods as upstream netpol e2e), sync plan
* :mod:`.probe`      exec ``/agnhost connect`` probes in parallel, verdicts
* :mod:`.traceflow_crd` Traceflow CRs: render, create, watch, parse the observations
* :mod:`.flows`      Flow Exporter / Flow Aggregator configs, labkit's IPFIX collector for them
* :mod:`.encryption` ``trafficEncryptionMode`` edits, the IPsec PSK Secret, tcpdump captures on a Node
* :mod:`.backend`    :class:`KindBackend` (modes ``kind`` and ``k8s``)

Importing this package needs no Docker, kind, kubectl or Kubernetes client; they are looked for
when a lab starts.
"""

from .backend import KindBackend, KindExplanation, PolicyEvaluation
from .cluster import ProgressEvent, prefetch, sweep
from .tools import PreflightReport, preflight

__all__ = ["KindBackend", "KindExplanation", "PolicyEvaluation", "ProgressEvent", "prefetch", "sweep", "preflight",
           "PreflightReport"]
