"""Who made an API call: the NSX local ``admin`` user or a principal identity (nsx.md §2.1).

Kept apart from :mod:`labkit.nsx.manager.auth` (which decides who is calling) so that the request
type (:mod:`labkit.nsx.manager.messages`) can name the caller without importing the authenticator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ADMIN_USER = "admin"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. For a PI, ``name`` is the PI name (== cert CN == cluster name)."""

    name: str
    kind: Literal["user", "principal_identity"] = "user"
    node_id: str = ""

    @property
    def is_principal_identity(self) -> bool:
        return self.kind == "principal_identity"


ADMIN = Principal(ADMIN_USER)
