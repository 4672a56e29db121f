"""Request, Response and the route table mechanism of the NSX mock (no I/O here).

A route is ``Route("PUT", "/policy/api/v1/infra/domains/{domain}/groups/{group_id}", handler)``;
``{name}`` matches one path segment (percent-decoded) and is passed in ``Request.params``. The
table itself is declared, in order, in :mod:`labkit.nsx.api`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from labkit.nsx.errors import ErrorCode, NSXApiError

if TYPE_CHECKING:
    from labkit.nsx.auth import Principal
    from labkit.nsx.state import ManagerState


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


Handler = Callable[["ManagerState", Request], "Response | dict[str, Any] | None"]


@dataclass(frozen=True)
class Route:
    """``method`` + ``template`` -> ``handler``. ``public`` routes need no credentials."""

    method: str
    template: str
    handler: Handler
    public: bool = False
    module_name: str = ""

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "_regex", re.compile(f"^{pattern}/?$"))
        if not self.module_name:
            module = "policy" if self.template.startswith("/policy/") else "common-services"
            object.__setattr__(self, "module_name", module)

    def match(self, path: str) -> dict[str, str] | None:
        m = self._regex.match(path)  # type: ignore[attr-defined]
        if m is None:
            return None
        return {k: unquote(v) for k, v in m.groupdict().items()}


class Router:
    """First matching route wins; a path that matches only with another method answers 405."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        if allowed:
            raise NSXApiError(
                405,
                f"{method} is not supported on {path}; allowed: {', '.join(sorted(set(allowed)))}",
                error_code=ErrorCode.NOT_ALLOWED,
                module_name="policy" if path.startswith("/policy/") else "common-services",
            )
        raise NSXApiError(
            404,
            f"The requested URI: {path} could not be found.",
            error_code=ErrorCode.NOT_FOUND,
            hint="labkit's NSX mock serves the routes listed in docs/nsx-mock.md",
        )
