"""probe.py: agnhost connect command lines and verdicts from agnhost's real stderr lines.

The stderr texts are the ones test/images/agnhost/connect/connect.go prints and Antrea's e2e
(test/e2e/k8s_util.go DecideProbeResult) parses; kubectl exec passes them through and adds
"command terminated with exit code 1". Recorded responses stand in for the cluster (no Docker here).
"""

import pytest

from labkit.backends.kind.probe import ProbeTask, classify_connect, classify_ping, measure, probe_command
from labkit.backends.kind.tools import RawResult
from labkit.errors import CommandError, UnsupportedOperation
from labkit.policy.probe import Probe

from .conftest import FakeRunner

EXIT1 = "command terminated with exit code 1\n"


def test_probe_commands_are_upstreams():
    assert probe_command(Probe("TCP", 80), "10.244.2.3") == [
        "/agnhost", "connect", "10.244.2.3:80", "--timeout=1s", "--protocol=tcp"]
    assert probe_command(Probe("SCTP", 81), "10.244.2.3")[-1] == "--protocol=sctp"
    assert probe_command(Probe("UDP", 80), "fd00::5")[2] == "[fd00::5]:80"
    assert probe_command(Probe("ICMP", None), "10.244.2.3") == ["ping", "-4", "-c", "3", "-W", "1", "10.244.2.3"]


def test_probe_limits_are_said():
    with pytest.raises(UnsupportedOperation, match="source port"):
        probe_command(Probe("TCP", 80, src_port=1234), "10.0.0.1")
    with pytest.raises(UnsupportedOperation, match="echo request"):
        probe_command(Probe("ICMP", None, icmp_type=13), "10.0.0.1")


@pytest.mark.parametrize("rc,stderr,verdict", [
    (0, "", "allow"),
    (1, "TIMEOUT\n" + EXIT1, "drop"),  # TCP: SYN dropped
    (1, "REFUSED\n" + EXIT1, "reject"),  # TCP: Antrea Reject answers with RST
    (1, "TIMEOUT: read udp 10.244.1.2:45873->10.244.2.3:80: i/o timeout\n" + EXIT1, "drop"),
    (1, "UNKNOWN: read udp 10.244.1.2:45873->10.244.2.3:80: read: no route to host\n" + EXIT1, "reject"),
    (1, "UNKNOWN: read udp [fd00::2]:45873->[fd00::3]:80: read: permission denied\n" + EXIT1, "reject"),
    (1, "REFUSED: read udp 10.244.1.2:45873->10.244.2.3:80: read: connection refused\n" + EXIT1, "reject"),
    (1, "TIMEOUT\n" + EXIT1, "drop"),  # SCTP
    (1, "OTHER: operation already in progress\n" + EXIT1, "drop"),
    (1, 'error: unable to upgrade connection: container not found ("cont-80-tcp")\n', "error"),
    (1, "OTHER: dial tcp 10.244.2.3:80: connect: network is unreachable\n" + EXIT1, "error"),
])
def test_classify_agnhost_connect(rc, stderr, verdict):
    assert classify_connect(RawResult(rc, "", stderr)) == verdict


def test_classify_ping_as_antrea_e2e():
    ok = ("PING 10.10.1.2 (10.10.1.2) 56(84) bytes of data.\n64 bytes from 10.10.1.2: icmp_seq=1 ttl=64 time=0.695 ms\n"
          "\n--- 10.10.1.2 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, time 2043ms\n")
    dropped = ("PING 10.10.1.2 (10.10.1.2) 56(84) bytes of data.\n\n--- 10.10.1.2 ping statistics ---\n"
               "3 packets transmitted, 0 received, 100% packet loss, time 2037ms\n")
    rejected = ("PING 10.10.1.2 (10.10.1.2) 56(84) bytes of data.\n"
                "From 10.10.1.2 icmp_seq=1 Destination Host Prohibited\n\n--- 10.10.1.2 ping statistics ---\n"
                "3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2042ms\n")
    assert classify_ping(RawResult(0, ok)) == "allow"
    assert classify_ping(RawResult(1, dropped)) == "drop"
    assert classify_ping(RawResult(1, rejected)) == "reject"


def _tasks():
    return [ProbeTask(s, d, s.split("/")[0], s.split("/")[1], "cont-80-tcp", ip)
            for s in ("x/a", "y/a") for d, ip in (("x/a", "10.244.1.2"), ("y/a", "10.244.2.2"))]


def _exec_via(runner):
    """An exec function answering from a FakeRunner keyed by 'exec <pod> -n <ns> -c <container> -- <cmd>'."""
    return lambda t, cmd: runner(["exec", t.pod, "-n", t.namespace, "-c", t.container, "--", *cmd], input=None,
                                 timeout_s=30, env=None)


def test_measure_in_parallel_and_retries_errors_once():
    flaky = {"n": 0}

    def y_to_x(argv, _):
        flaky["n"] += 1
        return RawResult(1, "", "error: unable to upgrade connection\n") if flaky["n"] == 1 else RawResult(
            1, "", "REFUSED\n" + EXIT1)

    runner = FakeRunner([("exec a -n x -c cont-80-tcp -- /agnhost connect 10.244.2.2:80", RawResult(1, "", "TIMEOUT\n")),
                         ("exec a -n y -c cont-80-tcp -- /agnhost connect 10.244.1.2:80", y_to_x)])
    cells = measure(_exec_via(runner), _tasks(), Probe("TCP", 80), workers=4)
    assert cells == {("x/a", "x/a"): "allow", ("x/a", "y/a"): "drop", ("y/a", "x/a"): "reject",
                     ("y/a", "y/a"): "allow"}
    assert len(runner.calls) == 5  # 4 probes + 1 retry


def test_measure_reports_every_pair_without_a_verdict():
    runner = FakeRunner([("exec", RawResult(1, "", 'Error from server (NotFound): pods "a" not found\n'))])
    with pytest.raises(CommandError) as err:
        measure(_exec_via(runner), _tasks(), Probe("TCP", 80), attempts=2)
    assert "4 probe(s) gave no verdict" in str(err.value) and 'pods "a" not found' in str(err.value)
    assert len(runner.calls) == 8
