"""Drive the class JupyterHub of ``deploy/jupyterhub/`` as a trainer and learners would: a real hub
(real proxy, real single-user servers, real kernels) on 127.0.0.1 and random free ports.

Used by the end-to-end test (tests/hub) and by the sizing benchmark (bench/bench_classroom.py).
Logins go through the form with the ``_xsrf`` pair (reference: JupyterHub traps 5 and 6);
scripted set-up uses the ``class-admin`` service token; notebooks run in a learner's own server
through jupyter_server's REST and kernel websocket APIs, cell by cell, as JupyterLab runs them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PROXY = ROOT / "deploy" / "jupyterhub" / "node_modules" / ".bin" / "configurable-http-proxy"
VENV_BIN = Path(sys.executable).parent


def missing() -> str:
    """Why the hub cannot run here ('' when it can)."""
    if not (VENV_BIN / "jupyterhub").exists():
        return "jupyterhub is not installed in this venv (pip install -e '.[hub]')"
    if not PROXY.exists():
        return f"configurable-http-proxy is not installed ({PROXY}): run 'bash scripts/test' (npm ci in deploy/jupyterhub)"
    return ""


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Hub:
    """A running class hub; ``stop()`` ends it and everything it started."""

    directory: Path
    learners: list[str]
    trainers: list[str] = field(default_factory=lambda: ["trainer"])
    backend_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    url: str = ""
    leftover_pids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.password = secrets.token_urlsafe(12)
        self.trainer_password = secrets.token_urlsafe(32)
        self.admin_token = secrets.token_hex(32)

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout_s: float = 60) -> "Hub":
        public, api, proxy_api, board = free_ports(4)
        self.url = f"http://127.0.0.1:{public}"
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.backend_env, "LABKIT_HUB_DIR": str(self.directory), "LABKIT_HUB_BIND_URL": self.url,
               "LABKIT_HUB_API_PORT": str(api), "LABKIT_HUB_PROXY_API_PORT": str(proxy_api),
               "LABKIT_BOARD_PORT": str(board), "LABKIT_HUB_LEARNERS": " ".join(self.learners),
               "LABKIT_HUB_TRAINERS": " ".join(self.trainers), "LABKIT_HUB_PASSWORD": self.password,
               "LABKIT_HUB_TRAINER_PASSWORD": self.trainer_password, "LABKIT_HUB_ADMIN_TOKEN": self.admin_token,
               "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        for name in ("LABKIT_STATE_DIR", "LABKIT_WORKSPACE", "LABKIT_USER", "JUPYTERHUB_USER", "LABKIT_GRADING",
                     "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
            env.pop(name, None)  # the learners' servers must not inherit the test's own settings
        self.log = (self.directory / "hub.log").open("w")
        # Its own session: SIGINT is not ignored in the children (trap 13), and cleanup can reach the group.
        self.process = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(CONFIG)], cwd=self.directory, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if requests.get(f"{self.url}/hub/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start; log:\n{self.log_text()[-4000:]}")
            time.sleep(0.2)

    def log_text(self) -> str:
        return (self.directory / "hub.log").read_text(errors="replace")

    def stop(self, timeout_s: float = 30) -> float:
        """SIGTERM to the hub (it stops the proxy, the servers and the board); returns the seconds it
        took. Anything of its process group still alive afterwards is killed."""
        if self.process is None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        took = time.monotonic() - started
        time.sleep(0.5)  # children the hub signalled are reaped by init meanwhile
        self.leftover_pids = group_members(self.process.pid)
        if self.leftover_pids:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group the hub led: only what was started here
            except ProcessLookupError:
                pass
        self.log.close()
        self.process = None
        return took

    # ------------------------------------------------------------------ API (class-admin token)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                                headers={"Authorization": f"token {self.admin_token}"}, **kwargs)

    def spawn(self, name: str, timeout_s: float = 90) -> float:
        """Start ``name``'s server; returns the seconds until the hub reports it ready."""
        started = time.monotonic()
        r = self.api("POST", f"/users/{name}/server")
        assert r.status_code in (201, 202), (r.status_code, r.text)
        while True:
            model = self.api("GET", f"/users/{name}").json()
            if (model.get("servers") or {}).get("", {}).get("ready"):
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"{name}'s server did not become ready; hub log:\n{self.log_text()[-4000:]}")
            time.sleep(0.2)

    def server_pid(self, name: str) -> int:
        """The pid of ``name``'s single-user server: the ``jupyterhub-singleuser`` process whose
        environment says ``JUPYTERHUB_USER=<name>`` (the spawner's state needs admin:server_state)."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if b"jupyterhub-singleuser" not in (proc / "cmdline").read_bytes():
                    continue
                if f"JUPYTERHUB_USER={name}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                    return int(proc.name)
            except OSError:
                continue
        raise LookupError(f"no single-user server of {name} is running")

    # ------------------------------------------------------------------ browser-like sessions

    def login(self, name: str, password: str) -> requests.Session:
        """A session logged in through the form (``_xsrf`` cookie and field); raises on refusal."""
        session = requests.Session()
        page = session.get(f"{self.url}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        r = session.post(f"{self.url}/hub/login", timeout=30, allow_redirects=False,
                         data={"username": name, "password": password, "_xsrf": xsrf.group(1) if xsrf else ""})
        if r.status_code != 302:
            raise PermissionError(f"login of {name} refused: {r.status_code}")
        return session

    # ------------------------------------------------------------------ notebooks in a learner's server

    def run_notebook(self, name: str, path: str, parameters: dict[str, Any] | None = None,
                     timeout_s: float = 300, then: str = "") -> "NotebookRun":
        """Run every code cell of ``path`` (relative to ``name``'s workspace) in a new kernel of their
        server, as JupyterLab's Run All does, with ``parameters`` assigned after the parameters cell,
        then ``then`` (code whose output lands in ``.outputs`` too)."""
        return NotebookRun(self, name, path, parameters or {}, then=then).run(timeout_s)


@dataclass
class NotebookRun:
    hub: Hub
    user: str
    path: str
    parameters: dict[str, Any]
    then: str = ""
    executed: int = 0
    errors: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    kernel_pid: int | None = None
    seconds: float = 0.0

    def _url(self, suffix: str) -> str:
        return f"{self.hub.url}/user/{self.user}/api{suffix}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.hub.admin_token}"}

    def run(self, timeout_s: float) -> "NotebookRun":
        import asyncio

        content = requests.get(self._url(f"/contents/{self.path}"), headers=self._headers(), timeout=30)
        content.raise_for_status()
        cells = content.json()["content"]["cells"]
        sources = []
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            sources.append(source)
            if "parameters" in cell.get("metadata", {}).get("tags", []) and self.parameters:
                sources.append("\n".join(f"{k} = {v!r}" for k, v in self.parameters.items()))
        if self.then:
            sources.append(self.then)
        session = requests.post(self._url("/sessions"), headers=self._headers(), timeout=60,
                                json={"path": self.path, "type": "notebook", "name": Path(self.path).name,
                                      "kernel": {"name": "python3"}})
        session.raise_for_status()
        model = session.json()
        started = time.monotonic()
        try:
            asyncio.run(self._execute(model["kernel"]["id"], sources, timeout_s))
        finally:
            self.seconds = time.monotonic() - started
            requests.delete(self._url(f"/sessions/{model['id']}"), headers=self._headers(), timeout=60)
        return self

    async def _execute(self, kernel_id: str, sources: list[str], timeout_s: float) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        ws_url = self._url(f"/kernels/{kernel_id}/channels").replace("http://", "ws://")
        conn = await websocket_connect(HTTPRequest(ws_url, headers=self._headers()))
        session = uuid.uuid4().hex
        deadline = time.monotonic() + timeout_s
        try:
            pid_code = "import os as _o; print('KERNEL_PID', _o.getpid())"
            for source in [pid_code, *sources]:
                msg_id = uuid.uuid4().hex
                await conn.write_message(json.dumps({
                    "header": {"msg_id": msg_id, "username": self.user, "session": session, "msg_type": "execute_request",
                               "version": "5.3", "date": ""},
                    "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                    "content": {"code": source, "silent": False, "store_history": True, "user_expressions": {},
                                "allow_stdin": False, "stop_on_error": True}}))
                replied = idle = False
                while not (replied and idle):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"{self.user}: {self.path} did not finish in {timeout_s} s")
                    import asyncio

                    raw = await asyncio.wait_for(conn.read_message(), remaining)
                    if raw is None:
                        raise ConnectionError(f"{self.user}: the kernel websocket closed")
                    msg = json.loads(raw)
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind = msg["header"]["msg_type"]
                    if kind == "execute_reply":
                        replied = True
                    elif kind == "status" and msg["content"].get("execution_state") == "idle":
                        idle = True
                    elif kind == "error":
                        self.errors.append(msg["content"])
                    elif kind in ("stream", "display_data", "execute_result"):
                        if source is pid_code and kind == "stream":
                            self.kernel_pid = int(msg["content"]["text"].split()[1])
                        else:
                            self.outputs.append(msg["content"])
                if source is not pid_code:
                    self.executed += 1
                if self.errors:
                    return
        finally:
            conn.close()

    def text(self) -> str:
        return json.dumps(self.outputs)


def group_members(pgid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                out.append(int(proc.name))
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
