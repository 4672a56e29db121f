"""The adapter's one error type (a branch of labkit.nsx's tree).

::

    LabkitError
     └── NSXError                   (labkit.nsx.manager.errors)
          ├── NSXApiError / NSXUnreachable / CertificateError   what the client raises
          └── AdapterError          the adapter cannot do what was asked (not registered, a
                                    principal identity that belongs to another certificate ...)

Failures of NSX calls reach the caller as the client's NSXApiError/NSXUnreachable; problems of a
single policy never raise: they are reported to NSX as realization errors.
"""

from __future__ import annotations

from labkit.nsx.manager.errors import NSXError


class AdapterError(NSXError):
    """The interworking adapter cannot do what was asked; the message says how to fix it."""


__all__ = ["AdapterError"]
