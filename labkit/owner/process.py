"""The owner process (``labkit owner-serve``, hidden), and starting, stopping and sweeping owners.

The owner runs in its own session (it outlives the ``labkit up`` that started it), logs to
``<state>/owner.log``, and serves control connections one thread each; commands run one at a time
under the Lab's lock, with ``sys.stdout``/``sys.stderr``/``sys.stdin`` redirected per thread, so
the API server's threads (which never print) are untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .._util import proc as cmd
from ..errors import LabkitError, LabStateError
from .control import MAX_MESSAGE, _recv_line, attach, host, send
from .record import LOG, OwnerRecord, read_record, remove_record, socket_path, write_record

log = logging.getLogger("labkit.owner")
OWNER_COMMAND = "owner-serve"  # the hidden labkit subcommand the owner runs as (and how sweep finds owners)
START_TIMEOUT_S = 120.0
WATCHDOG_S = 1.0


# ---------------------------------------------------------------------------- parent side


def start(state_dir: str | os.PathLike, name: str, backend: str = "sim", profile: str | None = None,
          backend_options: dict | None = None, kube_api: bool = True, timeout_s: float = START_TIMEOUT_S
          ) -> OwnerRecord:
    """Spawn the owner of a new lab and wait until it serves; raises LabStateError with its log if not."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    remove_record(state_dir)
    argv = [sys.executable, "-m", "labkit.cli", OWNER_COMMAND, "--state-dir", str(state_dir), "--name", name,
            "--backend", backend, "--options", json.dumps(backend_options or {})]
    if profile:
        argv += ["--profile", profile]
    if kube_api:
        argv.append("--kube-api")
    logfile = open(state_dir / LOG, "ab")
    try:
        proc = cmd.spawn(argv, stdout=logfile, stderr=logfile, cwd="/")
    finally:
        logfile.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabStateError(f"the owner of lab {name!r} exited ({proc.returncode}) before serving:\n"
                                + _tail(state_dir / LOG))
        if attach(state_dir) is not None:
            record = read_record(state_dir)
            assert record is not None
            return record
        time.sleep(0.05)
    proc.terminate()
    raise LabStateError(f"the owner of lab {name!r} did not serve within {timeout_s:g} s:\n" + _tail(state_dir / LOG))


def stop(state_dir: str | os.PathLike, timeout_s: float = 60.0) -> bool:
    """Ask the owner to stop its lab and exit; kill it if it does not. True if there was one."""
    state_dir = Path(state_dir)
    record = read_record(state_dir)
    if record is None:
        return False
    if record.alive():
        try:
            send(record.socket, {"op": "stop"}, timeout_s)
        except (OSError, ValueError, LabkitError):
            pass
        _wait_gone(record.pid, timeout_s)
        if record.alive():
            _kill(record.pid)
    remove_record(state_dir)
    with contextlib.suppress(OSError):
        Path(record.socket).unlink()
    return True


def sweep(root: str | os.PathLike) -> list[int]:
    """Kill owners (of this user) whose state directory under ``root`` no longer has a lab."""
    root = Path(root).resolve()
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if proc.stat().st_uid != os.getuid():
                continue
            args = proc.joinpath("cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if OWNER_COMMAND.encode() not in args or b"--state-dir" not in args:
            continue
        state_dir = Path(args[args.index(b"--state-dir") + 1].decode())
        if state_dir.resolve().parent == root and not (state_dir / "lab.json").exists():
            _kill(int(proc.name))
            killed.append(int(proc.name))
    return killed


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def _kill(pid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
            if sig == signal.SIGTERM:
                os.kill(pid, signal.SIGCONT)  # a stopped owner must run to handle SIGTERM
        except ProcessLookupError:
            return
        _wait_gone(pid, wait)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------- owner side


class _PerThread(io.TextIOBase):
    """sys.stdout/stderr/stdin that a command thread can redirect without touching other threads."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.local = threading.local()

    def _target(self) -> Any:
        return getattr(self.local, "stream", None) or self.real

    def write(self, text: str) -> int:  # type: ignore[override]
        return self._target().write(text)

    def read(self, size: int = -1) -> str:  # type: ignore[override]
        return self._target().read(size)

    def readline(self, size: int = -1) -> str:  # type: ignore[override]
        return self._target().readline(size)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return False

    @contextlib.contextmanager
    def redirect(self, stream: Any):
        self.local.stream = stream
        try:
            yield stream
        finally:
            self.local.stream = None


class Owner:
    """Serves one live Lab's control socket; ``run_command(argv) -> exit code`` runs a ``labkit`` command."""

    def __init__(self, state_dir: Path, lab: Any, run_command: Callable[[list[str]], int]) -> None:
        self.state_dir = state_dir
        self.lab = lab
        self.run_command = run_command
        self.done = threading.Event()
        self.socket_path = socket_path(state_dir)
        self.out = _PerThread(sys.stdout)
        self.err = _PerThread(sys.stderr)
        self.inp = _PerThread(sys.stdin)
        self.listener: socket.socket | None = None
        self._dirty = threading.Event()

    def serve(self) -> None:
        sys.stdout, sys.stderr, sys.stdin = self.out, self.err, self.inp  # type: ignore[assignment]
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.socket_path))  # created 0600
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)
        listener.listen(16)
        listener.settimeout(0.5)
        self.listener = listener
        host(self.state_dir, self.lab)
        self.lab.add_change_listener(self._dirty.set)
        kube = getattr(self.lab, "kube_api", None)
        write_record(self.state_dir, OwnerRecord(
            os.getpid(), str(self.socket_path), str(self.state_dir), dt.datetime.now(dt.timezone.utc).isoformat(),
            kube.port if kube else 0, str(kube.kubeconfig) if kube else ""))
        threading.Thread(target=self._watchdog, name="owner-watchdog", daemon=True).start()
        while not self.done.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _watchdog(self) -> None:
        """Save lab.json after changes (kubectl's too); exit when the lab's state is removed."""
        while not self.done.wait(WATCHDOG_S):
            if not (self.state_dir / "lab.json").exists():
                log.warning("state directory %s has no lab.json any more: stopping", self.state_dir)
                self.done.set()
                break
            if self._dirty.is_set():
                self._dirty.clear()
                with self.lab.lock:
                    self.lab.save()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30)
                request = json.loads(_recv_line(conn) or b"{}")
                conn.settimeout(None)
                answer = self._answer(request)
            except (OSError, ValueError) as exc:
                answer = {"code": 1, "stderr": f"error: bad control request: {exc}\n"}
            data = json.dumps(answer).encode()[:MAX_MESSAGE] + b"\n"
            with contextlib.suppress(OSError):
                conn.sendall(data)

    def _answer(self, request: dict) -> dict:
        op = request.get("op")
        if op == "ping":
            return {"pid": os.getpid(), "lab": self.lab.name}
        if op == "stop":
            self.done.set()
            return {"stopping": True}
        if op == "run":
            argv = [str(a) for a in request.get("argv") or []]
            out, err = io.StringIO(), io.StringIO()
            with self.lab.lock, self.out.redirect(out), self.err.redirect(err), \
                    self.inp.redirect(io.StringIO(request.get("stdin") or "")):
                try:
                    code = self.run_command(argv)
                except SystemExit as exc:  # argparse errors
                    code = exc.code if isinstance(exc.code, int) else 2
                except Exception as exc:  # noqa: BLE001 - the owner must survive any command
                    log.exception("command %s failed", argv)
                    print(f"error: {type(exc).__name__}: {exc}", file=err)
                    code = 1
            return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
        return {"code": 2, "stderr": f"error: unknown control operation {op!r}\n"}

    def shutdown(self) -> None:
        self.done.set()
        if self.listener is not None:
            self.listener.close()
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        try:
            with self.lab.lock:
                if (self.state_dir / "lab.json").exists():
                    self.lab.save()
        finally:
            self.lab.stop()
            if read_record(self.state_dir) is not None and read_record(self.state_dir).pid == os.getpid():
                remove_record(self.state_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--backend", default="sim")
    parser.add_argument("--profile")
    parser.add_argument("--options", default="{}")
    parser.add_argument("--kube-api", action="store_true")


def main(args: argparse.Namespace, run_command: Callable[[list[str]], int]) -> int:
    """The owner process: build (or resume) the lab, serve it until told to stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    state_dir = Path(args.state_dir)
    from ..lab import Lab

    try:
        if (state_dir / "lab.json").exists():
            lab = Lab.resume(args.name, state_dir)
        else:
            lab = Lab(backend=args.backend, profile=args.profile, name=args.name, state_dir=state_dir,
                      backend_options=json.loads(args.options))
        if args.kube_api:
            lab.serve_kube_api(export=False)
        lab.save()
    except (LabkitError, OSError) as exc:  # the parent (labkit up) shows this log's tail
        print(f"error: {exc}", file=sys.stderr)
        return 1
    owner = Owner(state_dir, lab, run_command)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: owner.done.set())
    log.info("owner of lab %s (pid %d) serving in %s", lab.name, os.getpid(), state_dir)
    try:
        owner.serve()
    finally:
        owner.shutdown()
        log.info("owner of lab %s stopped", lab.name)
    return 0


__all__ = ["start", "stop", "sweep", "main", "Owner"]
