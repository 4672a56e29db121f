"""Errors of the NSX mock and its client, and the NSX error codes the mock answers with.

::

    LabkitError                      (labkit.errors)
     └── NSXError                    anything labkit.nsx raises on purpose
          ├── NSXApiError            an NSX error answer: HTTP status + ApiError body. The mock's
          │                          handlers raise it (it becomes the response body) and
          │                          NSXClient raises it when the manager answers an error.
          ├── NSXUnreachable         NSXClient could not talk to the manager (refused, TLS, timeout)
          └── CertificateError       a PEM certificate or key that cannot be read

The body is NSX's ``ApiError`` (nsx.md §10): ``httpStatus``, ``error_code``, ``module_name``,
``error_message``, ``details``, ``related_errors[]``. Validation errors list every problem in
``related_errors`` (one ApiError each), so a learner sees all of them at once.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from labkit.errors import LabkitError


class ErrorCode:
    """``error_code`` values. Those marked *NSX* are what real NSX answers (source cited); those
    marked *labkit* are the mock's own choice where the real code is not public: they live in the
    990000 range so nobody mistakes them for NSX's."""

    # NSX: vmware-nsxlib v3/client.py maps 403 + error_code 403 to InvalidCredentials.
    INVALID_CREDENTIALS = 403
    # NSX: vmware-nsxlib v3/client.py maps 403 + error_code 98 to BadXSRFToken.
    BAD_XSRF_TOKEN = 98
    # NSX: 412 PRECONDITION_FAILED, error_code 206, module common-services, as answered to a PUT
    # with a stale _revision (cloudfoundry bosh-vsphere-cpi NSX-T provider spec fixture).
    STALE_REVISION = 206
    # NSX: vmware-nsxlib maps 400 + 500030 to ResourceInUse ("cannot be deleted as ... it is
    # being referenced by other objects").
    RESOURCE_IN_USE = 500030
    # NSX: vmware-nsxlib maps 400 + 500012 to NsxInvalidPath (a path that names nothing).
    INVALID_PATH = 500012
    # NSX (observed, not documented): 404 "The requested object ... could not be found".
    # Never 500090: clients read that code as a stale revision and retry (nsx.md §10).
    NOT_FOUND = 600
    # labkit: the rest.
    UNAUTHENTICATED = 990401
    BAD_REQUEST = 990400
    NOT_ALLOWED = 990405
    ALREADY_EXISTS = 990409
    PROTECTED_OBJECT = 990403
    INVALID_GROUP = 990410
    INVALID_POLICY = 990420
    CERTIFICATE_CONFLICT = 990430
    INTERNAL = 990500


class NSXError(LabkitError):
    """Base of every error labkit.nsx raises on purpose."""


class NSXApiError(NSXError):
    """An NSX error answer.

    ``status`` is the HTTP status; ``related_errors`` holds one NSXApiError per problem when a
    request has several (validation). ``where`` names the request (``PUT /policy/...``) on the
    client side; ``hint`` says how to fix it and is folded into ``error_message``.
    """

    def __init__(
        self,
        status: int,
        error_message: str,
        *,
        error_code: int = ErrorCode.BAD_REQUEST,
        module_name: str = "common-services",
        related_errors: list[NSXApiError] | None = None,
        details: str = "",
        hint: str = "",
        where: str = "",
    ) -> None:
        self.status = int(status)
        self.error_code = int(error_code)
        self.module_name = module_name
        self.error_message = f"{error_message} (fix: {hint})" if hint else error_message
        self.related_errors = list(related_errors or [])
        self.details = details
        self.where = where
        super().__init__(self._text())

    @property
    def http_status(self) -> str:
        """NSX's ``httpStatus`` string (``BAD_REQUEST``, ``PRECONDITION_FAILED`` ...)."""
        try:
            return HTTPStatus(self.status).name
        except ValueError:
            return str(self.status)

    def _text(self) -> str:
        head = f"NSX {self.status} {self.http_status} (error_code {self.error_code}"
        head += f", {self.module_name})" if self.module_name else ")"
        if self.where:
            head += f" on {self.where}"
        lines = [f"{head}: {self.error_message}"]
        lines += [f"  - {e.error_message}" for e in self.related_errors]
        return "\n".join(lines)

    def body(self) -> dict[str, Any]:
        """The ApiError JSON body the mock answers with."""
        out: dict[str, Any] = {
            "httpStatus": self.http_status,
            "error_code": self.error_code,
            "module_name": self.module_name,
            "error_message": self.error_message,
        }
        if self.details:
            out["details"] = self.details
        if self.related_errors:
            out["related_errors"] = [e._related_body() for e in self.related_errors]
        return out

    def _related_body(self) -> dict[str, Any]:
        body = self.body()
        body.pop("httpStatus", None)
        return body

    @classmethod
    def from_response(cls, status: int, raw: bytes, *, where: str = "") -> NSXApiError:
        """Rebuild the error from an answer; a body that is not ApiError JSON is kept as text."""
        try:
            data = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            data = {"error_message": raw.decode("utf-8", "replace").strip()[:500]}
        if not isinstance(data, dict):
            data = {"error_message": str(data)[:500]}
        related = [
            cls(
                status,
                str(r.get("error_message", "")),
                error_code=_as_int(r.get("error_code")),
                module_name=str(r.get("module_name", "")),
            )
            for r in data.get("related_errors") or []
            if isinstance(r, dict)
        ]
        message = data.get("error_message") or (HTTPStatus(status).phrase if _known(status) else "")
        return cls(
            status,
            str(message),
            error_code=_as_int(data.get("error_code")),
            module_name=str(data.get("module_name", "")),
            related_errors=related,
            details=str(data.get("details", "")),
            where=where,
        )


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _known(status: int) -> bool:
    try:
        HTTPStatus(status)
    except ValueError:
        return False
    return True


class NSXUnreachable(NSXError):
    """The client could not complete a request: connection refused, TLS failure, timeout."""


class CertificateError(NSXError):
    """A PEM certificate or private key that cannot be parsed or used."""


__all__ = ["NSXError", "NSXApiError", "NSXUnreachable", "CertificateError", "ErrorCode"]
