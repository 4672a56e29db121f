"""``NSXManagerServer``: the NSX Manager mock as a real HTTPS server, and ``labkit nsx serve``.

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (port 0 = ephemeral), TLS with a CA labkit makes in
the state directory, HTTP/1.1 keep-alive. Everything persists in ``<state_dir>/nsx.sqlite3``: a
server started again on the same directory has the same objects, CA and certificates.

Client certificates: the TLS layer asks for one (optional) and accepts certificates signed by the
lab CA or identical to a registered principal identity's certificate (self-signed ones included);
the API layer then maps the certificate to its PI (:mod:`labkit.nsx.manager.auth`). The TLS context is
rebuilt whenever a PI is created or deleted. Python's ``ssl`` has no verify callback, so a
self-signed certificate nobody registered fails the TLS handshake instead of answering 403 as
NSX does (docs/nsx-mock.md).

Usage::

    with NSXManagerServer(tmp_path) as nsx:
        client = nsx.client()                   # admin, verifies the lab CA
        client.get("/api/v1/node/version")
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from labkit.errors import LabkitError, LabStateError
from labkit.nsx.manager.api import NSXApi
from labkit.nsx.manager.auth import Authenticator
from labkit.nsx.manager.certs import CertKeyPair, KeyType, ensure_ca, ensure_server_cert, issue_client_cert
from labkit.nsx.manager.client import NSXClient
from labkit.nsx.manager.principal import ADMIN_USER
from labkit.nsx.manager.services import seed_default_services
from labkit.nsx.manager.state import DEFAULT_NODE_VERSION, ManagerState
from labkit.nsx.manager.store import ObjectStore

log = logging.getLogger("labkit.nsx")

# The password NSX appliance labs commonly use; change it with admin_password=/--admin-password.
DEFAULT_ADMIN_PASSWORD = "VMware1!VMware1!"
DB_NAME = "nsx.sqlite3"
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0


class NSXManagerServer:
    """The NSX Manager mock. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_password: str = DEFAULT_ADMIN_PASSWORD,
        tls: bool = True,
        node_version: str = DEFAULT_NODE_VERSION,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.admin_user = ADMIN_USER
        self.admin_password = admin_password
        self.tls = tls
        self.node_version = node_version
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._store: ObjectStore | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._ca: CertKeyPair | None = None
        self._server_cert: CertKeyPair | None = None
        self.api: NSXApi | None = None
        self._clients: list[NSXClient] = []

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> NSXManagerServer:
        if self._httpd is not None:
            return self
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LabStateError(f"NSX mock: cannot create state directory {self.state_dir}: {exc}") from exc
        self._store = ObjectStore(self.state_dir / DB_NAME)
        try:
            state = ManagerState(self._store, Authenticator(self._store, self.admin_password),
                                 node_version=self.node_version)
            with self._store.transaction():
                seed_default_services(state)
            self.api = NSXApi(state)
            if self.tls:
                self._ca = ensure_ca(self.state_dir)
                names = tuple(dict.fromkeys((self.host, "127.0.0.1", "localhost", "::1")))
                names = tuple(n for n in names if n not in ("0.0.0.0", "::"))
                self._server_cert = ensure_server_cert(self.state_dir, self._ca, names)
                self._tls_context = self._build_tls_context()
                state.on_trust_changed = self._refresh_tls
            try:
                self._httpd = _HTTPServer(self)
            except OSError as exc:
                raise LabStateError(
                    f"NSX mock: cannot listen on {self.host}:{self._requested_port}: {exc} "
                    "(choose another port, or 0 for an ephemeral one)"
                ) from exc
        except BaseException:
            self._store.close()
            self._store = None
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name=f"nsx-mock:{self.port}", daemon=True)
        self._thread.start()
        log.info("NSX mock listening on %s (state %s)", self.url, self.state_dir)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the store. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            _shutdown_promptly(httpd)
            httpd.server_close()
            httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None
        clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def __enter__(self) -> NSXManagerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where and how to reach it --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise LabStateError("NSX mock: not started; call start() (or use it in a with block)")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The lab CA certificate clients must trust (exists once started with TLS)."""
        return self.state_dir / "ca.crt"

    def client(self, **kwargs: Any) -> NSXClient:
        """An :class:`NSXClient` for this server; admin with Basic auth unless told otherwise."""
        if not kwargs.get("cert_path"):
            kwargs.setdefault("username", self.admin_user)
            kwargs.setdefault("password", self.admin_password)
        if self.tls:
            kwargs.setdefault("ca_path", self.ca_path)
        client = NSXClient(self.url, **kwargs)
        self._clients.append(client)  # closed by stop()
        return client

    def issue_client_cert(self, common_name: str, out_dir: str | Path | None = None, *,
                          key_type: KeyType = "rsa") -> CertKeyPair:
        """A client certificate with ``CN=common_name`` signed by the lab CA (for a PI)."""
        ca = self._ca or ensure_ca(self.state_dir)
        return issue_client_cert(common_name, ca, out_dir or self.state_dir / "clients",
                                 key_type=key_type)

    # -- TLS ------------------------------------------------------------------------------------
    def _build_tls_context(self) -> ssl.SSLContext:
        assert self._ca is not None and self._server_cert is not None and self.api is not None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self._server_cert.cert_path, self._server_cert.key_path)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=str(self._ca.cert_path))
        for pem in self.api.state.auth.trusted_pems():
            try:
                ctx.load_verify_locations(cadata=pem)
            except ssl.SSLError:
                log.warning("NSX mock: a principal identity certificate could not be trusted")
        return ctx

    def _refresh_tls(self) -> None:
        self._tls_context = self._build_tls_context()

    def wrap(self, sock: socket.socket) -> socket.socket:
        """TLS-wrap an accepted connection (in its own thread, so a slow client blocks nobody)."""
        if self._tls_context is None:
            return sock
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        return self._tls_context.wrap_socket(sock, server_side=True)


def _shutdown_promptly(httpd: _HTTPServer) -> None:
    """``shutdown()`` waits for the accept loop's next poll; a connection wakes it at once."""
    waiter = threading.Thread(target=httpd.shutdown, daemon=True)
    waiter.start()
    host, port = httpd.server_address[:2]
    while waiter.is_alive():
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            pass
        waiter.join(timeout=0.01)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, owner: NSXManagerServer) -> None:
        self.owner = owner
        self.address_family = socket.AF_INET6 if ":" in owner.host else socket.AF_INET
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((owner.host, owner._requested_port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            conn = self.owner.wrap(request)
        except (ssl.SSLError, OSError) as exc:
            log.debug("NSX mock: TLS handshake with %s failed: %s", client_address, exc)
            return
        with self._open_lock:
            self._open.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            with self._open_lock:
                self._open.discard(conn)
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def close_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("NSX mock: connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "labkit-nsx-mock/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    # Headers and body are two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's naming
        self._dispatch()

    do_PUT = do_PATCH = do_POST = do_DELETE = do_GET

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self._send(400, {"httpStatus": "BAD_REQUEST", "error_code": 990400,
                             "module_name": "common-services", "error_message": str(exc)}, {})
            self.close_connection = True
            return
        peer = None
        if isinstance(self.connection, ssl.SSLSocket):
            peer = self.connection.getpeercert(binary_form=True)
        api = self.server.owner.api
        assert api is not None
        response = api.handle(self.command, self.path, dict(self.headers.items()), body, peer)
        self._send(response.status, response.body, response.headers)

    def _read_body(self) -> bytes:
        # Always read the whole body before answering, errors included: otherwise a keep-alive
        # connection carries the leftover bytes into the next request (nsx.md §10).
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            count = int(length)
        except ValueError:
            raise ValueError(f"invalid Content-Length {length!r}") from None
        if count < 0:
            raise ValueError(f"invalid Content-Length {length!r}")
        return self.rfile.read(count)

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        # JSON unless a handler answers text with its own Content-Type (the console page at /).
        if isinstance(body, str):
            payload = body.encode("utf-8")
        else:
            payload = b"" if body is None else json.dumps(body).encode("utf-8")
        content_type = headers.get("Content-Type", "application/json")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            if key.lower() != "content-type":
                self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("NSX mock %s: " + format, self.address_string(), *args)


# -- CLI ------------------------------------------------------------------------------------------
def default_state_dir() -> Path:
    """Where ``labkit nsx serve`` keeps its state unless told: next to the labs' state
    (``$LABKIT_STATE_DIR``, default ``~/.local/state/labkit``, as labkit.lab uses), in
    ``nsx-manager/`` (not ``nsx/``: a lab may be called nsx)."""
    base = os.environ.get("LABKIT_STATE_DIR") or Path.home() / ".local" / "state" / "labkit"
    return Path(base) / "nsx-manager"


def serve(argv: list[str] | None = None) -> int:
    """``labkit nsx serve``: run the mock in the foreground until Ctrl-C (or SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="labkit nsx serve",
        description="Run labkit's NSX Manager mock (HTTPS, SQLite state) until Ctrl-C.",
    )
    parser.add_argument("--state-dir", type=Path, default=default_state_dir(),
                        help="directory for nsx.sqlite3, the lab CA and certificates, kept across "
                        "runs (default: $LABKIT_STATE_DIR/nsx-manager, else "
                        "~/.local/state/labkit/nsx-manager)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: an ephemeral port)")
    parser.add_argument("--admin-password",
                        default=os.environ.get("LABKIT_NSX_ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD),
                        help="password of the admin user (default $LABKIT_NSX_ADMIN_PASSWORD or "
                        f"{DEFAULT_ADMIN_PASSWORD})")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP (no client certificates)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # `labkit nsx serve ...` passes its subcommand along
        argv = argv[1:]
    args = parser.parse_args(argv)
    server = NSXManagerServer(args.state_dir, host=args.host, port=args.port,
                              admin_password=args.admin_password, tls=not args.no_tls)
    try:
        server.start()
    except LabkitError as exc:
        print(f"labkit nsx serve: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"NSX Manager mock listening on {server.url}")
    if server.tls:
        print(f"CA certificate: {server.ca_path}")
    print(f"admin credentials: {server.admin_user} / {server.admin_password}")
    print(f"state directory: {server.state_dir}")
    ca = f"--cacert {server.ca_path} " if server.tls else ""
    print(f"try: curl {ca}-u '{server.admin_user}:{server.admin_password}' {server.url}/api/v1/node/version")
    print("press Ctrl-C to stop", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("NSX Manager mock stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve())
