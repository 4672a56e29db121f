"""Measured reachability: real connection attempts from every pod to every pod, in parallel.

Each cell is one exec into the source pod (the Kubernetes client's exec, see :mod:`.kube`) running
agnhost's ``connect``, exactly the command the upstream network-policy e2e tests run (test/e2e/network/netpol/kubemanager.go,
``probeConnectivity``)::

    /agnhost connect <dst-ip>:<port> --timeout=1s --protocol=tcp|udp|sctp

``agnhost connect`` exits 0 on success; on failure it exits 1 and prints one line to stderr
prefixed with a fixed word (test/images/agnhost/connect/connect.go): ``TIMEOUT`` (no answer),
``REFUSED`` (TCP RST / ECONNREFUSED, UDP "connection refused"), ``DNS``, ``OTHER``, ``UNKNOWN``.
The verdict follows Antrea's e2e ``DecideProbeResult`` (test/e2e/k8s_util.go):

* exit 0 -> allow;
* ``REFUSED``, or ``no route to host`` / ``permission denied`` (an Antrea Reject of UDP is an ICMP
  error, which agnhost reports as ``UNKNOWN: read udp ...: no route to host``) -> reject;
* ``TIMEOUT``, or SCTP's ``OTHER: operation already in progress`` -> drop;
* anything else (the exec failed, pod missing ...) -> error, retried, then reported.

ICMP uses ``ping -c 3 -W 1 <ip>`` as Antrea's e2e ``pingProbe`` does, decided the same way
(``bytes from`` = allow, ``prohibited`` = reject, no reply = drop).
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from ...errors import CommandError, CommandFailure, UnsupportedOperation
from ...policy.probe import Probe
from .tools import RawResult

ALLOW, DROP, REJECT, ERROR = "allow", "drop", "reject", "error"
PROBE_TIMEOUT_S = 1  # upstream getProbeTimeoutSeconds() on Linux
EXEC_TIMEOUT_S = 30.0  # the exec itself (API server round trip + the probe)


@dataclass(frozen=True)
class ProbeTask:
    src: str  # ns/name
    dst: str
    namespace: str  # of the source pod
    pod: str
    container: str
    dst_ip: str


def host_port(ip: str, port: int) -> str:
    """``net.JoinHostPort``: IPv6 addresses in brackets."""
    return f"[{ip}]:{port}" if ipaddress.ip_address(ip).version == 6 else f"{ip}:{port}"


def probe_command(probe: Probe, dst_ip: str, timeout_s: int = PROBE_TIMEOUT_S) -> list[str]:
    if probe.src_port is not None:
        raise UnsupportedOperation("the kind backend cannot fix a probe's source port (agnhost connect picks an "
                                   "ephemeral one); use backend 'sim' or 'ovs' for sourcePort scenarios")
    if probe.protocol == "ICMP":
        if (probe.icmp_type, probe.icmp_code) != (8, 0):
            raise UnsupportedOperation("the kind backend probes ICMP with ping (echo request, type 8 code 0) only; "
                                       "use backend 'sim' for other ICMP types")
        family = "-6" if ipaddress.ip_address(dst_ip).version == 6 else "-4"
        return ["ping", family, "-c", "3", "-W", "1", dst_ip]
    return ["/agnhost", "connect", host_port(dst_ip, int(probe.port)), f"--timeout={timeout_s}s",
            f"--protocol={probe.protocol.lower()}"]


# Runs ``command`` in the task's source container and returns what it printed and its exit code
# (the backend passes KubeClient.exec; tests pass a recorded-answer function).
Exec = Callable[[ProbeTask, list], RawResult]


def classify_connect(result: RawResult) -> str:
    if result.returncode == 0:
        return ALLOW
    err = result.stderr
    if "REFUSED" in err or "no route to host" in err or "permission denied" in err:
        return REJECT
    if "TIMEOUT" in err or "OTHER: operation already in progress" in err:
        return DROP
    return ERROR


def classify_ping(result: RawResult) -> str:
    out = result.stdout
    connected = out.count("bytes from")
    rejected = out.count("Prohibited") + out.count("prohibited")
    if connected and not rejected:
        return ALLOW
    if rejected and not connected:
        return REJECT
    if "icmp_seq" not in out and ("packets transmitted" in out or result.returncode == 1):
        return DROP  # ping exits 1 when no reply came back
    return ERROR


def run_one(exec_fn: Exec, task: ProbeTask, probe: Probe) -> tuple[str, RawResult]:
    try:
        result = exec_fn(task, probe_command(probe, task.dst_ip))
    except CommandError as exc:  # the exec could not start or hung: an error cell, not a verdict
        failure = exc.failure
        return ERROR, RawResult(-1, "", str(exc) if failure is None else (failure.stderr or str(exc)))
    verdict = classify_ping(result) if probe.protocol == "ICMP" else classify_connect(result)
    return verdict, result


def measure(exec_fn: Exec, tasks: list[ProbeTask], probe: Probe, workers: int = 16,
            attempts: int = 2) -> dict[tuple[str, str], str]:
    """Run every probe (``workers`` at a time); cells that errored are tried again up to ``attempts``
    times, and if any still errors, CommandError lists them all with their stderr."""
    cells: dict[tuple[str, str], str] = {}
    pending = list(tasks)
    last: dict[tuple[str, str], RawResult] = {}
    for _ in range(max(1, attempts)):
        if not pending:
            break
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(lambda t: (t, run_one(exec_fn, t, probe)), pending))
        pending = []
        for task, (verdict, raw) in results:
            if verdict == ERROR:
                pending.append(task)
                last[(task.src, task.dst)] = raw
            else:
                cells[(task.src, task.dst)] = verdict
    if pending:
        lines = [f"  {t.src} -> {t.dst} ({t.dst_ip}): exit {last[(t.src, t.dst)].returncode}: "
                 f"{(last[(t.src, t.dst)].stderr or '').strip()[:300]}" for t in pending]
        raise CommandError(f"{len(pending)} probe(s) gave no verdict (neither success, TIMEOUT nor REFUSED) for "
                           f"{probe}:\n" + "\n".join(lines) + "\nfix: check the pods are Running "
                           "('kubectl get pods -A -l app.kubernetes.io/managed-by=labkit') and that 'kubectl exec' into them works",
                           CommandFailure(["exec"], 1, "\n".join(lines)))
    return cells


__all__ = ["ProbeTask", "probe_command", "Exec", "classify_connect", "classify_ping", "measure", "host_port",
           "ALLOW", "DROP", "REJECT", "ERROR"]
