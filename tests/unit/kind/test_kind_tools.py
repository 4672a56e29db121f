"""tools.py: the subprocess boundary and preflight (real on this machine, faked elsewhere).

Docker cannot run here, so preflight is exercised twice: for real (it must say there is no
Docker engine) and against a FakeRunner that answers like real docker/kind/kubectl would.
"""

import os
import subprocess
from pathlib import Path

import pytest

from labkit.backends.kind.tools import RawResult, Shell, parse_version, preflight
from labkit.errors import BackendUnavailable, CommandError

from .conftest import FakeRunner, host_ok_responses

NO_DOCKER_HERE = not Path("/var/run/docker.sock").exists() and not os.environ.get("DOCKER_HOST")


def test_shell_maps_missing_tool_to_command_error_with_install_hint():
    def runner(argv, **_):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    with pytest.raises(CommandError) as err:
        Shell(runner).run(["kind", "get", "clusters"])
    assert "kind is not installed" in str(err.value) and "kind.sigs.k8s.io" in str(err.value)
    assert err.value.failure.argv == ["kind", "get", "clusters"] and err.value.failure.returncode is None


def test_shell_maps_timeout_and_exit_code():
    def slow(argv, **kw):
        raise subprocess.TimeoutExpired(argv, kw["timeout_s"], stderr=b"still waiting")

    with pytest.raises(CommandError, match=r"timed out after 5 s: kubectl rollout status") as err:
        Shell(slow).run(["kubectl", "rollout", "status", "ds/antrea-agent"], timeout_s=5, hint="look at the pods")
    assert err.value.failure.timeout_s == 5 and "fix: look at the pods" in str(err.value)
    failing = FakeRunner([("kubectl apply", RawResult(1, "", 'Error from server (NotFound): namespaces "q" not found'))])
    with pytest.raises(CommandError) as err:
        Shell(failing).run(["kubectl", "apply", "-f", "-"], input="{}")
    text = str(err.value)
    assert "exit code 1: kubectl apply -f -" in text and 'namespaces "q" not found' in text
    assert err.value.failure.returncode == 1
    assert Shell(failing).run(["kubectl", "apply"], check=False).returncode == 1


def test_parse_version():
    assert parse_version("kind v0.32.0 go1.24.6 linux/amd64") == (0, 32, 0)
    assert parse_version("28.2.2") == (28, 2, 2)
    assert parse_version("nothing") is None


@pytest.mark.skipif(not NO_DOCKER_HERE, reason="this host has a Docker socket; the assertion is about hosts without")
def test_real_preflight_on_this_machine_says_there_is_no_docker():
    report = preflight("kind")
    docker = report.check("docker")
    assert not report.ok and not docker.ok
    assert "Docker engine" in docker.message or "not on PATH" in docker.message
    assert "docker" in docker.fix
    with pytest.raises(BackendUnavailable, match="docker") as err:
        report.raise_if_failed()
    assert "backend='sim'" in str(err.value)


def test_preflight_all_good(sys_root, tools_on_path):
    report = preflight("kind", shell=Shell(FakeRunner(host_ok_responses())), sys_root=sys_root)
    assert report.ok, str(report)
    assert [c.name for c in report.checks] == ["docker", "kind", "kubectl", "kubernetes client",
                                               "kernel module openvswitch", "memory"]
    assert "Docker engine 28.2.2 reachable" in report.check("docker").message


def test_preflight_messages_when_things_are_missing(sys_root, tools_on_path, tmp_path):
    runner = FakeRunner(host_ok_responses())
    runner.on("docker info", RawResult(1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                                              "Is the docker daemon running?\n"))
    runner.on("kind version", RawResult(0, "kind v0.11.1 go1.16.4 linux/amd64\n"))
    runner.on("modprobe -n openvswitch", RawResult(1, "", "modprobe: FATAL: Module openvswitch not found\n"))
    runner.on("modprobe -n wireguard", RawResult(0, "insmod /lib/modules/6.8.0/kernel/drivers/net/wireguard.ko\n"))
    (sys_root / "sys" / "module" / "openvswitch").rmdir()
    (sys_root / "proc" / "meminfo").write_text("MemAvailable:    2097152 kB\n")
    report = preflight("kind", "wireGuard", shell=Shell(runner), sys_root=sys_root)
    failed = {c.name: c for c in report.problems}
    assert set(failed) == {"docker", "kind", "kernel module openvswitch", "memory"}
    assert "Is the docker daemon running?" in failed["docker"].message
    assert "v0.11.1 is older than the supported v0.20.0" in failed["kind"].message
    assert "v0.32.0" in failed["kind"].fix
    assert "sudo modprobe openvswitch" in failed["kernel module openvswitch"].fix
    assert "2048 MiB available" in failed["memory"].message
    wg = report.check("kernel module wireguard")
    assert wg.ok and wg.warning and wg.fix == "sudo modprobe wireguard"
    with pytest.raises(BackendUnavailable) as err:
        report.raise_if_failed()
    assert str(err.value).count("  - [FAIL]") == 4  # every problem at once


def test_preflight_k8s_mode_needs_only_kubectl(tools_on_path, sys_root):
    report = preflight("k8s", shell=Shell(FakeRunner(host_ok_responses())), sys_root=sys_root)
    assert [c.name for c in report.checks] == ["kubectl", "kubernetes client"] and report.ok


def test_preflight_tool_not_on_path(monkeypatch, sys_root):
    from labkit.backends.kind import tools

    monkeypatch.setattr(tools, "find_tool", lambda name: None if name == "kind" else f"/usr/bin/{name}")
    report = preflight("kind", shell=Shell(FakeRunner(host_ok_responses())), sys_root=sys_root)
    assert report.problems[0].name == "kind" and "not on PATH" in report.problems[0].message
