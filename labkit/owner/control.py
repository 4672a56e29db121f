"""The owner's control channel, client side: one JSON request and one JSON answer per connection.

Requests: ``{"op": "ping"}``, ``{"op": "stop"}``, ``{"op": "run", "argv": [...], "stdin": "..."}``
(a ``labkit`` command line run inside the owner against its live Lab; the answer carries the exit
code, stdout and stderr). The socket is a unix socket, mode 0600 in the lab's state directory:
only its user can connect, and it runs nothing but ``labkit`` commands.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import LabStateError
from .record import OwnerRecord, read_record

MAX_MESSAGE = 32 * 1024 * 1024
_HOSTED: dict[str, Any] = {}  # resolved state dir -> the live Lab, in the owner process only


def hosted_lab(state_dir: str | os.PathLike) -> Any:
    """In the owner process: the live Lab of ``state_dir``; elsewhere None."""
    return _HOSTED.get(str(Path(state_dir).resolve()))


def host(state_dir: Path, lab: Any) -> None:
    _HOSTED[str(Path(state_dir).resolve())] = lab


def _recv_line(sock: socket.socket) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk or size > MAX_MESSAGE:
            break
    data = b"".join(chunks)
    if size > MAX_MESSAGE:
        raise ValueError(f"control message larger than {MAX_MESSAGE} bytes")
    return data.split(b"\n", 1)[0]


def send(path: str, request: dict, timeout_s: float | None = None) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = _recv_line(sock)
    if not answer:
        raise LabStateError("the lab's owner closed the control connection without answering; see owner.log in "
                            "the lab's state directory")
    return json.loads(answer)


class OwnerClient:
    def __init__(self, record: OwnerRecord) -> None:
        self.record = record

    def ping(self, timeout_s: float = 5.0) -> dict:
        return send(self.record.socket, {"op": "ping"}, timeout_s)

    def run(self, argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
        answer = send(self.record.socket, {"op": "run", "argv": argv, "stdin": stdin})
        return int(answer.get("code", 1)), answer.get("stdout", ""), answer.get("stderr", "")

    def stop(self, timeout_s: float = 60.0) -> None:
        send(self.record.socket, {"op": "stop"}, timeout_s)


def attach(state_dir: str | os.PathLike) -> OwnerClient | None:
    """A client of the lab's live owner, or None if the lab has none (or it died)."""
    record = read_record(state_dir)
    if record is None or not record.alive():
        return None
    client = OwnerClient(record)
    try:
        client.ping()
    except (OSError, ValueError, LabStateError):
        return None
    return client


def _absolute(argv: list[str], args: Any) -> list[str]:
    """Paths relative to the caller's directory, made absolute (the owner runs elsewhere)."""
    inputs = {f for f in (getattr(args, "filename", None) or []) if f != "-" and os.path.exists(f)}
    outputs = {w for w in [getattr(args, "write", None)] if w}
    out = []
    for token in argv:
        if token in inputs or token in outputs:
            token = os.path.abspath(token)
        out.append(token)
    return out


def forward(argv: list[str], args: Any, state_dir: Path) -> int | None:
    """Run a ``labkit`` command in the lab's owner, if it has one: its exit code (output copied to
    ours), or None when the command should run here."""
    if hosted_lab(state_dir) is not None:  # we are the owner
        return None
    record = read_record(state_dir)
    if record is None:
        return None
    client = attach(state_dir)
    if client is None:
        raise LabStateError(f"lab {state_dir.name!r} is owned by process {record.pid}, which is not running any "
                            f"more (see {state_dir / 'owner.log'}); remove the lab with 'labkit down --name "
                            f"{state_dir.name}' and start it again with 'labkit up'")
    stdin = sys.stdin.read() if "-" in (getattr(args, "filename", None) or []) else None
    code, out, err = client.run(_absolute(argv, args), stdin)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code
