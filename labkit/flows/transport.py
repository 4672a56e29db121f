"""IPFIX over UDP and TCP: an Exporting Process and a Collecting Process (RFC 7011 §10).

::

    with IPFIXCollector(protocol="tcp") as collector:           # 127.0.0.1, ephemeral port
        with IPFIXExporter(*collector.address, protocol="tcp", templates=[tmpl]) as exporter:
            exporter.export([(tmpl, record)])
        records = collector.wait_for(1, timeout_s=2)

The collector runs one background thread that serves every socket (the listener, TCP
connections, and a wake-up socket so :meth:`IPFIXCollector.stop` returns at once); it closes
everything it opened. Both classes are context managers and their ``stop``/``close`` are
idempotent.
"""

from __future__ import annotations

import collections
import selectors
import socket
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Literal

from labkit.flows.ies import DEFAULT_REGISTRY, IERegistry, IPFIXError
from labkit.flows.ipfix import DecodedRecord, Decoder
from labkit.flows.session import SequenceGap
from labkit.flows.wire import (
    DEFAULT_PORT,
    HEADER,
    MAX_MESSAGE_SIZE,
    EncodedItem,
    RecordItem,
    Template,
    encode_records,
    pack_messages,
    parse_header,
    split_stream,
    template_items,
)

Protocol = Literal["udp", "tcp"]

# RFC 6728 (IPFIX configuration model) templateRefreshTimeout: 600 s by default, which is
# also what Open vSwitch uses (IPFIX_TEMPLATE_INTERVAL).
DEFAULT_TEMPLATE_REFRESH_S = 600.0
# §10.3.3: a UDP message must fit the path MTU. 1400 octets fit a 1500-octet Ethernet MTU
# with IPv4 or IPv6 and UDP headers.
DEFAULT_UDP_MESSAGE_SIZE = 1400
# What a peer can make the collector hold (RFC 7011 §11.4): TCP connections at once (each holds
# at most one incomplete message, < 64 KiB, plus one read), and error messages kept.
DEFAULT_MAX_CONNECTIONS = 64
MAX_ERRORS = 1_000  # the latest errors kept; error_count counts them all


@dataclass(frozen=True)
class EncodedRecords:
    """Data records encoded and checked by :meth:`IPFIXExporter.encode`, for its :meth:`~IPFIXExporter.send`."""

    items: tuple[EncodedItem, ...]

    def __len__(self) -> int:
        return len(self.items)


def _check_protocol(protocol: str) -> None:
    if protocol not in ("udp", "tcp"):
        raise IPFIXError(f"transport {protocol!r} is not supported", hint='use "udp" or "tcp"')


class IPFIXExporter:
    """Exports IPFIX messages from one Observation Domain to one collector.

    Over UDP, templates go out with the first export and again whenever ``template_refresh_s``
    has passed since they last went out (§8.4). Over TCP they go out once per connection,
    right after connecting (§8.3), and a template added later goes out when added. The
    sequence number counts the data records sent in this transport session (§3.1).
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, protocol: Protocol = "udp",
                 domain_id: int = 0, templates: Iterable[Template] = (),
                 template_refresh_s: float = DEFAULT_TEMPLATE_REFRESH_S,
                 max_message_size: int | None = None, timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        _check_protocol(protocol)
        self.host, self.port, self.protocol = host, port, protocol
        self.domain_id = domain_id
        self.template_refresh_s = template_refresh_s
        self.max_message_size = max_message_size or (
            DEFAULT_UDP_MESSAGE_SIZE if protocol == "udp" else MAX_MESSAGE_SIZE)
        self.timeout_s = timeout_s
        self._clock = clock
        self._templates: dict[int, Template] = {t.template_id: t for t in templates}
        self._sock: socket.socket | None = None
        self._sequence = 0
        self._templates_sent_at: float | None = None
        self._lock = threading.Lock()
        self.messages_sent = 0
        self.send_errors = 0  # UDP sends the kernel refused (no collector listening, ...)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> IPFIXExporter:
        """Open the socket (and, over TCP, connect and send the templates)."""
        with self._lock:
            if self._sock is not None:
                return self
            kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
            try:
                family, _, _, _, target = socket.getaddrinfo(self.host, self.port, type=kind)[0]
                sock = socket.socket(family, kind)
            except OSError as exc:
                raise IPFIXError(f"cannot reach {self.host}:{self.port} over {self.protocol}: "
                                 f"{exc}", hint="check the collector's host name") from exc
            try:
                sock.settimeout(self.timeout_s)
                sock.connect(target)  # for UDP this only fixes the destination
            except OSError as exc:
                sock.close()
                raise IPFIXError(f"cannot connect to {self.host}:{self.port} over "
                                 f"{self.protocol}: {exc}",
                                 hint="start the collector first, with the same transport") from exc
            self._sock = sock
            self._sequence = 0  # a new transport session starts a new stream (§3.1)
            self._templates_sent_at = None
            if self.protocol == "tcp" and self._templates:
                self._send(list(self._templates.values()), [])
        return self

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.close()
                finally:
                    self._sock = None

    def __enter__(self) -> IPFIXExporter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- export -------------------------------------------------------------------------------

    @property
    def sequence_number(self) -> int:
        """The sequence number the next message will carry."""
        return self._sequence

    @property
    def templates(self) -> tuple[Template, ...]:
        return tuple(self._templates.values())

    def add_template(self, template: Template) -> None:
        """Use ``template`` from now on; it is sent at once if the exporter is started."""
        with self._lock:
            self._templates[template.template_id] = template
            if self._sock is not None:
                self._send([template], [])

    def send_templates(self) -> None:
        """Send every template now (a UDP refresh ahead of time, or a TCP resend)."""
        with self._lock:
            self._require_started()
            self._send(list(self._templates.values()), [])

    def export(self, records: Iterable[RecordItem]) -> int:
        """Send records, as ``(template, record)`` pairs or bare dicts if the exporter has one
        template; returns the number of messages sent. Every record is encoded and checked
        (:meth:`encode`) before anything is sent: a bad one raises, and nothing goes out."""
        self._require_started()
        return self.send(self.encode(records))

    def encode(self, records: Iterable[RecordItem], *, first_index: int = 0) -> EncodedRecords:
        """Encode records for :meth:`send`, sending nothing. Raises one :class:`IPFIXError`
        listing every record (by its index, counted from ``first_index``) that cannot be
        encoded or does not fit one message of :attr:`max_message_size` octets (1,400 over
        UDP: §10.3.3, a message fits the path MTU; a record cannot span messages)."""
        records = list(records)
        if len(self._templates) == 1:
            only = next(iter(self._templates.values()))
            records = [r if isinstance(r, tuple) else (only, r) for r in records]
        try:
            items = encode_records(records, self._templates.values(),
                                   max_message_size=self.max_message_size, first_index=first_index)
        except IPFIXError as exc:
            too_long = self.protocol == "udp" and "cannot fit" in exc.message
            raise IPFIXError(exc.message, where=f"export to {self.host}:{self.port} over {self.protocol}",
                             hint=("export over TCP (messages up to 65,535 octets), or shorten the "
                                   "long values; nothing was sent") if too_long else "nothing was sent"
                             ) from exc
        return EncodedRecords(tuple(items))

    def send(self, records: EncodedRecords) -> int:
        """Send records :meth:`encode` prepared (with the templates, over UDP, when their
        refresh is due); returns the number of messages sent."""
        with self._lock:
            self._require_started()
            templates: list[Template] = []
            if self.protocol == "udp" and self._templates and (
                    self._templates_sent_at is None
                    or self._clock() - self._templates_sent_at >= self.template_refresh_s):
                templates = list(self._templates.values())
            return self._send(templates, list(records.items))

    def withdraw(self, template: Template) -> None:
        """Withdraw a template (§8.1); TCP only, as §8.4 forbids withdrawals over UDP."""
        if self.protocol != "tcp":
            raise IPFIXError("templates cannot be withdrawn over UDP (RFC 7011 §8.4)",
                             hint="let the collector's template lifetime expire instead")
        with self._lock:
            self._require_started()
            self._templates.pop(template.template_id, None)
            self._send([], [], withdrawals=[template])

    def _require_started(self) -> None:
        if self._sock is None:
            raise IPFIXError("the exporter is not started",
                             hint="call start() or use it as a context manager")

    def _send(self, templates: list[Template], records: list[EncodedItem], *,
              withdrawals: Iterable[Template] = ()) -> int:
        messages = pack_messages(self.domain_id, template_items(templates, withdrawals) + list(records),
                                 sequence_number=self._sequence, max_message_size=self.max_message_size)
        assert self._sock is not None
        for message in messages:
            try:
                if self.protocol == "udp":
                    self._sock.send(message)
                else:
                    self._sock.sendall(message)
            except ConnectionRefusedError:
                if self.protocol == "tcp":
                    raise IPFIXError(f"{self.host}:{self.port} refused the connection",
                                     hint="is the collector still running?") from None
                self.send_errors += 1  # UDP: an ICMP error from an earlier datagram
            except OSError as exc:
                raise IPFIXError(f"sending to {self.host}:{self.port} over {self.protocol} "
                                 f"failed: {exc}", hint="restart the exporter with start()") from exc
        self.messages_sent += len(messages)
        self._sequence = (self._sequence + len(records)) % (1 << 32)
        if templates:
            self._templates_sent_at = self._clock()
        return len(messages)


class IPFIXCollector:
    """Receives IPFIX over UDP or TCP on ``host:port`` (port 0 picks a free port; read
    :attr:`address`) and decodes it in a background thread.

    Decoded records are kept, at most ``max_records`` of them (the oldest go first, counted
    in :attr:`dropped_records`); ``on_records``, if given, is called from the collector thread
    with each message's records.

    A peer cannot stop it: a message that cannot be decoded is discarded and costs one line in
    :attr:`errors` (RFC 7011 §9.1; the latest :data:`MAX_ERRORS`, :attr:`error_count` counts
    all), a TCP stream that cannot be framed (a message length < 16) is closed, at most
    ``max_connections`` TCP connections are served at once, and the decoder's state is bounded
    (:class:`~labkit.flows.session.SessionState`). Should the thread die anyway, the error is
    raised by :meth:`wait_for`, :meth:`records` and :meth:`take` (:attr:`failure`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, protocol: Protocol = "udp",
                 registry: IERegistry = DEFAULT_REGISTRY, max_records: int | None = 100_000,
                 on_records: Callable[[list[DecodedRecord]], None] | None = None,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        _check_protocol(protocol)
        self.host, self.protocol = host, protocol
        self._requested_port = port
        self._decoder = Decoder(registry)
        self._records: collections.deque[DecodedRecord] = collections.deque(maxlen=max_records)
        self._changed = threading.Condition()
        self._on_records = on_records
        self._errors: collections.deque[str] = collections.deque(maxlen=MAX_ERRORS)
        self.error_count = 0
        self.dropped_records = 0
        self.max_connections = max_connections
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._connections: dict[socket.socket, _Connection] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._failure: BaseException | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> IPFIXCollector:
        if self._thread is not None:
            return self
        kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
        try:
            family, _, _, _, bind_to = socket.getaddrinfo(self.host, self._requested_port,
                                                          type=kind)[0]
            listener = socket.socket(family, kind)
        except OSError as exc:
            raise IPFIXError(f"cannot listen on {self.host}:{self._requested_port}: {exc}") from exc
        self._listener = listener
        try:
            if self.protocol == "tcp":
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(bind_to)
            if self.protocol == "tcp":
                listener.listen()
            listener.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
        except OSError as exc:
            self._close_sockets()
            raise IPFIXError(f"cannot listen on {self.host}:{self._requested_port} over "
                             f"{self.protocol}: {exc}",
                             hint="pick another port, or port 0 for a free one") from exc
        self._stopping.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._serve, name=f"ipfix-collector-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and close every socket. Idempotent."""
        thread, self._thread = self._thread, None
        self._stopping.set()
        try:
            if self._wake_w is not None:
                try:
                    self._wake_w.send(b"x")
                except OSError:
                    pass
            if thread is not None:
                thread.join(timeout_s)
                if thread.is_alive():
                    raise IPFIXError(f"the collector thread did not stop within {timeout_s} s")
        finally:
            self._close_sockets()

    def __enter__(self) -> IPFIXCollector:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually bound."""
        if self._listener is None:
            raise IPFIXError("the collector is not started", hint="call start() first")
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def port(self) -> int:
        return self.address[1]

    # -- results ------------------------------------------------------------------------------

    def records(self) -> list[DecodedRecord]:
        """Every record received so far (a copy). Raises if the collector thread died."""
        with self._changed:
            self._raise_failure()
            return list(self._records)

    def take(self) -> list[DecodedRecord]:
        """Every record received so far, removing them from the collector. Raises if the
        collector thread died."""
        with self._changed:
            self._raise_failure()
            taken = list(self._records)
            self._records.clear()
            return taken

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[DecodedRecord]:
        """Wait until at least ``count`` records are held; returns them (a copy). Raises at
        once if the collector thread died."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self._records) < count:
                self._raise_failure()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise IPFIXError(
                        f"only {len(self._records)} of {count} records arrived within "
                        f"{timeout_s} s", where=f"collector {self.protocol} {self.host}",
                        hint=f"check the exporter targets port {self._port_or_none()}, uses "
                             f"{self.protocol}, and sent its templates (errors: {list(self._errors)[-3:]})")
                self._changed.wait(remaining)
            return list(self._records)

    @property
    def failure(self) -> BaseException | None:
        """What stopped the collector thread, if it died (None while it runs or after stop())."""
        with self._changed:
            return self._failure

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise IPFIXError(f"the collector thread died: {self._failure!r}; nothing is received "
                             "any more", where=f"collector {self.protocol} {self.host}",
                             hint="a labkit bug (report it with collector.errors) or the machine ran "
                                  "out of memory; stop() and start() the collector again") from self._failure

    @property
    def errors(self) -> list[str]:
        """The latest :data:`MAX_ERRORS` errors (:attr:`error_count`: all of them)."""
        with self._changed:
            return list(self._errors)

    @property
    def sequence_gaps(self) -> list[SequenceGap]:
        with self._changed:
            return list(self._decoder.sequence_gaps)

    @property
    def templates(self) -> dict[tuple[Hashable, int, int], Template]:
        """The templates currently known, keyed by (exporter, domain id, template id)."""
        with self._changed:
            return self._decoder.templates

    @property
    def unknown_sets(self) -> int:
        """Data sets received before their template (they were dropped)."""
        with self._changed:
            return self._decoder.unknown_sets

    # -- the thread ---------------------------------------------------------------------------

    def _port_or_none(self) -> int | None:
        return self._listener.getsockname()[1] if self._listener is not None else None

    def _serve(self) -> None:
        try:
            self._serve_sockets()
        except BaseException as exc:  # noqa: BLE001 - kept, and raised by wait_for/records/take
            with self._changed:
                self._failure = exc
                self._changed.notify_all()

    def _serve_sockets(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            selector.register(self._listener, selectors.EVENT_READ, "listener")
            while not self._stopping.is_set():
                for key, _ in selector.select(timeout=1.0):
                    if key.data == "wake" or self._stopping.is_set():
                        return
                    if key.data == "listener" and self.protocol == "udp":
                        self._read_datagram()
                    elif key.data == "listener":
                        self._accept(selector)
                    else:
                        self._read_stream(selector, key.fileobj)  # type: ignore[arg-type]

    def _read_datagram(self) -> None:
        assert self._listener is not None
        try:
            data, peer = self._listener.recvfrom(MAX_MESSAGE_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._error(f"receive failed: {exc}")
            return
        self._decode(data, ("udp", peer[0], peer[1]))

    def _accept(self, selector: selectors.BaseSelector) -> None:
        assert self._listener is not None
        try:
            conn, peer = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        exporter = ("tcp", peer[0], peer[1])
        if len(self._connections) >= self.max_connections:
            conn.close()
            self._error(f"{exporter}: connection refused: {len(self._connections)} connections are "
                        f"open, the limit (max_connections={self.max_connections})")
            return
        conn.setblocking(False)
        self._connections[conn] = _Connection(exporter)
        selector.register(conn, selectors.EVENT_READ, "connection")

    def _read_stream(self, selector: selectors.BaseSelector, conn: socket.socket) -> None:
        stream = self._connections[conn]
        exporter = stream.exporter
        try:
            data = conn.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._error(f"{exporter}: receive failed: {exc}")
            data = b""
        if data:
            stream.buffer += data
            messages: list[bytes] = []
            # Frame only once the pending message is complete: a peer trickling a 64 KiB
            # message octet by octet must not cost a copy of the buffer per octet.
            if len(stream.buffer) >= stream.need:
                try:  # §10.4.3: messages are framed by their length
                    messages, rest = split_stream(stream.buffer)
                    stream.buffer[:] = rest
                    stream.need = parse_header(rest).length if len(rest) >= HEADER.size else HEADER.size
                except IPFIXError as exc:
                    self._error(f"{exporter}: {exc}; connection closed")  # the stream is lost
                    stream.closing, data = True, b""
            for message in messages:
                self._decode(message, exporter)
        if not data:  # closed by the peer, or dropped by us: its templates die with it (§8)
            if stream.buffer and not stream.closing:
                self._error(f"{exporter}: the connection closed inside a message "
                            f"({len(stream.buffer)} of its {stream.need} octets arrived)")
            selector.unregister(conn)
            conn.close()
            del self._connections[conn]
            with self._changed:
                self._decoder.forget(exporter)

    def _decode(self, message: bytes, exporter: Hashable) -> None:
        with self._changed:
            try:
                records = self._decoder.feed(message, exporter)
            except IPFIXError as exc:  # §9.1: discard the message, log the error
                self._note_error(f"{exporter}: {exc}")
                return
            except Exception as exc:  # a decoder bug must cost one message, not the collector
                self._note_error(f"{exporter}: cannot decode a {len(message)}-octet message: {exc!r} "
                                 f"(a labkit bug: please report it with the message, "
                                 f"{message[:32].hex()}...)")
                return
            overflow = len(self._records) + len(records) - (self._records.maxlen or 0)
            if self._records.maxlen is not None and overflow > 0:
                self.dropped_records += overflow
            self._records.extend(records)
            self._changed.notify_all()
        if records and self._on_records is not None:
            try:
                self._on_records(records)
            except Exception as exc:  # a user callback must not kill the collector thread
                self._error(f"on_records callback raised {exc!r}")

    def _error(self, text: str) -> None:
        with self._changed:
            self._note_error(text)

    def _note_error(self, text: str) -> None:  # with self._changed held
        self._errors.append(text)
        self.error_count += 1

    def _close_sockets(self) -> None:
        for sock in [*self._connections, self._listener, self._wake_r, self._wake_w]:
            if sock is not None:
                sock.close()
        self._connections.clear()
        self._listener = self._wake_r = self._wake_w = None


class _Connection:
    """A TCP connection's stream: the exporter it stands for, the octets of the message not
    yet complete, and how many octets that message needs (its length, once its header is in)."""

    __slots__ = ("buffer", "closing", "exporter", "need")

    def __init__(self, exporter: Hashable) -> None:
        self.exporter = exporter
        self.buffer = bytearray()
        self.need = HEADER.size
        self.closing = False  # dropped by the collector, which said why


__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_TEMPLATE_REFRESH_S",
    "DEFAULT_UDP_MESSAGE_SIZE",
    "EncodedRecords",
    "IPFIXCollector",
    "IPFIXExporter",
    "MAX_ERRORS",
]
