"""The encryption test bed's network namespaces: their prefix, listing, and the sweep of a crashed run's.

Commands run through labkit's one runner, :mod:`labkit._util.proc`.
"""

from __future__ import annotations

import os
import signal

from .._util.proc import pid_alive, run

NETNS_PREFIX = "lkenc-"  # every namespace this package creates starts with it


def netns_list() -> list[str]:
    proc = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


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
        if owner.isdigit() and pid_alive(int(owner)):
            continue
        for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "del", ns], check=False)
        removed.append(ns)
    return removed

    return True
