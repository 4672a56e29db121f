"""Auto-check cells for the course: assert through the reachability matrix, tell the learner.

A check compares what the lab *does* (``lab.reachability()``: computed on sim, measured on ovs and
kind) with a hand-written truth table in the upstream e2e style (``.`` allow, ``X`` drop, ``R``
reject). It shows a green "passed" box, or a red box listing every cell that differs, and then
raises :class:`CheckFailed` so that "Run All" stops there and so that the course's tests fail
when the lab misbehaves. IPython shows only our short message, not a traceback
(``_render_traceback_``), because the learner's next step is in the message.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from .._util.display import show_html
from ..errors import CheckFailed
from ..policy.probe import Probe
from ..policy.reachability import Reachability
from ._style import ERROR, OK, badge, esc

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab


def check_reachability(lab: "Lab", expected: str | Reachability, port: int | None = 80, protocol: str = "TCP",
                       title: str = "check", hint: str = "", denied_as_drop: bool = False) -> Reachability:
    """Assert that the lab's matrix for ``protocol/port`` equals ``expected`` (over its pods).

    ``expected`` lists sources and destinations as ``ns/pod``; only those pods are probed, so a
    truth table may cover part of the cluster. ``denied_as_drop``: count Reject as Drop (for
    intents that only say "denied"). Returns the observed matrix.
    """
    intended = Reachability.from_text(expected) if isinstance(expected, str) else expected
    observed = lab.reachability(port=None if protocol.upper() == "ICMP" else port, protocol=protocol,
                                sources=list(intended.sources), destinations=list(intended.destinations))
    differences = observed.diff(intended)
    if denied_as_drop:
        differences = [d for d in differences if {d[2], d[3]} != {"drop", "reject"}]
    if not differences:
        show_html(f"<div style='border-left:6px solid {OK};padding:4px 8px'>✓ <b>{esc(title)}: passed</b> — "
                      f"{esc(observed.probe)} matches the intended matrix ({len(intended.sources)}×"
                      f"{len(intended.destinations)} cells, {esc(observed.backend)} backend)</div>")
        return observed
    rows = "".join(f"<li>{esc(s)} → {esc(d)}: is {badge(a)}, should be {badge(b)}</li>"
                   for s, d, a, b in differences[:12])
    more = f"<li>… and {len(differences) - 12} more</li>" if len(differences) > 12 else ""
    hint_html = f"<div>hint: {esc(hint)}</div>" if hint else ""
    show_html(f"<div style='border-left:6px solid {ERROR};padding:4px 8px'>✗ <b>{esc(title)}: not yet</b> — "
                  f"{len(differences)} cell(s) of {esc(observed.probe)} differ:<ul>{rows}{more}</ul>{hint_html}</div>")
    listed = "; ".join(f"{s}->{d} is {a}, should be {b}" for s, d, a, b in differences[:6])
    raise CheckFailed(f"{title}: {len(differences)} cell(s) of {observed.probe} differ from the intended matrix: "
                      f"{listed}{' ...' if len(differences) > 6 else ''}" + (f" (hint: {hint})" if hint else ""))


def check_decided_by(lab: "Lab", src: str, dst: str, policy: str | None, port: int | None = 80,
                     protocol: str = "TCP", title: str = "check") -> None:
    """Assert that ``policy`` (``AntreaClusterNetworkPolicy:name``, ``K8sNetworkPolicy:ns/name`` ...)
    is the one that decided ``src -> dst``, according to ``lab.explain``."""
    exp = lab.explain(src, dst, port=port, protocol=protocol)
    decided = exp.deciding.to_dict()["policy"]
    if policy and decided and (policy == decided or decided.endswith(":" + policy) or decided.endswith("/" + policy)):
        show_html(f"<div style='border-left:6px solid {OK};padding:4px 8px'>✓ <b>{esc(title)}: passed</b> — "
                      f"{esc(src)} → {esc(dst)} {esc(exp.probe)} is {badge(exp.verdict)}, decided by "
                      f"<code>{esc(decided)}</code></div>")
        return
    show_html(f"<div style='border-left:6px solid {ERROR};padding:4px 8px'>✗ <b>{esc(title)}: not yet</b> — "
                  f"your answer is <code>{esc(policy)}</code>; look at the explanation of {esc(src)} → "
                  f"{esc(dst)} again</div>")
    # The message does not name the right policy: that would give the answer away.
    raise CheckFailed(f"{title}: {policy!r} is not what decided {src} -> {dst} {exp.probe}; "
                      "click that cell in the matrix (or run lab.explain) and read both sides")


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


def check_intent(lab: "Lab", intent: list[str], probes: list[str], title: str = "check") -> None:
    """Least privilege: for every probe, exactly the intended flows are allowed, everything else denied."""
    failures = []
    for probe in probes:
        p = parse_probe(probe)
        try:
            check_reachability(lab, intended_matrix(lab, intent, probe), port=p.port, protocol=p.protocol,
                               title=f"{title} ({probe})", denied_as_drop=True)
        except CheckFailed as exc:
            failures.append(str(exc))
    if failures:
        raise CheckFailed(" | ".join(failures))


def check_segmentation(lab: "Lab", flows, approve=None, title: str = "check") -> None:
    """Micro-segmentation from flows: on every port the flows show, every observed pod pair is
    allowed and every other pair of the application's pods is denied (``approve``: more flows
    that should be allowed, as ``plan_segmentation(approve=...)`` takes them)."""
    import pandas as pd

    from ..nsx.planner.tiers import observe

    table = flows if approve is None else pd.concat([flows, approve.assign(verdict="allow")], ignore_index=True)
    failures = []
    for (protocol, port), intended in observe(table, lab.state).intended().items():
        try:
            check_reachability(lab, intended, port=port, protocol=protocol, title=f"{title} ({protocol}/{port})",
                               denied_as_drop=True)
        except CheckFailed as exc:
            failures.append(str(exc))
    if failures:
        raise CheckFailed(" | ".join(failures))


__all__ = ["CheckFailed", "check_reachability", "check_decided_by", "check_intent", "check_segmentation",
           "intended_matrix", "parse_probe"]
