"""Auto-check cells for the course: assert through the reachability matrix, tell the learner.

A check compares what the lab *does* (``lab.reachability()``: computed on sim, measured on ovs and
kind) with a hand-written truth table in the upstream e2e style (``.`` allow, ``X`` drop, ``R``
reject) and returns a :class:`~labkit.course.checks.CheckResult`: a green *passed* box, or a red
*not yet* box listing every cell that differs (never the answer) with the exercise's hint. It
never raises in a learner's kernel, so "Run All" always reaches the last cell; in a grading run
(``LABKIT_GRADING=1``: ``labkit notebooks run --solve``, the course's tests) a failed check raises
:class:`~labkit.errors.CheckFailed`, so the course's tests fail when the lab misbehaves
(:func:`labkit.course.checks.conclude`).
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from ..course.checks import CheckResult, conclude, stopped_lab
from ..errors import CheckFailed
from ..policy.probe import Probe
from ..policy.reachability import Reachability
from ._style import badge, esc

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab


def reachability_result(lab: "Lab", expected: str | Reachability, port: int | None = 80, protocol: str = "TCP",
                        title: str = "check", hint: str = "", denied_as_drop: bool = False) -> CheckResult:
    """The comparison behind :func:`check_reachability`, not yet concluded (nothing shown, recorded or raised)."""
    if not lab.running:
        return stopped_lab(title, lab.name)
    intended = Reachability.from_text(expected) if isinstance(expected, str) else expected
    observed = lab.reachability(port=None if protocol.upper() == "ICMP" else port, protocol=protocol,
                                sources=list(intended.sources), destinations=list(intended.destinations))
    differences = observed.diff(intended)
    if denied_as_drop:
        differences = [d for d in differences if {d[2], d[3]} != {"drop", "reject"}]
    size = f"{len(intended.sources)}×{len(intended.destinations)} cells"
    if not differences:
        return CheckResult(title, True, f"{observed.probe} matches the intended matrix ({size}, "
                                        f"{observed.backend} backend)", data=observed)
    return CheckResult(
        title, False, f"{len(differences)} cell(s) of {observed.probe} differ from the intended matrix ({size})",
        problems=[f"{s}->{d} is {a}, should be {b}" for s, d, a, b in differences], hint=hint,
        items_html=[f"{esc(s)} → {esc(d)}: is {badge(a)}, should be {badge(b)}" for s, d, a, b in differences],
        data=observed)


def check_reachability(lab: "Lab", expected: str | Reachability, port: int | None = 80, protocol: str = "TCP",
                       title: str = "check", hint: str = "", denied_as_drop: bool = False) -> CheckResult:
    """Check that the lab's matrix for ``protocol/port`` equals ``expected`` (over its pods).

    ``expected`` lists sources and destinations as ``ns/pod``; only those pods are probed, so a
    truth table may cover part of the cluster. ``denied_as_drop``: count Reject as Drop (for
    intents that only say "denied"). The result's ``data`` is the observed matrix.
    """
    return conclude(reachability_result(lab, expected, port, protocol, title, hint, denied_as_drop))


def check_decided_by(lab: "Lab", src: str, dst: str, policy: str | None, port: int | None = 80,
                     protocol: str = "TCP", title: str = "check") -> CheckResult:
    """Check that ``policy`` (``AntreaClusterNetworkPolicy:name``, ``K8sNetworkPolicy:ns/name`` ...)
    is the one that decided ``src -> dst``, according to ``lab.explain``."""
    exp = lab.explain(src, dst, port=port, protocol=protocol)
    decided = exp.deciding.to_dict()["policy"]
    if policy and decided and (policy == decided or decided.endswith(":" + policy) or decided.endswith("/" + policy)):
        return conclude(CheckResult(title, True, f"{src} → {dst} {exp.probe} is {exp.verdict}, decided by {decided}",
                                    data=exp))
    # The message does not name the right policy: that would give the answer away.
    answer = "your answer is empty" if not policy else f"{policy!r} is not what decided {src} -> {dst} {exp.probe}"
    return conclude(CheckResult(title, False, answer, hint="click that cell in the matrix (or run lab.explain) and "
                                                           "read both sides", data=exp))


def parse_probe(text: str) -> Probe:
    """``"TCP/8080"``, ``"UDP/53"`` or ``"ICMP"`` -> Probe."""
    protocol, _, port = text.strip().upper().partition("/")
    return Probe(protocol, int(port) if port else None) if protocol != "ICMP" else Probe("ICMP", None)


def intended_matrix(lab: "Lab", intent: list[str], probe: str) -> Reachability:
    """The least-privilege matrix an intent describes: only the listed flows (and a pod to itself) allowed.

    Each intent line reads ``"frontend/web-* -> backend/api-* : TCP/8080"``; pods are matched with
    shell-style globs on ``ns/name`` (Deployment pods carry generated suffixes).
    """
    wanted = parse_probe(probe)
    flows = []
    for line in intent:
        pair, _, probe_text = line.rpartition(":")
        src, arrow, dst = pair.partition("->")
        if not arrow or not probe_text.strip():
            raise ValueError(f"intent line {line!r}: write 'src-glob -> dst-glob : PROTO/port'")
        flows.append((src.strip(), dst.strip(), parse_probe(probe_text)))
    pods = [p.key for p in lab.state.pods]
    cells = {}
    for s in pods:
        for d in pods:
            ok = s == d or any(fnmatch.fnmatchcase(s, fs) and fnmatch.fnmatchcase(d, fd) and fp == wanted
                               for fs, fd, fp in flows)
            cells[(s, d)] = "allow" if ok else "drop"
    return Reachability.from_cells(pods, pods, cells, wanted, kind="expected", backend="intent")


def check_intent(lab: "Lab", intent: list[str], probes: list[str], title: str = "check",
                 hint: str = "") -> CheckResult:
    """Least privilege: for every probe, exactly the intended flows are allowed, everything else denied."""
    if not lab.running:
        return conclude(stopped_lab(title, lab.name))
    results = []
    for probe in probes:
        p = parse_probe(probe)
        results.append(reachability_result(lab, intended_matrix(lab, intent, probe), port=p.port,
                                           protocol=p.protocol, title=probe, denied_as_drop=True))
    failed = [r for r in results if not r.passed]
    if not failed:
        return conclude(CheckResult(title, True, f"exactly the {len(intent)} intended flows are allowed on "
                                                 f"{', '.join(probes)} ({lab.backend_name} backend)",
                                    data=[r.data for r in results]))
    problems = [f"{r.title}: {p}" for r in failed for p in r.problems]
    items = [f"{esc(r.title)}: {item}" for r in failed for item in r.items_html]
    return conclude(CheckResult(title, False, f"{len(problems)} cell(s) differ from the intent on "
                                              f"{', '.join(r.title for r in failed)}", problems=problems,
                                items_html=items, hint=hint, data=[r.data for r in results]))


def check_segmentation(lab: "Lab", flows, approve=None, title: str = "check", hint: str = "") -> CheckResult:
    """Micro-segmentation from flows: on every port the flows show, every observed pod pair is
    allowed and every other pair of the application's pods is denied (``approve``: more flows
    that should be allowed, as ``plan_segmentation(approve=...)`` takes them)."""
    import pandas as pd

    from ..nsx.planner.tiers import observe

    if not lab.running:
        return conclude(stopped_lab(title, lab.name))
    table = flows if approve is None else pd.concat([flows, approve.assign(verdict="allow")], ignore_index=True)
    results = [reachability_result(lab, intended, port=port, protocol=protocol, title=f"{protocol}/{port}",
                                   denied_as_drop=True)
               for (protocol, port), intended in observe(table, lab.state).intended().items()]
    failed = [r for r in results if not r.passed]
    if not failed:
        return conclude(CheckResult(title, True, f"every observed flow is allowed and every other pod pair denied "
                                                 f"on {', '.join(r.title for r in results)} ({lab.backend_name} "
                                                 "backend)", data=[r.data for r in results]))
    problems = [f"{r.title}: {p}" for r in failed for p in r.problems]
    items = [f"{esc(r.title)}: {item}" for r in failed for item in r.items_html]
    return conclude(CheckResult(title, False, f"{len(problems)} cell(s) differ from the observed flows on "
                                              f"{', '.join(r.title for r in failed)}", problems=problems,
                                items_html=items, hint=hint, data=[r.data for r in results]))


__all__ = ["CheckFailed", "CheckResult", "check_reachability", "check_decided_by", "check_intent", "check_segmentation",
           "intended_matrix", "parse_probe", "reachability_result"]
