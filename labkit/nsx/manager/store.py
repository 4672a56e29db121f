"""SQLite persistence for the NSX mock: JSON objects keyed by path, plus named counters.

NSX itself is a store of JSON objects addressed by path (nsx.md §9 points at vmware-nsxlib's
``MockRequestSessionApi`` as the closest model); this is that store, made durable. One table holds
every object (``key`` = NSX path or item URL, ``collection`` = the list it shows up in); another
holds counters (the rule_id sequence, the policy generation).

Thread safety: one connection guarded by a re-entrant lock. ``transaction()`` holds the lock for
the whole block, so a request's reads and writes (revision check, then write) are atomic and
requests are serialized; a block that raises is rolled back.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labkit.errors import LabStateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_collection ON objects (collection);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


class ObjectStore:
    """Durable JSON objects by key. ``path`` may be ``":memory:"`` for a throw-away store."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise LabStateError(
                f"NSX mock store {self.path}: cannot open the SQLite database ({exc}); "
                "delete the file (the mock then starts empty) or point --state-dir elsewhere"
            ) from exc

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[ObjectStore]:
        """Hold the lock; the outermost block commits, or rolls back if it raises."""
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._db.execute("COMMIT")

    # -- objects ------------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM objects WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, body: dict[str, Any], collection: str | None = None) -> None:
        """Insert or replace; ``collection`` defaults to the key up to its last ``/``."""
        coll = collection if collection is not None else key.rsplit("/", 1)[0]
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO objects (key, collection, body) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET collection = excluded.collection, body = excluded.body",
                (key, coll, text),
            )

    def delete(self, key: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM objects WHERE key = ?", (key,))
        return cur.rowcount > 0

    def delete_tree(self, key: str) -> int:
        """Delete ``key`` and every object whose key starts with ``key + '/'``."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM objects WHERE key = ? OR substr(key, 1, ?) = ?",
                (key, len(key) + 1, key + "/"),
            )
        return cur.rowcount

    def list(self, collection: str) -> list[dict[str, Any]]:
        """Objects of one collection, in key order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM objects WHERE collection = ? ORDER BY key", (collection,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def items_under(self, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        """``(key, body)`` of every object whose key starts with ``prefix``, in key order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, body FROM objects WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            ).fetchall()
        return [(k, json.loads(b)) for k, b in rows]

    # -- counters -----------------------------------------------------------------------------
    def next_value(self, name: str, start: int = 1) -> int:
        """Increment counter ``name`` (first value ``start``) and return the new value."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            value = start if row is None else int(row[0]) + 1
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
        return value

    def counter(self, name: str, default: int = 0) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return default if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
