"""Running commands inside network namespaces: the one place subprocess errors become CommandError."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence

from ..errors import CommandError, CommandFailure

NETNS_PREFIX = "lkenc-"  # every namespace this package creates starts with it


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def run(argv: Sequence[str], netns: str | None = None, timeout_s: float = 15.0, check: bool = True,
        input_text: str | None = None) -> subprocess.CompletedProcess:
    full = in_netns(netns, argv)
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout_s, input=input_text,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"{' '.join(full)} timed out after {timeout_s} s",
                           CommandFailure(full, None, "", timeout_s)) from exc
    except OSError as exc:
        raise CommandError(f"cannot run {full[0]}: {exc}", CommandFailure(full, None, str(exc))) from exc
    if check and proc.returncode != 0:
        where = f" in netns {netns}" if netns else ""
        raise CommandError(f"{' '.join(argv)}{where} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}",
                           CommandFailure(full, proc.returncode, proc.stderr))
    return proc


def spawn(argv: Sequence[str], netns: str | None = None, env: dict[str, str] | None = None,
          stdout: int | None = subprocess.DEVNULL, stderr: int | None = subprocess.PIPE) -> subprocess.Popen:
    """Start a long-running process; ``ip netns exec`` execs it, so the PID is the process's own."""
    full = in_netns(netns, argv)
    try:
        return subprocess.Popen(full, stdout=stdout, stderr=stderr, env={**os.environ, **(env or {})},
                                start_new_session=True)
    except OSError as exc:
        raise CommandError(f"cannot start {argv[0]}: {exc}", CommandFailure(list(full), None, str(exc))) from exc


def terminate(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout_s: float = 3.0) -> None:
    """Stop one process we started (by its PID only), escalating to SIGKILL."""
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


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.01) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise CommandError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def netns_list() -> list[str]:
    proc = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def missing_tools(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]


def sweep(prefix: str = NETNS_PREFIX) -> list[str]:
    """Remove namespaces left by a crashed run: ``lkenc-<pid>-...`` whose owner PID is gone.

    Processes still inside such a namespace are ours by construction (we started them there); they
    are killed one by one by PID, never by name.
    """
    removed = []
    for ns in netns_list():
        if not ns.startswith(prefix):
            continue
        owner = ns[len(prefix):].split("-", 1)[0]
        if owner.isdigit() and _alive(int(owner)):
            continue
        for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "del", ns], check=False)
        removed.append(ns)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
