"""What every handler works on: the store, the authenticator, the clock and a few settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labkit.nsx.manager.auth import Authenticator
from labkit.nsx.manager.store import ObjectStore

# NSX 4.2.1 reports node_version 4.2.1.0.0.<build>; clients read it to decide which fields they
# may send (nsx.md §10), so the mock claims a release that has every field it accepts.
DEFAULT_NODE_VERSION = "4.2.1.0.0.24304122"


@dataclass
class ManagerState:
    store: ObjectStore
    auth: Authenticator
    node_version: str = DEFAULT_NODE_VERSION
    clock: Callable[[], float] = time.time
    # Called after a committed request changed the principal identities, so the TLS layer can
    # trust the new client certificates (set by the server).
    on_trust_changed: Callable[[], None] = lambda: None
    trust_changed: bool = field(default=False, repr=False)

    def now_ms(self) -> int:
        """NSX timestamps (``_create_time`` ...) are epoch milliseconds."""
        return int(self.clock() * 1000)
