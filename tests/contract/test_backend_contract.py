"""The backend contract (labkit.backends.base): per capability the same assertions on every backend
that declares it, and for a backend that does not, the clear UnsupportedOperation naming one that
does. A new backend passes this file before anything else.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pandas as pd
import pytest

from labkit import Lab, UnsupportedOperation
from labkit.backends import base
from labkit.backends.base import (AttacksHost, Captures, DumpsFlows, Encrypts, Executes, Explains, GeneratesTraffic,
                                  ReportsOffload, Resumable, ShowsRepresentors, SteadyTraffic, Traceflows, Verifies,
                                  has)
from labkit.backends.registry import backend_classes, require
from labkit.flows import TrafficProfile, TrafficRule

POLICY = str(Path(__file__).resolve().parents[2] / "policies" / "guard-x.yaml")  # y dropped, z rejected on TCP/80


def able(capability: type) -> list[str]:
    return [name for name, cls in backend_classes().items() if capability in cls.__mro__]


def refused(lab: Lab, capability: type, call) -> bool:
    """True (after checking the refusal) when the lab's backend lacks ``capability``."""
    if has(lab.backend, capability):
        return False
    with pytest.raises(UnsupportedOperation) as info:
        call()
    text = str(info.value)
    assert capability.__name__ in text and f"the {lab.backend.name} backend cannot" in text
    assert f"backend={able(capability)[0]!r}" in text, text  # names a backend that can
    assert "Why not: " in text, text  # and why this one cannot
    return True


def cross_node_pair(lab: Lab, src_ns: str, dst_ns: str) -> tuple[str, str]:
    pods = lab.state.pods
    return next((s.key, d.key) for s in pods for d in pods
                if s.namespace == src_ns and d.namespace == dst_ns and s.node_name != d.node_name)


@pytest.fixture
def guarded(contract_lab):
    contract_lab.reset()
    contract_lab.apply(POLICY)
    yield contract_lab
    contract_lab.reset()


# ------------------------------------------------------------------------------ the classes


@pytest.mark.parametrize("name", ["sim", "ovs", "kind"])
def test_declared_capabilities_are_implemented_and_missing_ones_explained(name):
    cls = backend_classes()[name]
    assert base.Backend in cls.__mro__ and cls.name == name
    for capability in base.CAPABILITIES:
        methods = [m for m, v in vars(capability).items() if inspect.isfunction(v)]
        if capability in cls.__mro__:
            for method in methods:  # the protocol's stub must never be what runs
                assert getattr(cls, method) is not getattr(capability, method), f"{name}.{method} not implemented"
            assert capability not in cls.why_not
        else:
            assert cls.why_not.get(capability), f"{name} lacks {capability.__name__} and does not say why"
    assert set(cls.why_not) <= set(base.CAPABILITIES)


def test_every_capability_has_a_backend():
    for capability in base.CAPABILITIES:
        assert able(capability), capability


# ------------------------------------------------------------------------------ Backend


def test_reachability_is_the_engines(guarded):
    observed = guarded.reachability(port=80)
    expected = guarded.expected_reachability(port=80)
    assert observed.to_frame().equals(expected.to_frame())
    assert observed["y/a", "x/a"] == "drop"
    assert observed["z/b", "x/c"] == "reject"
    assert observed["x/a", "y/b"] == "allow"
    assert guarded.reachability(port=81)["y/a", "x/a"] == "allow"  # the rule names port 80 only


# ------------------------------------------------------------------------------ capabilities


def test_explains(guarded):
    if refused(guarded, Explains, lambda: guarded.explain("y/a", "x/a")):
        return
    drop, reject, allow = (guarded.explain("y/a", "x/a"), guarded.explain("z/a", "x/b"),
                           guarded.explain("x/a", "y/a"))
    assert (drop.verdict, reject.verdict, allow.verdict) == ("drop", "reject", "allow")
    assert drop.deciding.direction == "Ingress" and drop.deciding.rule.rule_name == "no-y"
    assert reject.deciding.rule.policy_ref.endswith("guard-x") and reject.deciding.rule.rule_name == "no-z"
    assert allow.egress.action == allow.ingress.action == "Allow"


def test_traceflows(guarded):
    if refused(guarded, Traceflows, lambda: guarded.traceflow("y/a", "x/a")):
        return
    src, dst = cross_node_pair(guarded, "y", "x")
    dropped = guarded.traceflow(src, dst, port=80)
    assert dropped.phase == "Succeeded" and dropped.final_action == "Dropped"
    assert any(o.network_policy.endswith("guard-x") and o.network_policy_rule == "no-y"
               for _, o in dropped.observations)
    src, dst = cross_node_pair(guarded, "x", "y")
    delivered = guarded.traceflow(src, dst, port=80)
    assert delivered.final_action == "Delivered"
    nodes = [r.node for r in delivered.results]
    assert nodes == [guarded.pod(src).node_name, guarded.pod(dst).node_name]  # sender, then receiver
    assert delivered.to_dict()["kind"] == "Traceflow"


def test_dumps_flows(guarded):
    node = guarded.pod("x/a").node_name
    if refused(guarded, DumpsFlows, lambda: guarded.dump_flows(node)):
        return
    flows = guarded.dump_flows(node)
    assert {"table", "priority", "match", "actions", "n_packets", "policy", "rule"} <= set(flows.columns)
    mine = flows[flows.policy.fillna("").str.endswith("guard-x")]
    assert len(mine) and set(mine.table) & {"IngressRule", "IngressMetric"}
    ingress = guarded.dump_flows(node, table="IngressRule")
    assert len(ingress) and set(ingress.table) == {"IngressRule"}


def test_executes(guarded):
    # -t 1: GNU wget (what an ovs pod runs: it shares this machine's filesystem) retries 20 times;
    # busybox's, in a cluster's pods, never does.
    wget = lambda ip: ["wget", "-O-", "-T", "1", "-t", "1", f"http://{ip}:80/"]  # noqa: E731
    if refused(guarded, Executes, lambda: guarded.exec("x/a", wget(guarded.pod_ip("y/a")))):
        return
    allowed = guarded.exec("x/a", wget(guarded.pod_ip("y/a")))
    assert allowed.exit_code == 0, allowed
    dropped = guarded.exec("y/a", wget(guarded.pod_ip("x/a")))
    assert dropped.exit_code != 0 and dropped.exit_code != 124  # wget's own timeout, not the runner's
    rejected = guarded.exec("z/a", wget(guarded.pod_ip("x/a")))
    assert rejected.exit_code != 0 and b"refused" in rejected.stderr.lower()


def test_encrypts_and_captures(guarded):
    src, dst = cross_node_pair(guarded, "x", "y")
    if refused(guarded, Captures, lambda: guarded.capture(src, dst)):
        assert refused(guarded, Encrypts, lambda: guarded.set_encryption("wireGuard"))
        return
    clear = guarded.capture(src, dst)
    assert clear.mode == "none" and clear.contains(b"HTTP/1.1")  # the GET is readable on the underlay
    if refused(guarded, Encrypts, lambda: guarded.set_encryption("wireGuard")):
        return
    before = guarded.reachability(port=80).to_frame()
    try:
        guarded.set_encryption("wireGuard")
        assert guarded.encryption == "wireGuard"
        sealed = guarded.capture(src, dst)
        assert sealed.mode == "wireGuard" and not sealed.contains(b"HTTP/1.1")
        assert guarded.reachability(port=80).to_frame().equals(before)  # encryption changes no verdict
    finally:
        guarded.set_encryption("none")
    assert guarded.encryption == "none"


def test_reports_offload(guarded):
    if refused(guarded, ReportsOffload, lambda: guarded.offload_report()):
        return
    guarded.reachability(port=80)  # some traffic through the datapath
    report = guarded.offload_report(profile="connectx-class")
    assert report.backend == guarded.backend.name and report.source in ("measured", "modelled")
    assert len(report.flows()) and isinstance(report.totals(), pd.DataFrame)
    assert report.packets_nic + report.packets_host > 0


def test_shows_representors(guarded):
    if refused(guarded, ShowsRepresentors, lambda: guarded.representors()):
        return
    table = guarded.representors()
    assert set(table.pod) == {p.key for p in guarded.state.pods}


def test_generates_traffic(guarded):
    profile = TrafficProfile("contract", (
        TrafficRule("x-to-y", "x/a", "y/b", 80, connections_per_minute=6, duration_s=1.0),
        TrafficRule("y-to-x", "y/a", "x/a", 80, connections_per_minute=6, duration_s=1.0, probe=True),
    ))
    if refused(guarded, GeneratesTraffic, lambda: guarded.generate_traffic(profile)):
        return
    run = guarded.generate_traffic(profile, duration_s=20, seed=1)
    flows = guarded.flows(run)
    allowed = flows[(flows.sourcePodName == "a") & (flows.destinationPodName == "b")]
    denied = flows[(flows.sourcePodName == "a") & (flows.destinationPodName == "a")
                   & (flows.sourcePodNamespace == "y")]
    assert len(allowed) and len(denied)
    assert set(denied.ingressNetworkPolicyName) == {"guard-x"}
    assert set(denied.ingressNetworkPolicyRuleName) == {"no-y"}


def test_steady_traffic(guarded):
    if refused(guarded, SteadyTraffic, lambda: guarded.steady_traffic([("x/a", "y/b")])):
        return
    handle = guarded.steady_traffic([("x/a", "y/b")], port=80, pps=20)
    try:
        deadline = time.monotonic() + 5
        while handle.stats.datagrams_sent < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        handle.stop()
    assert handle.stats.datagrams_sent >= 5 and not handle.stats.errors


def test_attacks_host(guarded):
    node = guarded.pod("x/a").node_name
    if refused(guarded, AttacksHost, lambda: guarded.compromise_host(node)):
        return
    log = guarded.compromise_host(node)
    assert isinstance(log, pd.DataFrame) and len(log)
    assert guarded.reachability(port=80)["y/a", "x/a"] == "drop"  # root on the host changed no verdict


def test_verifies(guarded):
    if refused(guarded, Verifies, lambda: guarded.verify()):
        return
    report = guarded.verify()
    assert report.ok and not report.findings, str(report)
    assert report.checked["pods"] == len(guarded.state.pods) and report.checked["flows"] > 0
    assert "matches the model" in str(report) and report.to_frame().empty
    repaired = guarded.verify(repair=True)  # nothing to repair on a healthy lab
    assert repaired.ok and not repaired.findings and not repaired.remaining
    assert guarded.reachability(port=80).to_frame().equals(guarded.expected_reachability(port=80).to_frame())


def test_resumable(contract_lab):
    backend = contract_lab.backend
    if not has(backend, Resumable):
        with pytest.raises(UnsupportedOperation, match="backend='kind'"):
            require(backend, Resumable)
        return
    contract_lab.reset()
    contract_lab.save()
    again = Lab.resume(contract_lab.name, contract_lab.state_dir)
    assert again.reachability(port=80).to_frame().equals(contract_lab.reachability(port=80).to_frame())
