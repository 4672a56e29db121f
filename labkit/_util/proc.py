"""The one place labkit runs external commands (ip, ovs-*, wg, charon, tshark, docker, kind, kubectl).

Every failure becomes a :class:`~labkit.errors.CommandError` naming the command (and the network
namespace it ran in), its exit code or the timeout, and the tail of its stderr, so a user sees
*what* failed and *why* without a Python traceback from :mod:`subprocess`. Long-running helpers
(wireguard-go, charon, pod servers) are started with :func:`spawn` and stopped with
:func:`terminate`, by their own PID only.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from collections.abc import Callable, Mapping, Sequence

from ..errors import CommandError, CommandFailure

DEFAULT_TIMEOUT_S = 30.0
_STDERR_TAIL = 2000
INSTALL_HINT = "install it (apt-get install openvswitch-switch iproute2 ethtool)"


def describe(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside network namespace ``netns`` (``ip netns exec`` execs it: same PID)."""
    return ["ip", "netns", "exec", netns, *map(str, argv)] if netns else [str(a) for a in argv]


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "").strip()[-_STDERR_TAIL:]


def run(argv: Sequence[str], netns: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
        input: str | None = None, env: Mapping[str, str] | None = None, check: bool = True,
        hint: str = "", text: bool = True, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` (no shell; inside ``netns`` if given) and return the completed process (its
    output as text, or as bytes with ``text=False``).

    Raises CommandError when the command is missing, times out, or (with ``check``) exits non-zero;
    ``hint`` (how to fix it) is appended to those messages. ``env`` entries are added to the current
    environment (OVS_RUNDIR and friends).
    """
    full = in_netns(netns, argv)
    where = f" in netns {netns}" if netns else ""
    fix = f"\nfix: {hint}" if hint else ""
    try:
        proc = subprocess.run(full, input=input, capture_output=True, text=text, timeout=timeout_s,
                              env={**os.environ, **env} if env else None,
                              stdin=None if input is not None else subprocess.DEVNULL, cwd=cwd,
                              check=False)  # the exit code is checked below, into CommandError
    except FileNotFoundError as exc:
        raise CommandError(f"command not found: {full[0]} (while running: {describe(full)}); "
                           + (hint or INSTALL_HINT), CommandFailure(full, None, str(exc))) from exc
    except OSError as exc:
        raise CommandError(f"cannot run {describe(full)}: {exc}{fix}", CommandFailure(full, None, str(exc))) from exc
    except subprocess.TimeoutExpired as exc:
        stderr = _tail(exc.stderr)
        raise CommandError(f"command timed out after {timeout_s:g} s{where}: {describe(argv)}"
                           + (f"\n{stderr}" if stderr else "") + fix,
                           CommandFailure(full, None, stderr, timeout_s)) from exc
    if check and proc.returncode != 0:
        stderr = _tail(proc.stderr)
        raise CommandError(f"command failed (exit {proc.returncode}){where}: {describe(argv)}"
                           + (f"\n{stderr}" if stderr else "") + fix,
                           CommandFailure(full, proc.returncode, stderr, timeout_s))
    return proc


def output(argv: Sequence[str], netns: str | None = None, **kwargs) -> str:
    """stdout of a successful command."""
    return run(argv, netns, **kwargs).stdout


def spawn(argv: Sequence[str], netns: str | None = None, *, env: Mapping[str, str] | None = None,
          stdout: int | None = subprocess.DEVNULL, stderr: int | None = subprocess.PIPE,
          text: bool = False, cwd: str | None = None, new_session: bool = True,
          stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    """Start a long-running process (inside ``netns`` if given) in its own session, so a signal to
    the caller's process group never reaches it and :func:`terminate` stops exactly it."""
    full = in_netns(netns, argv)
    try:
        return subprocess.Popen(full, stdout=stdout, stderr=stderr, stdin=stdin,
                                env={**os.environ, **(env or {})}, start_new_session=new_session, text=text,
                                cwd=cwd)
    except OSError as exc:
        raise CommandError(f"cannot start {describe(full)}: {exc}", CommandFailure(full, None, str(exc))) from exc


def terminate(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout_s: float = 3.0) -> None:
    """Stop one process we started (by its PID only), escalating to SIGKILL; idempotent."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.01) -> None:
    """Poll ``predicate`` until it is true; CommandError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise CommandError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def missing_tools(*tools: str) -> list[str]:
    """The tools of ``tools`` found neither on PATH nor in /usr/sbin."""
    return [t for t in tools if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]


__all__ = ["run", "output", "spawn", "terminate", "wait_for", "pid_alive", "in_netns", "missing_tools", "describe",
           "DEFAULT_TIMEOUT_S"]
