"""What :meth:`labkit.Lab.verify` returns: every difference found between a running datapath and the
lab's model (daemons, flows, ports, pods), and what a repair did about it.

Backend-neutral (the :class:`~labkit.backends.base.Verifies` capability returns it), so it imports
no backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One difference: on ``node``, ``component`` (``ovs-vswitchd``, ``ovsdb-server``, ``pod server``,
    ``reject agent``, ``flows``, ``ports``, ``pod x/a`` ...) is not what the model says."""

    node: str
    component: str
    problem: str
    repaired: str = ""  # what verify(repair=True) did about it ('' when nothing was done)

    def __str__(self) -> str:
        fixed = f" -> repaired: {self.repaired}" if self.repaired else ""
        return f"{self.node}: {self.component}: {self.problem}{fixed}"


@dataclass
class VerifyReport:
    """Findings of one verification; with ``repair``, ``remaining`` is what a second look still found."""

    backend: str
    findings: list[Finding] = field(default_factory=list)
    repair: bool = False
    remaining: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what was compared: nodes, flows, ports, pods
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing differs (after the repair, when one was asked for)."""
        return not (self.remaining if self.repair else self.findings)

    @property
    def drifted(self) -> bool:
        """Something differed when verify looked (even if it was repaired since)."""
        return bool(self.findings)

    def __str__(self) -> str:
        what = ", ".join(f"{n} {k}" for k, n in self.checked.items())
        head = f"verify ({self.backend}; {what}): "
        if not self.findings:
            return head + "the datapath matches the model"
        lines = [head + f"{len(self.findings)} difference{'s' if len(self.findings) != 1 else ''}"
                 + (f", {len(self.remaining)} left after repair" if self.repair else "")]
        lines += [f"  - {f}" for f in self.findings]
        lines += [f"  ! still: {f}" for f in self.remaining]
        return "\n".join(lines)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{"node": f.node, "component": f.component, "problem": f.problem,
                              "repaired": f.repaired} for f in self.findings],
                            columns=["node", "component", "problem", "repaired"])

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731  (IPython pretty printer)


__all__ = ["Finding", "VerifyReport"]
