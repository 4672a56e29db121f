"""Run external commands (ip, ovs-vsctl, ovs-ofctl ...) with a timeout, mapping failures to CommandError.

This is the one boundary where ``subprocess`` errors become labkit errors: every failure names the
command, its exit code (or the timeout) and the tail of its stderr, so a user sees *what* failed
and *why* without a Python traceback from subprocess.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from ..errors import CommandError, CommandFailure

DEFAULT_TIMEOUT_S = 30.0
_STDERR_TAIL = 2000


def _describe(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def run(argv: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S, input: str | None = None,
        env: Mapping[str, str] | None = None, check: bool = True,
        cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` (no shell) and return the completed process (text mode).

    Raises CommandError when the command is missing, times out, or (with ``check``) exits non-zero.
    ``env`` entries are added to the current environment (OVS_RUNDIR and friends).
    """
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout_s,
                              env=full_env, stdin=None if input is not None else subprocess.DEVNULL,
                              check=False, cwd=cwd)  # the exit code is checked below, into CommandError
    except FileNotFoundError as exc:
        raise CommandError(f"command not found: {argv[0]} (while running: {_describe(argv)}); "
                           "install it (apt-get install openvswitch-switch iproute2 ethtool)",
                           CommandFailure(argv, None, str(exc))) from exc
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise CommandError(f"command timed out after {timeout_s:g} s: {_describe(argv)}",
                           CommandFailure(argv, None, stderr[-_STDERR_TAIL:], timeout_s)) from exc
    if check and proc.returncode != 0:
        stderr = (proc.stderr or "").strip()[-_STDERR_TAIL:]
        raise CommandError(f"command failed (exit {proc.returncode}): {_describe(argv)}"
                           + (f"\n{stderr}" if stderr else ""),
                           CommandFailure(argv, proc.returncode, stderr, timeout_s))
    return proc


def output(argv: Sequence[str], **kwargs) -> str:
    """stdout of a successful command."""
    return run(argv, **kwargs).stdout


__all__ = ["run", "output", "DEFAULT_TIMEOUT_S"]
