"""Who is calling: HTTP Basic for ``admin``, client certificates for principal identities, sessions.

Reproduced NSX behaviour:

- Basic auth with the local ``admin`` user. Wrong credentials answer **403** with error_code 403
  "The credentials were incorrect or the account specified has been locked." (vmware-nsxlib
  v3/client.py maps 403/403 to InvalidCredentials; NSX has no separate 401 for a bad password).
  A request that carries no credentials at all answers 401 with ``WWW-Authenticate: Basic`` so
  that standard clients (urllib's HTTPBasicAuthHandler, browsers) know to send them.
- Principal identities (PI) authenticate with the client certificate registered through
  ``POST /api/v1/trust-management/principal-identities/with-certificate``; the TLS peer
  certificate is matched by SHA-256 fingerprint (nsx.md §2.2, §10). A certificate the TLS layer
  accepted but no PI owns answers 403.
- Session auth: ``POST /api/session/create`` (form ``j_username``/``j_password``) sets a
  ``JSESSIONID`` cookie and answers an ``X-XSRF-TOKEN`` header, which must accompany every
  session request that changes something (nsx.md §10; 403/98 BadXSRFToken otherwise).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from urllib.parse import parse_qs

from labkit.nsx.manager import paths
from labkit.nsx.manager.certs import der_fingerprint, parse_certificate
from labkit.nsx.manager.errors import CertificateError, ErrorCode, NSXApiError
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.principal import ADMIN, ADMIN_USER, Principal
from labkit.nsx.manager.store import ObjectStore

BAD_CREDENTIALS = "The credentials were incorrect or the account specified has been locked."


class Authenticator:
    """Checks credentials against the admin password and the PIs stored in ``store``."""

    def __init__(self, store: ObjectStore, admin_password: str) -> None:
        self._store = store
        self._admin_password = admin_password
        self._sessions: dict[str, tuple[Principal, str]] = {}
        self._by_fingerprint: dict[str, Principal] = {}
        self._lock = threading.Lock()
        self.reload()

    def reload(self) -> None:
        """Re-read the PI certificates (after a PI was created or deleted)."""
        table: dict[str, Principal] = {}
        for pi in self._store.list(paths.PRINCIPAL_IDENTITIES):
            pem = _certificate_pem(self._store, pi)
            if not pem:
                continue
            try:
                info = parse_certificate(pem)
            except CertificateError:
                continue
            table[info.fingerprint_sha256] = Principal(
                pi["name"], "principal_identity", pi.get("node_id", "")
            )
        with self._lock:
            self._by_fingerprint = table

    def trusted_pems(self) -> list[str]:
        """PEMs of every PI certificate: the TLS layer must accept them as client certificates."""
        pems = []
        for pi in self._store.list(paths.PRINCIPAL_IDENTITIES):
            pem = _certificate_pem(self._store, pi)
            if pem:
                pems.append(pem)
        return pems

    def authenticate(self, req: Request, peer_cert_der: bytes | None) -> Principal:
        """The principal behind ``req``, or NSXApiError 401/403."""
        if peer_cert_der:
            with self._lock:
                pi = self._by_fingerprint.get(der_fingerprint(peer_cert_der))
            if pi is not None:
                return pi
        session = _cookie(req.header("Cookie"), "JSESSIONID")
        if session:
            with self._lock:
                found = self._sessions.get(session)
            if found is None:
                raise NSXApiError(
                    403, BAD_CREDENTIALS, error_code=ErrorCode.INVALID_CREDENTIALS,
                    hint="the session expired or the manager restarted: POST /api/session/create again",
                )
            principal, xsrf = found
            if req.method not in ("GET", "HEAD") and not hmac.compare_digest(
                req.header("X-XSRF-TOKEN"), xsrf
            ):
                raise NSXApiError(
                    403,
                    "Bad XSRF token",
                    error_code=ErrorCode.BAD_XSRF_TOKEN,
                    hint="send the X-XSRF-TOKEN header that /api/session/create answered",
                )
            return principal
        authorization = req.header("Authorization")
        if authorization:
            return self._basic(authorization)
        if peer_cert_der:
            raise NSXApiError(
                403,
                "The client certificate is not registered to any principal identity.",
                error_code=ErrorCode.INVALID_CREDENTIALS,
                hint="register it with POST /api/v1/trust-management/principal-identities/"
                "with-certificate (as admin)",
            )
        raise NSXApiError(
            401,
            "Authentication required: send HTTP Basic credentials, a session cookie or a "
            "principal identity's client certificate.",
            error_code=ErrorCode.UNAUTHENTICATED,
        )

    def _basic(self, authorization: str) -> Principal:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise NSXApiError(403, BAD_CREDENTIALS, error_code=ErrorCode.INVALID_CREDENTIALS)
        try:
            user, _, password = base64.b64decode(token.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NSXApiError(
                403, BAD_CREDENTIALS, error_code=ErrorCode.INVALID_CREDENTIALS
            ) from None
        return self.check_password(user, password)

    def check_password(self, user: str, password: str) -> Principal:
        if user == ADMIN_USER and hmac.compare_digest(password, self._admin_password):
            return ADMIN
        raise NSXApiError(403, BAD_CREDENTIALS, error_code=ErrorCode.INVALID_CREDENTIALS)

    # -- sessions ----------------------------------------------------------------------------
    def create_session(self, req: Request) -> Response:
        """``POST /api/session/create``: form ``j_username``, ``j_password``."""
        form = parse_qs(req.body.decode("utf-8", "replace"))
        user = (form.get("j_username") or [""])[0]
        password = (form.get("j_password") or [""])[0]
        principal = self.check_password(user, password)
        session, xsrf = secrets.token_hex(16), secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session] = (principal, xsrf)
        return Response(
            200,
            None,
            {
                "Set-Cookie": f"JSESSIONID={session}; Path=/; Secure; HttpOnly",
                "X-XSRF-TOKEN": xsrf,
            },
        )

    def destroy_session(self, req: Request) -> Response:
        session = _cookie(req.header("Cookie"), "JSESSIONID")
        with self._lock:
            self._sessions.pop(session, None)
        return Response(200, None, {"Set-Cookie": "JSESSIONID=; Path=/; Max-Age=0"})


def _certificate_pem(store: ObjectStore, pi: dict) -> str:
    cert_id = pi.get("certificate_id")
    if not cert_id:
        return ""
    cert = store.get(f"{paths.CERTIFICATES}/{cert_id}")
    return cert.get("pem_encoded", "") if cert else ""


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""
