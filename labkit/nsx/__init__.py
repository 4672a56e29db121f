"""labkit's NSX Manager mock: a real HTTPS server with the NSX APIs Antrea interworking uses.

Public surface::

    NSXManagerServer(state_dir, host="127.0.0.1", port=0, admin_password=..., tls=True)
    NSXClient(base_url, username=..., password=..., cert_path=..., key_path=..., ca_path=...)
    serve(argv) -> int                      # `labkit nsx serve`
    NSXError, NSXApiError, NSXUnreachable, CertificateError, ErrorCode
    ensure_ca, issue_client_cert, self_signed_client_cert, parse_certificate, CertKeyPair

    start_nsx(lab) -> (server, adapter)     # a mock NSX Manager and the interworking adapter for a lab
    NSXAdapter(lab, admin_client_or_url, cluster_name=...)

Routes, conventions and what is not reproduced: docs/nsx-mock.md; the adapter: docs/nsx-adapter.md.
"""

from labkit.nsx.certs import (
    CertKeyPair,
    ensure_ca,
    issue_client_cert,
    parse_certificate,
    self_signed_client_cert,
)
from labkit.nsx.client import NSXClient
from labkit.nsx.errors import CertificateError, ErrorCode, NSXApiError, NSXError, NSXUnreachable
from labkit.nsx.interworking import NSXAdapter
from labkit.nsx.lab import start_nsx
from labkit.nsx.server import DEFAULT_ADMIN_PASSWORD, NSXManagerServer, serve

__all__ = [
    "NSXManagerServer",
    "NSXClient",
    "serve",
    "NSXAdapter",
    "start_nsx",
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
