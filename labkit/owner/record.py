"""``<state>/owner.json``: who owns a lab (pid, control socket, Kubernetes API port, kubeconfig)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

RECORD = "owner.json"
SOCKET = "owner.sock"
LOG = "owner.log"
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


@dataclass(frozen=True)
class OwnerRecord:
    pid: int
    socket: str
    state_dir: str
    started: str
    kube_api_port: int = 0
    kubeconfig: str = ""

    def alive(self) -> bool:
        """Is the recorded process still there (and still a labkit owner)?"""
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            try:
                os.kill(self.pid, 0)
            except (ProcessLookupError, PermissionError):
                return False
            return True
        return b"owner-serve" in cmdline


def socket_path(state_dir: Path) -> Path:
    """``<state>/owner.sock``, or a short path under the runtime dir when that is too long for AF_UNIX."""
    path = state_dir / SOCKET
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp")
    return base / f"labkit-owner-{os.getuid()}-{digest}.sock"


def write_record(state_dir: Path, record: OwnerRecord) -> None:
    path = state_dir / RECORD
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1))
    tmp.replace(path)


def read_record(state_dir: str | os.PathLike) -> OwnerRecord | None:
    path = Path(state_dir) / RECORD
    try:
        data = json.loads(path.read_text())
        return OwnerRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove_record(state_dir: Path) -> None:
    (state_dir / RECORD).unlink(missing_ok=True)
