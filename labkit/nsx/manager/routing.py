"""The route table mechanism of the NSX mock: Route and Router (no I/O here).

A route is ``Route("PUT", "/policy/api/v1/infra/domains/{domain}/groups/{group_id}", handler)``;
``{name}`` matches one path segment (percent-decoded) and is passed in ``Request.params``. The
table itself is declared, in order, in :mod:`labkit.nsx.manager.api`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from labkit.nsx.manager.errors import ErrorCode, NSXApiError
from labkit.nsx.manager.messages import Request, Response

if TYPE_CHECKING:
    from labkit.nsx.manager.state import ManagerState


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
