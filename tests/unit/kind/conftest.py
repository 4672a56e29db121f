"""Fixtures for the kind backend's unit tests.

This machine has no Docker engine (and no kind), so nothing here starts a cluster. The backend
takes an injected *runner*; :class:`FakeRunner` records every command line and answers with
recorded responses in the formats docker, kind and kubectl really print (kubectl JSON, agnhost
stderr). What is asserted is everything up to that boundary: the exact commands, their order and
input, and how real outputs are parsed.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from pathlib import Path
from typing import Callable, Union

import pytest

from labkit.backends.kind import tools
from labkit.backends.kind.tools import RawResult

FIXTURES = Path(__file__).parent / "fixtures"
Response = Union[RawResult, Callable[[list, "str | None"], RawResult]]


class FakeRunner:
    """Answers a command with the first response whose key is a substring of the command line."""

    def __init__(self, responses: list[tuple[str, Response]] | None = None) -> None:
        self.responses: list[tuple[str, Response]] = list(responses or [])
        self.calls: list[tuple[list[str], str | None, float]] = []
        self._lock = threading.Lock()

    def on(self, key: str, response: Response) -> "FakeRunner":
        self.responses.insert(0, (key, response))  # later rules win
        return self

    def __call__(self, argv, *, input, timeout_s, env) -> RawResult:
        argv = list(argv)
        with self._lock:
            self.calls.append((argv, input, timeout_s))
        line = shlex.join(argv)
        for key, response in self.responses:
            if key in line:
                return response(argv, input) if callable(response) else response
        return RawResult(0, "", "")

    @property
    def commands(self) -> list[str]:
        return [shlex.join(argv) for argv, _, _ in self.calls]

    def inputs(self, key: str) -> list[dict]:
        return [json.loads(inp) for argv, inp, _ in self.calls if key in shlex.join(argv) and inp]


def host_ok_responses() -> list[tuple[str, RawResult]]:
    """A healthy host: Docker 28 answers, kind v0.32.0, kubectl v1.33.1."""
    return [
        ("docker version --format", RawResult(0, "28.2.2\n")),
        ("docker info --format", RawResult(0, "28.2.2\n")),
        ("kind version", RawResult(0, "kind v0.32.0 go1.24.6 linux/amd64\n")),
        ("kubectl version --client -o json",
         RawResult(0, json.dumps({"clientVersion": {"gitVersion": "v1.33.1", "major": "1", "minor": "33"},
                                  "kustomizeVersion": "v5.6.0"}))),
    ]


@pytest.fixture
def sys_root(tmp_path: Path) -> Path:
    """A host root with the openvswitch module loaded and 16 GiB available."""
    root = tmp_path / "host"
    (root / "sys" / "module" / "openvswitch").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "proc" / "meminfo").write_text("MemTotal:       32768000 kB\nMemFree:        1000 kB\n"
                                           "MemAvailable:   16777216 kB\n")
    return root


@pytest.fixture
def tools_on_path(monkeypatch):
    """Pretend docker, kind and kubectl are on PATH (their answers come from the FakeRunner)."""
    monkeypatch.setattr(tools, "find_tool", lambda name: f"/usr/local/bin/{name}")


@pytest.fixture
def fixture_json():
    return lambda name: json.loads((FIXTURES / name).read_text())


@pytest.fixture
def apiserver(tmp_path):
    """A :class:`FakeApiServer` on 127.0.0.1 (see apiserver.py) and a KubeClient on it, with Antrea's
    controller Deployment and agent DaemonSet rolled out; waits poll every 10 ms."""
    from labkit.backends.kind.kube import KubeClient

    from .apiserver import FakeApiServer, antrea_workloads

    with FakeApiServer() as server:
        antrea_workloads(server)
        kube = KubeClient(server.kubeconfig(tmp_path / "kubeconfig"), sleep=lambda s: time.sleep(0.01))
        server.kube = kube
        try:
            yield server
        finally:
            kube.close()
