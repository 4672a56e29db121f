"""``lab.verify()`` on the ovs backend: every node's daemons, flows, ports and pods against the model.

* daemons: :meth:`.health.Keeper.check` (pidfiles, OpenFlow answer, Reject agent, pod server);
* flows: ``ovs-ofctl diff-flows`` of br-int against the flows compiled *now* from the lab's
  policies (:mod:`labkit.datapath.drift`), reported per table and cookie, i.e. per policy rule;
* ports: br-int's interfaces and OpenFlow port numbers against the topology;
* pods: namespace, veth, address, default route and static neighbour entries of every pod, and
  namespaces of the lab that belong to no pod.

With ``repair=True`` the daemons are restarted, flows reinstalled, broken pods rebuilt (removed
and created again, all or nothing) and stray namespaces deleted; a second look gives
``remaining``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from ...datapath.drift import FlowDrift
from ...datapath.topology import Topology
from ...errors import LabkitError
from ...policy.compiler import PolicySet
from ..verification import Finding, VerifyReport
from . import names
from .daemons import OVSDB, VSWITCHD
from .health import AGENT, PODSERVER

from .flowinfo import describe_cookie
from .realize import existing_netns

if TYPE_CHECKING:  # pragma: no cover
    from ...datapath.topology import NodeSpec
    from .flowsync import FlowSync
    from .health import Keeper
    from .realize import Realization

DAEMONS = (OVSDB, VSWITCHD, AGENT, PODSERVER)


class VerifiedBackend(Protocol):
    """What verify needs of the ovs backend (which passes itself; no import of it here)."""

    lab: str
    realization: "Realization"
    keeper: "Keeper"
    flowsync: "FlowSync"
    policy_set: PolicySet | None

    def compiled_text(self, policy_set: PolicySet, topology: Topology, node: "NodeSpec") -> str: ...


def describe_drift(drift: FlowDrift, policy_set: PolicySet | None) -> list[str]:
    """One line per (table, cookie) that drifted, naming the policy rule the cookie stands for."""
    lines = []
    for g in drift.groups():
        info = describe_cookie(g.cookie, policy_set)
        who = (f"{info['policy']} {info['rule']}" if info.get("policy") else info["category"]) if info else ""
        counts = ", ".join(f"{n} {label}" for n, label in ((g.missing, "missing"), (g.unexpected, "not compiled"),
                                                           (g.changed, "with other actions")) if n)
        lines.append(f"table {g.table}, cookie {g.cookie:#x} ({who}): {counts}; e.g. {g.examples[0]}")
    return lines


def inspect(backend: VerifiedBackend, topology: Topology, policy_set: PolicySet) -> tuple[list[Finding], dict]:
    found: list[Finding] = []
    checked = {"nodes": 0, "flows": 0, "ports": 0, "pods": 0}
    realization = backend.realization
    for node in topology.nodes:
        checked["nodes"] += 1
        health = backend.keeper.check(node)
        found += [Finding(node.name, component, problem) for component, problem in health.components]
        text = backend.compiled_text(policy_set, topology, node)
        checked["flows"] += text.count("\n")
        if VSWITCHD not in health.dead:
            try:
                drift = realization.diff_flows(node, text)
            except LabkitError as exc:
                found.append(Finding(node.name, "flows", f"cannot compare: {exc}"))
            else:
                found += [Finding(node.name, "flows", line) for line in describe_drift(drift, policy_set)]
        try:
            ports = realization.inspect_ports(topology, node)
        except LabkitError as exc:
            ports = [f"cannot list br-int's ports: {str(exc).splitlines()[0]}"]
        checked["ports"] += 2 + len(topology.pods_on(node.name))
        found += [Finding(node.name, "ports", p) for p in ports]
    pods = list(topology.pods.values())
    checked["pods"] = len(pods)
    for key, problems in sorted(realization.inspect_pods(topology, pods).items()):
        found += [Finding(topology.pods[key].node, f"pod {key}", p) for p in problems]
    expected = {names.underlay_netns(backend.lab)} | {names.node_netns(backend.lab, n.name) for n in topology.nodes}
    expected |= {names.pod_netns(backend.lab, k) for k in topology.pods}
    expected |= {names.node_host_netns(backend.lab, n.name) for n in topology.nodes}  # SmartNIC DPU hosts
    present = existing_netns()
    for netns in sorted(ns for ns in present if ns.startswith(names.lab_prefix(backend.lab))):
        if netns not in expected:
            found.append(Finding("-", "namespaces", f"{netns} belongs to no pod or node of the model"))
    for node in topology.nodes:
        if names.node_netns(backend.lab, node.name) not in present:
            found.append(Finding(node.name, "namespaces", f"{names.node_netns(backend.lab, node.name)} is missing"))
    return found, checked


def repair(backend: VerifiedBackend, topology: Topology, policy_set: PolicySet, found: list[Finding]) -> dict:
    """Fix what ``found`` lists; returns {(node, component): what was done}."""
    done: dict[tuple[str, str], str] = {}
    realization = backend.realization
    for node in topology.nodes:
        mine = [f for f in found if f.node == node.name]
        if any(f.component in DAEMONS for f in mine):
            check = backend.keeper.check(node)
            if not check.ok:
                actions = backend.keeper.repair(node, check)
                for f in mine:
                    if f.component in DAEMONS:
                        done[(f.node, f.component)] = ", ".join(actions)
    broken = sorted({f.component[4:] for f in found if f.component.startswith("pod ")})
    if broken:
        pods = [topology.pods[k] for k in broken]
        realization.remove_pods(topology, pods)
        realization.add_pods(topology, pods)
        for node_name in {p.node for p in pods}:
            realization.start_server(topology, topology.node(node_name))
        for key in broken:
            done[(topology.pods[key].node, f"pod {key}")] = "rebuilt the pod (namespace, veth, port, address, route, " \
                                                            "neighbours)"
    stray = [f.problem.split(" ", 1)[0] for f in found if f.component == "namespaces" and "belongs to no" in f.problem]
    if stray:
        from .realize import _ip_batch

        _ip_batch([f"netns del {ns}" for ns in sorted(stray, key=lambda ns: -ns.count("."))])
        done[("-", "namespaces")] = "deleted"
    texts = {n.name: (n, backend.compiled_text(policy_set, topology, n)) for n in topology.nodes}
    flow_nodes = {f.node for f in found if f.component == "flows"} | {f.node for f in found if f.component == "ports"}
    for name in flow_nodes:
        node, text = texts[name]
        backend.flowsync.install(node, text)
        done[(name, "flows")] = "reinstalled the compiled flows"
        done.setdefault((name, "ports"), "reinstalled the flows (port problems need the node rebuilt)")
    backend.policy_set = policy_set
    return done


def verify(backend: VerifiedBackend, topology: Topology, policy_set: PolicySet, repair_: bool) -> VerifyReport:
    t0 = time.monotonic()
    found, checked = inspect(backend, topology, policy_set)
    report = VerifyReport("ovs", found, repair_, checked=checked)
    if repair_ and found:
        done = repair(backend, topology, policy_set, found)
        report.findings = [replace(f, repaired=done.get((f.node, f.component), "")) for f in found]
        report.remaining, _ = inspect(backend, topology, policy_set)
    report.elapsed_s = time.monotonic() - t0
    return report


__all__ = ["verify", "inspect", "repair", "describe_drift"]
