"""The sim backend's ``exec``: sim pods run no processes, so the usual probe commands are answered
from the policy engine's verdict for the connection they would open.

``wget``, ``curl``, ``nc`` and ``/agnhost connect`` (the agnhost probe Kubernetes' and Antrea's
e2e tests exec) are parsed for their destination, port, protocol and timeout: allowed -> success,
Reject -> "connection refused" at once (the client gets a TCP RST or ICMP unreachable, as from
Antrea's Reject), Drop -> a timeout after the command's own timeout (at most
:data:`MAX_SIM_WAIT_S`), with the exit codes and messages those tools print. Anything else exits
126 and says so. The ovs backend runs the real command in the Pod's network namespace instead.
"""

from __future__ import annotations

import re
import shlex

from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.explain import explain
from ...policy.groups import Selection
from ...policy.probe import Probe

MAX_SIM_WAIT_S = 10.0


def _seconds(text: str) -> float:
    m = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m)?$", text or "")
    if not m:
        return 1.0
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value * 60 if m.group(2) == "m" else value


def _parse(command: list[str]) -> tuple[str, str, int | None, str, float] | None:
    """(tool, host, port, protocol, timeout_s) of a probe command, or None."""
    tool = command[0].rsplit("/", 1)[-1]
    args = command[1:]
    timeout, protocol, target, port = 10.0, "TCP", "", None
    if tool == "wget" or tool == "curl":
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-T", "-m", "--max-time", "--connect-timeout", "--timeout") and i + 1 < len(args):
                timeout, i = _seconds(args[i + 1]), i + 1
            elif a.startswith(("--timeout=", "--max-time=", "--connect-timeout=")):
                timeout = _seconds(a.split("=", 1)[1])
            elif re.match(r"^-[A-Za-z]*T(\d+)$", a):
                timeout = float(re.match(r"^-[A-Za-z]*T(\d+)$", a).group(1))
            elif not a.startswith("-") and (i == 0 or args[i - 1] not in ("-O", "-o", "-U", "-H", "--header")):
                target = a
            i += 1
        m = re.match(r"^(?:https?://)?(\[[^\]]+\]|[^/:]+)(?::(\d+))?", target)
        if not m:
            return None
        port = int(m.group(2)) if m.group(2) else (443 if target.startswith("https") else 80)
        return tool, m.group(1), port, "TCP", timeout
    if tool == "nc":
        rest = []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "-w" and i + 1 < len(args):
                timeout, i = _seconds(args[i + 1]), i + 1
            elif a.startswith("-"):
                protocol = "UDP" if "u" in a[1:] else protocol
            else:
                rest.append(a)
            i += 1
        if len(rest) < 2 or not rest[1].isdigit():
            return None
        return tool, rest[0], int(rest[1]), protocol, timeout
    if tool == "agnhost" and args[:1] == ["connect"]:
        for a in args[1:]:
            if a.startswith("--timeout="):
                timeout = _seconds(a.split("=", 1)[1])
            elif a.startswith("--protocol="):
                protocol = a.split("=", 1)[1].upper()
            elif not a.startswith("-"):
                target = a
        host, _, port_text = target.rpartition(":")
        return (tool, host, int(port_text), protocol, timeout) if port_text.isdigit() else None
    return None


def _destination(state: ClusterState, host: str, port: int) -> tuple[str, int] | None:
    """The destination pod (and its port) of a host: a pod IP, a Service's ClusterIP or DNS name."""
    for pod in state.pods:
        if pod.pod_ip == host:
            return pod.key, port
    for svc in state.services:
        names = {svc.cluster_ip, svc.name, f"{svc.name}.{svc.namespace}", f"{svc.name}.{svc.namespace}.svc",
                 f"{svc.name}.{svc.namespace}.svc.cluster.local"}
        if host in names and svc.cluster_ip:
            sp = next((p for p in svc.ports if p.port == port), None)
            pods = sorted(Selection(state).service_pods(svc.namespace, svc.name))
            if sp is None or not pods:
                return None
            target = state.pod(pods[0])
            number = sp.target_port if isinstance(sp.target_port, int) else (
                target.named_port(sp.target_port, sp.protocol) if sp.target_port else sp.port)
            return target.key, number or sp.port
    return None


def emulate(state: ClusterState, policy_set: PolicySet, src: str, command: list[str]) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds to wait first) of a probe command run in pod ``src``."""
    parsed = _parse(command)
    if parsed is None:
        return 126, "", (f"labkit (sim backend): {shlex.join(command)!r} cannot run: sim pods have no processes. "
                         "Supported probes: wget -qO- -T 1 http://IP[:PORT], curl -m 1 http://IP, nc -zv -w 1 IP PORT, "
                         "/agnhost connect IP:PORT --timeout=1s; use the ovs backend to run anything.\n"), 0.0
    tool, host, port, protocol, timeout = parsed
    found = _destination(state, host, port or 80)
    wait = min(timeout, MAX_SIM_WAIT_S)
    if found is None:  # nothing answers at that address: the SYN goes unanswered
        verdict = "drop"
    else:
        dst, dport = found
        verdict = explain(state, policy_set, src, dst, Probe(protocol, dport)).verdict
    if verdict == "allow":
        text = {"wget": "", "curl": "", "nc": f"{host} ({host}:{port}) open\n", "agnhost": ""}[tool]
        return 0, text if tool != "nc" else "", text if tool == "nc" else "", 0.0
    refused = verdict == "reject"
    messages = {
        "wget": (f"wget: can't connect to remote host ({host}): Connection refused\n", 1,
                 "wget: download timed out\n", 1),
        "curl": (f"curl: (7) Failed to connect to {host} port {port} after 0 ms: Couldn't connect to server\n", 7,
                 f"curl: (28) Connection timed out after {int(timeout * 1000)} milliseconds\n", 28),
        "nc": (f"nc: {host} ({host}:{port}): Connection refused\n", 1,
               f"nc: {host} ({host}:{port}): Connection timed out\n", 1),
        "agnhost": ("REFUSED\n", 1, "TIMEOUT\n", 1),
    }[tool]
    if refused:
        return messages[1], "", messages[0], 0.0
    return messages[3], "", messages[2], wait


__all__ = ["emulate", "MAX_SIM_WAIT_S"]
