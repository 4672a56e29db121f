"""External tools (docker, kind, kubectl): how the kind backend runs them, versions, preflight checks.

Every command the kind backend runs goes through :class:`Shell.run`: it applies a timeout and
translates every failure (tool missing, timeout, non-zero exit) into
:class:`~labkit.errors.CommandError` carrying what ran, the exit code, the end of stderr and how
to fix it. The process itself is started by a *runner* (``argv, input, timeout_s -> RawResult``):
by default labkit's one command runner (:mod:`labkit._util.proc`); tests inject a
recorded-response runner because this machine has no Docker engine.

Preflight follows what Antrea needs on a kind host (docs/kind.md, reference §6.1): a reachable
Docker engine, kind and kubectl, the host kernel's ``openvswitch`` module (kind Nodes share the
host kernel; Antrea's ``install-cni`` init container runs ``modprobe openvswitch``), the
``wireguard`` module when WireGuard encryption is asked for, and enough memory.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from ..._util import proc as cmd
from ...errors import BackendUnavailable, CommandError, CommandFailure

STDERR_TAIL_CHARS = 2000
# Three kind Nodes (kindest/node ~ 500-700 MiB each once Antrea, CoreDNS and 9 agnhost pods run)
# plus the host: labkit's estimate, not a kind or Antrea figure.
MIN_MEMORY_MIB = 4096

INSTALL_HINTS = {
    "docker": "install Docker Engine (https://docs.docker.com/engine/install/) and start it "
              "(sudo systemctl start docker), or Docker Desktop",
    "kind": "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), e.g. "
            "go install sigs.k8s.io/kind@v0.32.0, or the release binary",
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/), e.g. apt-get install kubectl",
}


@dataclass(frozen=True)
class RawResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    """Starts one process. Raises FileNotFoundError if the program is missing and
    subprocess.TimeoutExpired on timeout (as :func:`subprocess.run` does)."""

    def __call__(self, argv: Sequence[str], *, input: str | None, timeout_s: float,
                 env: Mapping[str, str] | None) -> RawResult: ...


def subprocess_runner(argv: Sequence[str], *, input: str | None, timeout_s: float,
                      env: Mapping[str, str] | None) -> RawResult:
    """The default Runner: labkit's one command runner (:mod:`labkit._util.proc`), exit code left
    to :class:`Shell`; a missing tool or a timeout is already a CommandError with the install hint."""
    tool = Path(argv[0]).name
    proc = cmd.run(argv, timeout_s=timeout_s, input=input, env=env, check=False,
                   hint=INSTALL_HINTS.get(tool, f"install {tool} and put it on PATH"))
    return RawResult(proc.returncode, proc.stdout, proc.stderr)


def _tail(text: str) -> str:
    text = (text or "").strip()
    return text if len(text) <= STDERR_TAIL_CHARS else "..." + text[-STDERR_TAIL_CHARS:]


class Shell:
    """The single place where the kind backend runs commands, with timeouts and error mapping."""

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or subprocess_runner

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout_s: float = 60.0,
            check: bool = True, hint: str = "", env: Mapping[str, str] | None = None) -> RawResult:
        argv = [str(a) for a in argv]
        shown = shlex.join(argv)
        try:
            result = self.runner(argv, input=input, timeout_s=timeout_s, env=env)
        except FileNotFoundError as exc:
            tool = Path(argv[0]).name
            fix = INSTALL_HINTS.get(tool, f"install {tool} and put it on PATH")
            raise CommandError(f"{tool} is not installed (running: {shown}); fix: {fix}",
                               CommandFailure(argv, None, str(exc))) from exc
        except CommandError as exc:  # from the default runner: missing tool or timeout, already explained
            timed_out = exc.failure is not None and exc.failure.timeout_s is not None
            if timed_out and hint:
                raise CommandError(f"{exc}\nfix: {hint}", exc.failure) from exc
            raise
        except subprocess.TimeoutExpired as exc:  # from an injected Runner (tests)
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            raise CommandError(f"timed out after {timeout_s:g} s: {shown}"
                               + (f"\n{_tail(err)}" if err else "")
                               + (f"\nfix: {hint}" if hint else ""),
                               CommandFailure(argv, None, err, timeout_s)) from exc
        if check and result.returncode != 0:
            raise CommandError(f"command failed with exit code {result.returncode}: {shown}\n"
                               f"{_tail(result.stderr) or '(no stderr)'}" + (f"\nfix: {hint}" if hint else ""),
                               CommandFailure(argv, result.returncode, result.stderr))
        return result


# ---------------------------------------------------------------------------- versions


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def version_text(v: tuple[int, int, int] | None) -> str:
    return "v%d.%d.%d" % v if v else "unknown"


@dataclass(frozen=True)
class ToolInfo:
    name: str
    path: str | None  # None: not on PATH
    version: tuple[int, int, int] | None = None
    detail: str = ""  # e.g. the Docker server version, or why the version is unknown


def find_tool(name: str) -> str | None:
    return shutil.which(name)


def tool_version(shell: Shell, name: str) -> ToolInfo:
    """Path and version of docker (client), kind or kubectl (client)."""
    path = find_tool(name)
    if path is None:
        return ToolInfo(name, None)
    argv = {"docker": ["docker", "version", "--format", "{{.Client.Version}}"],
            "kind": ["kind", "version"],  # "kind v0.32.0 go1.24.2 linux/amd64"
            "kubectl": ["kubectl", "version", "--client", "-o", "json"]}[name]
    try:
        # `docker version` exits 1 when the engine is unreachable but still prints the client part.
        out = shell.run(argv, timeout_s=15, check=False)
    except CommandError as exc:
        return ToolInfo(name, path, None, str(exc))
    text = out.stdout
    if name == "kubectl":
        m = re.search(r'"gitVersion"\s*:\s*"([^"]+)"', text)
        text = m[1] if m else text
    return ToolInfo(name, path, parse_version(text), "" if parse_version(text) else _tail(out.stderr))


# ---------------------------------------------------------------------------- preflight


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    fix: str = ""
    warning: bool = False  # ok, but worth saying

    def __str__(self) -> str:
        mark = "ok  " if self.ok and not self.warning else ("warn" if self.ok else "FAIL")
        return f"[{mark}] {self.name}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


@dataclass
class PreflightReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.checks)

    def raise_if_failed(self, backend: str = "kind") -> None:
        if not self.ok:
            lines = "\n".join(f"  - {c}" for c in self.problems)
            raise BackendUnavailable(f"backend {backend!r} cannot run here:\n{lines}\n"
                                     "meanwhile use backend='sim' (or 'ovs' as root with Open vSwitch)")


def _check_docker(shell: Shell) -> list[Check]:
    info = tool_version(shell, "docker")
    if info.path is None:
        return [Check("docker", False, "the docker CLI is not on PATH", INSTALL_HINTS["docker"])]
    try:
        out = shell.run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout_s=15, check=False)
    except CommandError as exc:
        return [Check("docker", False, f"docker info did not answer: {exc}", INSTALL_HINTS["docker"])]
    server = out.stdout.strip()
    if out.returncode != 0 or not server or server.startswith("<no value>"):
        reason = _tail(out.stderr).splitlines()[-1] if out.stderr.strip() else "no server version reported"
        return [Check("docker", False, f"the docker CLI ({version_text(info.version)}) is installed but no Docker "
                      f"engine answers: {reason}",
                      "start the engine (sudo systemctl start docker, or Docker Desktop), or point DOCKER_HOST "
                      "at one; this backend needs a Docker engine")]
    return [Check("docker", True, f"Docker engine {server} reachable (client {version_text(info.version)})")]


def _check_versioned(shell: Shell, name: str, minimum: tuple[int, int, int], recommended: str = "") -> Check:
    info = tool_version(shell, name)
    if info.path is None:
        return Check(name, False, f"{name} is not on PATH", INSTALL_HINTS[name])
    if info.version is None:
        return Check(name, False, f"could not read the {name} version ({info.detail})", INSTALL_HINTS[name])
    if info.version < minimum:
        return Check(name, False, f"{name} {version_text(info.version)} is older than the supported "
                     f"{version_text(minimum)}", f"upgrade {name}" + (f" (Antrea CI uses {recommended})"
                                                                       if recommended else ""))
    return Check(name, True, f"{name} {version_text(info.version)} at {info.path}")


def _module_check(shell: Shell, module: str, sys_root: Path, why: str, fix_missing: str) -> Check:
    """A host kernel module: loaded (/sys/module/<m>), or loadable (`modprobe -n <m>`), or missing."""
    name = f"kernel module {module}"
    if (sys_root / "sys" / "module" / module).exists():
        return Check(name, True, f"{module} is loaded in the host kernel")
    try:
        dry = shell.run(["modprobe", "-n", module], timeout_s=10, check=False)
    except CommandError:
        dry = RawResult(1, "", "modprobe not found")
    if dry.returncode == 0:
        return Check(name, True, f"{module} is not loaded but can be (modprobe -n {module} succeeded); {why}",
                     f"sudo modprobe {module}", warning=True)
    return Check(name, False, f"the host kernel has no {module} module ({_tail(dry.stderr) or 'not found'}); {why}",
                 fix_missing)


def _check_memory(sys_root: Path, min_mib: int) -> Check:
    try:
        meminfo = (sys_root / "proc" / "meminfo").read_text()
    except OSError:
        return Check("memory", True, "could not read /proc/meminfo; skipped", warning=True)
    m = re.search(r"MemAvailable:\s+(\d+) kB", meminfo)
    if not m:
        return Check("memory", True, "MemAvailable not reported; skipped", warning=True)
    avail = int(m[1]) // 1024
    if avail < min_mib:
        return Check("memory", False, f"{avail} MiB available; a 3-node kind cluster with Antrea needs about "
                     f"{min_mib} MiB (labkit's estimate)", "close other programs or give Docker more memory")
    return Check("memory", True, f"{avail} MiB available (need about {min_mib} MiB)")


def _check_kube_client() -> Check:
    """The official Kubernetes Python client: every API call of the backend goes through it."""
    import importlib.util

    if importlib.util.find_spec("kubernetes") is None:
        return Check("kubernetes client", False, "the Kubernetes Python client (PyPI 'kubernetes') is not installed",
                     "pip install 'labkit[kind]'")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("kubernetes")
    except PackageNotFoundError:
        found = "unknown version"
    return Check("kubernetes client", True, f"kubernetes {found} (Python client)")


def preflight(mode: str = "kind", encryption: str = "none", *, shell: Shell | None = None,
              sys_root: Path = Path("/"), kind_min: tuple[int, int, int] = (0, 20, 0),
              kubectl_min: tuple[int, int, int] = (1, 23, 0), min_memory_mib: int = MIN_MEMORY_MIB,
              kind_recommended: str = "v0.32.0") -> PreflightReport:
    """Everything the kind backend needs on this host, each with an actionable message.

    ``mode="k8s"`` (an existing cluster with Antrea) needs only kubectl and the Kubernetes
    client: Docker, kind, kernel modules and memory are the cluster's business.
    """
    shell = shell or Shell()
    report = PreflightReport()
    if mode == "kind":
        report.checks += _check_docker(shell)
        report.checks.append(_check_versioned(shell, "kind", kind_min, kind_recommended))
    report.checks.append(_check_versioned(shell, "kubectl", kubectl_min))
    report.checks.append(_check_kube_client())
    if mode == "kind":
        report.checks.append(_module_check(
            shell, "openvswitch", sys_root,
            "kind Nodes share the host kernel and the antrea-agent needs its OVS datapath",
            "load it with sudo modprobe openvswitch; if it does not exist install your distribution's extra "
            "kernel modules (e.g. linux-modules-extra-$(uname -r)); WSL2 needs a kernel built with "
            "CONFIG_OPENVSWITCH, _GRE, _VXLAN, _GENEVE (Antrea docs/kind.md FAQ)"))
        if encryption.lower() == "wireguard":
            report.checks.append(_module_check(
                shell, "wireguard", sys_root, "trafficEncryptionMode wireGuard needs it (Linux >= 5.6)",
                "sudo modprobe wireguard, or a kernel >= 5.6 with CONFIG_WIREGUARD"))
        report.checks.append(_check_memory(sys_root, min_memory_mib))
    return report


__all__ = ["Shell", "RawResult", "Runner", "subprocess_runner", "ToolInfo", "tool_version", "parse_version",
           "Check", "PreflightReport", "preflight", "MIN_MEMORY_MIB"]
