"""labkit: see Antrea (and NSX) secure Kubernetes workloads, in a notebook.

The public API is what ``__all__`` lists; everything else is internal and may change.
"""

from .errors import (
    BackendUnavailable,
    CheckFailed,
    CommandError,
    ConflictError,
    LabkitError,
    LabStateError,
    ManifestError,
    NotFoundError,
    Problem,
    UnsupportedOperation,
)
from .lab import BACKENDS, Lab, ovs_available
from .policy.diff import PolicyDiff
from .policy.probe import Probe
from .policy.reachability import Decision, Explanation, Reachability
from .policy.traceflow import Traceflow

__version__ = "0.1.0"

__all__ = [
    "Lab",
    "BACKENDS",
    "ovs_available",
    "Reachability",
    "PolicyDiff",
    "Traceflow",
    "Explanation",
    "Decision",
    "Probe",
    "LabkitError",
    "ManifestError",
    "Problem",
    "NotFoundError",
    "ConflictError",
    "BackendUnavailable",
    "UnsupportedOperation",
    "LabStateError",
    "CommandError",
    "CheckFailed",
    "__version__",
]
