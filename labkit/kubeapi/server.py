"""``KubeAPIServer``: one lab's Kubernetes API endpoint, served by uvicorn on 127.0.0.1 over TLS.

::

    server = KubeAPIServer(lab, lab.state_dir / "kube-api").start()
    server.kubeconfig      # export KUBECONFIG=...; kubectl get pods -A
    server.stop()

The server runs in a background thread with its own event loop (a notebook's kernel keeps its
own); ``stop`` closes open watches, shuts uvicorn down and unregisters from the Lab. Connections
are bounded (``limit_concurrency``: beyond it uvicorn answers 503), idle keep-alive connections
close after :data:`KEEP_ALIVE_S`, TLS handshakes time out, header size is bounded by h11.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import LabStateError
from . import credentials
from .app import build_app
from .store import KubeStore

log = logging.getLogger("labkit.kubeapi")

MAX_CONNECTIONS = 64
KEEP_ALIVE_S = 30
STARTUP_TIMEOUT_S = 15.0


def _server_class() -> type:
    """uvicorn's Server, stopping without waiting out idle keep-alive TLS connections.

    uvicorn's graceful shutdown closes an idle connection's transport and then waits for it to be
    gone; over TLS, asyncio closes with a close_notify and waits for the client's, which an idle
    client (a ``requests`` session, an informer between watches) never sends, so ``lab.stop()``
    took the whole ``timeout_graceful_shutdown`` (2 s). Idle HTTP connections are aborted here; a
    request still being answered, and an exec WebSocket, keep their grace period."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            for connection in list(self.server_state.connections):
                if not hasattr(connection, "cycle"):  # not an HTTP/1.1 protocol (a WebSocket)
                    continue
                cycle = connection.cycle
                if cycle is None or cycle.response_complete:
                    connection.transport.abort()
            await super().shutdown(sockets)

    return Server


class KubeAPIServer:
    def __init__(self, lab: Any, directory: str | os.PathLike, port: int = 0) -> None:
        self.lab = lab
        self.directory = Path(directory)
        self.requested_port = port
        self.port = 0
        self.store: KubeStore | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "KubeAPIServer":
        if self.running:
            return self
        import uvicorn

        from .exec import exec_endpoint
        from .traceflow import run_in_background

        creds = credentials.create(self.directory, self.lab.name)
        self.store = KubeStore(self.lab, run_traceflow=run_in_background)
        self.lab.add_change_listener(self.store.refresh)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted connections (Linux): without it a response that follows TLS 1.3's
        # session tickets waits for the client's delayed ACK (~40 ms per request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self.requested_port))  # loopback only, never 0.0.0.0
        sock.listen(128)
        self.port = sock.getsockname()[1]
        app = build_app(self.store, creds.token, f"127.0.0.1:{self.port}", exec_endpoint)
        config = uvicorn.Config(app, ssl_certfile=str(creds.cert_path), ssl_keyfile=str(creds.key_path),
                                log_level="critical", access_log=False, lifespan="off",
                                limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE_S,
                                ws="websockets-sansio", ws_max_size=1024 * 1024, timeout_graceful_shutdown=2)
        self._server = _server_class()(config)
        server = self._server

        def run() -> None:
            import asyncio

            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                self._error = exc
                log.exception("labkit kube-apiserver stopped")
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=f"labkit-kube-api-{self.lab.name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            self.stop()
            raise LabStateError(f"the Kubernetes API of lab {self.lab.name!r} did not start: {self._error}")
        credentials.write_kubeconfig(self.kubeconfig, creds, self.port, self.lab.name)
        return self

    def export_environment(self) -> None:
        """Make ``!kubectl ...`` in a notebook reach this lab: ``KUBECONFIG`` = this kubeconfig, and
        the interpreter's bin directory (where ``pip install labkit[lab]`` put kubectl) on ``PATH``.
        Undone by :meth:`stop` if nobody changed them since."""
        import sys

        self._exported = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        bindir = str(Path(sys.executable).parent)
        if (Path(bindir) / "kubectl").exists() and bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")

    def stop(self) -> None:
        """Close every watch, stop serving, forget the Lab (idempotent)."""
        if os.environ.get("KUBECONFIG") == str(self.kubeconfig):
            if getattr(self, "_exported", None):
                os.environ["KUBECONFIG"] = self._exported
            else:
                os.environ.pop("KUBECONFIG", None)
        if self.store is not None:
            self.lab.remove_change_listener(self.store.refresh)
            self.store.close_watchers()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._server = None


__all__ = ["KubeAPIServer"]
