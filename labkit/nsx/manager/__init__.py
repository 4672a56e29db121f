"""labkit's NSX Manager mock: a real HTTPS server with the NSX APIs Antrea interworking uses.

Standalone: it knows nothing of ``Lab`` or the backends and imports nothing of labkit but
:mod:`labkit.errors` (an import-linter contract in pyproject.toml keeps it so). ``labkit nsx serve``
runs it on its own; the interworking adapter (:mod:`labkit.nsx.interworking`) reaches it only over
HTTPS through :class:`NSXClient`.

Public surface::

    NSXManagerServer(state_dir, host="127.0.0.1", port=0, admin_password=..., tls=True)
    NSXClient(base_url, username=..., password=..., cert_path=..., key_path=..., ca_path=...)
    serve(argv) -> int                      # `labkit nsx serve`
    NSXError, NSXApiError, NSXUnreachable, CertificateError, ErrorCode
    ensure_ca, issue_client_cert, self_signed_client_cert, parse_certificate, CertKeyPair

Modules: :mod:`.server` (HTTPS), :mod:`.api` (the route table and dispatcher), :mod:`.routing`,
:mod:`.messages`, :mod:`.principal`, :mod:`.auth` (who is calling), :mod:`.store` (SQLite),
:mod:`.objects` (NSX object conventions), one module per API area (:mod:`.trust`, :mod:`.ccp`,
:mod:`.inventory_api`, :mod:`.groups`, :mod:`.services`, :mod:`.policies`, :mod:`.hapi`,
:mod:`.realization`, :mod:`.statistics_api`, :mod:`.traceflow_api`, :mod:`.node`, :mod:`.desired`),
:mod:`.openapi` and :mod:`.console_page`. Routes, conventions and what is not reproduced:
docs/nsx-mock.md.
"""

from labkit.nsx.manager.certs import (
    CertKeyPair,
    ensure_ca,
    issue_client_cert,
    parse_certificate,
    self_signed_client_cert,
)
from labkit.nsx.manager.client import NSXClient
from labkit.nsx.manager.errors import CertificateError, ErrorCode, NSXApiError, NSXError, NSXUnreachable
from labkit.nsx.manager.server import DEFAULT_ADMIN_PASSWORD, NSXManagerServer, serve

__all__ = [
    "NSXManagerServer",
    "NSXClient",
    "serve",
    "DEFAULT_ADMIN_PASSWORD",
    "NSXError",
    "NSXApiError",
    "NSXUnreachable",
    "CertificateError",
    "ErrorCode",
    "CertKeyPair",
    "ensure_ca",
    "issue_client_cert",
    "self_signed_client_cert",
    "parse_certificate",
]
