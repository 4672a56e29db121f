"""``kubectl exec`` over WebSocket, protocol ``v5.channel.k8s.io`` (``v4`` for the Python client).

kubectl >= 1.31 opens ``GET .../pods/<pod>/exec?command=...`` as a WebSocket offering
``v5.channel.k8s.io`` (client-go ``tools/remotecommand/websocket.go``). Every message is binary;
its first byte is the channel: 1 stdout, 2 stderr, 3 the final ``metav1.Status`` (``NonZeroExitCode``
with an ``ExitCode`` cause for exit codes, apiserver ``streamtranslator.go``), then a close frame
1000 (reference kubectl-api.md §9).

What runs:

What runs is the lab's ``Executes`` capability (``lab.exec``):

* **ovs**: the real command, in the Pod's network namespace, so
  ``kubectl exec -n x a -- wget -qO- -T 1 http://<pod-ip>`` sends real packets through the lab's
  Open vSwitch and its policies;
* **sim**: no processes exist, so the common probe commands (``wget``, ``curl``, ``nc``,
  ``/agnhost connect``) are answered from the policy engine's verdict for that connection
  (:mod:`labkit.backends.sim.exec`). Anything else exits 126 and says so.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import LabkitError

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
MAX_OUTPUT = 1024 * 1024
EXEC_TIMEOUT_S = 120.0
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
    """Run ``command`` in the pod through the lab's Executes capability (off the event loop)."""
    pod = lab.state.pod(pod_key)  # NotFoundError (a LabkitError) if it is gone
    result = await run_in_threadpool(lab.exec, pod.key, command, EXEC_TIMEOUT_S)
    return result.exit_code, result.stdout, result.stderr
