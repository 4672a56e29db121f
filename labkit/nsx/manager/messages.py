"""One API call and its answer, as the NSX mock's handlers see them (no I/O here).

:class:`Request` is already authenticated (``principal``) and matched to a route (``params``) by
:mod:`labkit.nsx.manager.api`; a handler returns a :class:`Response` (or a dict, answered 200).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labkit.nsx.manager.errors import NSXApiError
from labkit.nsx.manager.principal import Principal


@dataclass
class Request:
    """One API call, already authenticated (``principal``) and matched (``params``)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    principal: Principal | None = None
    params: dict[str, str] = field(default_factory=dict)
    module_name: str = "common-services"
    _json: Any = field(default=None, repr=False)

    def header(self, name: str, default: str = "") -> str:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default

    def json(self) -> Any:
        """The JSON body (``{}`` when empty); 400 with the parser's position when malformed."""
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise NSXApiError(
                        400,
                        f"the request body is not valid JSON: {exc}",
                        module_name=self.module_name,
                        hint="send Content-Type: application/json with a JSON object",
                    ) from exc
        return self._json

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise NSXApiError(
                400,
                f"the request body must be a JSON object, got {type(body).__name__}",
                module_name=self.module_name,
            )
        return body

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter (``?cascade=true``)."""
        value = self.query.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no", ""):
            return False
        raise NSXApiError(
            400, f"query parameter {name}={value!r} must be true or false", module_name=self.module_name
        )

    @property
    def allow_overwrite(self) -> bool:
        """``X-Allow-Overwrite: true``: change an object another principal protects (nsx.md §2.1)."""
        return self.header("X-Allow-Overwrite").lower() == "true"


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
