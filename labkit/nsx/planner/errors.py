"""The planner's one error type (a branch of labkit.nsx's tree).

::

    LabkitError
     └── NSXError                   (labkit.nsx.manager.errors)
          ├── NSXApiError / NSXUnreachable / CertificateError   what the client raises
          ├── AdapterError          (labkit.nsx.interworking)
          └── PlanError             a segmentation plan that cannot be made or pushed (no flows,
                                    a cluster not registered, options that do not fit)
"""

from __future__ import annotations

from labkit.nsx.manager.errors import NSXError


class PlanError(NSXError):
    """A micro-segmentation plan cannot be made or pushed; the message says how to fix it."""


__all__ = ["PlanError"]
