"""Helpers for notebook 08 (SmartNIC offload): the course's policies and the exercise check.

The check returns a :class:`labkit.course.checks.CheckResult` (*passed* / *not yet*), as every
course check does; only a grading run turns a failure into :class:`labkit.errors.CheckFailed`. It
takes the notebook's ``Lab`` (duck-typed: ``reachability`` and ``manifests``) so that this package
stays below ``labkit.lab``.
"""

from __future__ import annotations

from typing import Any

from ..course.checks import CheckResult, conclude, stopped_lab
from ..errors import CheckFailed
from .profiles import get_profile
from .workload_model import Workload, compare

# What the security team first wrote: z must not reach x on TCP/80, rejected and logged.
REJECT_AND_LOG = """\
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: block-z-to-x}
spec:
  priority: 5
  appliedTo:
  - namespaceSelector: {matchLabels: {ns: x}}
  ingress:
  - action: Reject
    name: no-z
    enableLogging: true
    from:
    - namespaceSelector: {matchLabels: {ns: z}}
    ports:
    - {protocol: TCP, port: 80}
"""

# The reference solution of exercise 8: same intent, Drop, no logging.
SOLUTION = REJECT_AND_LOG.replace("action: Reject", "action: Drop").replace("    enableLogging: true\n", "")

X_PODS = ["x/a", "x/b", "x/c"]
Z_PODS = ["z/a", "z/b", "z/c"]


def _logged_rules(manifests: list[dict]) -> list[str]:
    found = []
    for m in manifests:
        spec = m.get("spec") or {}
        for direction in ("ingress", "egress"):
            for i, rule in enumerate(spec.get(direction) or []):
                if rule.get("enableLogging"):
                    found.append(f"{m.get('kind')}/{(m.get('metadata') or {}).get('name')} {direction}[{i}]")
    return found


def blocked_attempts(action: str, logging: bool, attempts_per_s: float = 2000.0) -> Workload:
    """A workload of ``attempts_per_s`` blocked connection attempts, matched by ``action`` (+ logging)."""
    share = {"reject_share": 1.0} if action == "Reject" else {"drop_share": 1.0}
    return Workload(f"{action}{' + log' if logging else ''}", long_lived_connections=0,
                    new_connections_per_s=attempts_per_s, logged_share=1.0 if logging else 0.0, **share)


def check_offload_friendly_block(lab: Any, port: int = 80, profile: str = "connectx-class",
                                 title: str = "Exercise 8") -> CheckResult:
    """Exercise 8: z cannot reach x on TCP/``port``, by Drop (no packet-in) and without audit logging."""
    if not getattr(lab, "running", True):
        return conclude(stopped_lab(title, getattr(lab, "name", "")))
    observed = lab.reachability(port=port, sources=Z_PODS, destinations=X_PODS)
    verdicts = {observed[s, d] for s in Z_PODS for d in X_PODS}
    problems = []
    if "allow" in verdicts:
        problems.append(f"some z pods still reach x on TCP/{port}")
    if "reject" in verdicts:
        problems.append("Reject answers every attempt through the agent (packet-in, then a RST): use Drop")
    logged = _logged_rules(lab.manifests())
    if logged:
        problems.append("audit logging sends each new connection to the agent: remove enableLogging "
                        f"({', '.join(logged)})")
    if problems:
        return conclude(CheckResult(title, False, f"z → x on TCP/{port} is not yet an offload-friendly block",
                                    problems=problems, data=observed))
    cost = compare([get_profile(profile)], [blocked_attempts("Reject", True), blocked_attempts("Drop", False)])
    saved = cost.packet_ins_per_s.iloc[0] - cost.packet_ins_per_s.iloc[1]
    return conclude(CheckResult(title, True, f"z → x is dropped on TCP/{port}; at 2000 attempts/s that spares the "
                                             f"agent {saved:.0f} packet-ins per second", data=observed))


__all__ = ["REJECT_AND_LOG", "SOLUTION", "CheckFailed", "blocked_attempts", "check_offload_friendly_block"]
