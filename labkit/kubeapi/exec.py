"""``kubectl exec`` over WebSocket, protocol ``v5.channel.k8s.io`` (``v4`` for the Python client).

kubectl >= 1.31 opens ``GET .../pods/<pod>/exec?command=...`` as a WebSocket offering
``v5.channel.k8s.io`` (client-go ``tools/remotecommand/websocket.go``). Every message is binary;
its first byte is the channel: 1 stdout, 2 stderr, 3 the final ``metav1.Status`` (``NonZeroExitCode``
with an ``ExitCode`` cause for exit codes, apiserver ``streamtranslator.go``), then a close frame
1000 (reference kubectl-api.md §9).

What runs:

* **ovs**: the real command, in the Pod's network namespace (``ip netns exec``), so
  ``kubectl exec -n x a -- wget -qO- -T 1 http://<pod-ip>`` sends real packets through the lab's
  Open vSwitch and its policies. (To become a backend capability; the pod's namespace name is the
  ovs backend's ``names.pod_netns``.)
* **sim**: no processes exist, so the common probe commands (``wget``, ``curl``, ``nc``,
  ``/agnhost connect``) are answered from the policy engine's verdict for that connection:
  allowed -> success, Reject -> "connection refused" at once, Drop -> a timeout after the command's
  own timeout (at most :data:`MAX_SIM_WAIT_S`). Anything else exits 126 and says so.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import LabkitError

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
MAX_OUTPUT = 1024 * 1024
EXEC_TIMEOUT_S = 120.0
MAX_SIM_WAIT_S = 10.0
STDOUT, STDERR, ERROR = 1, 2, 3


def _status(code: int) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


async def exec_endpoint(ws: WebSocket, app: Any) -> None:
    if not app.authenticated(ws.headers):
        await ws.close(code=1008)  # before accept: the upgrade is refused (403)
        return
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    if protocol is None:
        await ws.close(code=1002)
        return
    namespace, name = ws.path_params["namespace"], ws.path_params["name"]
    command = ws.query_params.getlist("command")
    await ws.accept(subprotocol=protocol)
    await ws.send_bytes(bytes([STDOUT]))  # the apiserver's initial empty message
    try:
        if not command:
            raise LabkitError("you must specify at least one command for the container")
        code, out, err = await run(app.store.lab, f"{namespace}/{name}", command)
    except LabkitError as exc:
        code, out, err = 1, b"", f"{exc}\n".encode()
        await ws.send_bytes(bytes([ERROR]) + json.dumps({"metadata": {}, "status": "Failure",
                                                          "message": str(exc)}).encode())
        await ws.close(code=1000)
        return
    if out:
        await ws.send_bytes(bytes([STDOUT]) + out[:MAX_OUTPUT])
    if err:
        await ws.send_bytes(bytes([STDERR]) + err[:MAX_OUTPUT])
    await ws.send_bytes(bytes([ERROR]) + json.dumps(_status(code)).encode())
    await ws.close(code=1000)


async def run(lab: Any, pod_key: str, command: list[str]) -> tuple[int, bytes, bytes]:
    pod = lab.state.pod(pod_key)  # NotFoundError (a LabkitError) if it is gone
    if lab.backend_name == "ovs":
        from ..backends.ovs.names import pod_netns

        proc = await asyncio.create_subprocess_exec("ip", "netns", "exec", pod_netns(lab.name, pod.key), *command,
                                                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), EXEC_TIMEOUT_S)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return 124, b"", f"labkit: {shlex.join(command)} ran longer than {EXEC_TIMEOUT_S:g} s\n".encode()
        return proc.returncode or 0, out, err
    if lab.backend_name != "sim":
        raise LabkitError(f"exec is served on the sim and ovs backends only (this lab runs {lab.backend_name})")
    code, out, err, wait_s = await run_in_threadpool(emulate, lab, pod.key, command)
    if wait_s:
        await asyncio.sleep(wait_s)
    return code, out.encode(), err.encode()


# ---------------------------------------------------------------------------- sim


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


def _destination(lab: Any, host: str, port: int) -> tuple[str, int] | None:
    """The destination pod (and its port) of a host: a pod IP, a Service's ClusterIP or DNS name."""
    for pod in lab.state.pods:
        if pod.pod_ip == host:
            return pod.key, port
    from ..policy.groups import Selection

    for svc in lab.state.services:
        names = {svc.cluster_ip, svc.name, f"{svc.name}.{svc.namespace}", f"{svc.name}.{svc.namespace}.svc",
                 f"{svc.name}.{svc.namespace}.svc.cluster.local"}
        if host in names and svc.cluster_ip:
            sp = next((p for p in svc.ports if p.port == port), None)
            pods = sorted(Selection(lab.state).service_pods(svc.namespace, svc.name))
            if sp is None or not pods:
                return None
            target = lab.state.pod(pods[0])
            number = sp.target_port if isinstance(sp.target_port, int) else (
                target.named_port(sp.target_port, sp.protocol) if sp.target_port else sp.port)
            return target.key, number or sp.port
    return None


def emulate(lab: Any, src: str, command: list[str]) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds to wait first) of a probe command on sim."""
    parsed = _parse(command)
    if parsed is None:
        return 126, "", (f"labkit (sim backend): {shlex.join(command)!r} cannot run: sim pods have no processes. "
                         "Supported probes: wget -qO- -T 1 http://IP[:PORT], curl -m 1 http://IP, nc -zv -w 1 IP PORT, "
                         "/agnhost connect IP:PORT --timeout=1s; use the ovs backend to run anything.\n"), 0.0
    tool, host, port, protocol, timeout = parsed
    found = _destination(lab, host, port or 80)
    wait = min(timeout, MAX_SIM_WAIT_S)
    if found is None:  # nothing answers at that address: the SYN goes unanswered
        verdict = "drop"
    else:
        dst, dport = found
        verdict = lab.reachability(port=dport, protocol=protocol, sources=[src], destinations=[dst])[src, dst]
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
