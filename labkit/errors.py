"""labkit's errors: one tree, rooted at :class:`LabkitError`.

::

    LabkitError
     ├── ManifestError          a manifest (or several objects) cannot be applied; carries every Problem
     ├── NotFoundError          a pod, policy, tier, lab ... that does not exist
     ├── ConflictError          an operation the current state forbids (delete a referenced Tier, ...)
     ├── BackendUnavailable     the chosen backend cannot run here (no root, no OVS, no Docker ...)
     ├── UnsupportedOperation   this backend cannot do that; the message names one that can
     ├── LabStateError          a lab used before start / after stop, or a broken state directory
     ├── CommandError           an external command (ip, ovs-vsctl, kind ...) failed or timed out
     ├── CheckFailed            a course exercise check did not pass (also an AssertionError)
     └── IPFIXError             (labkit.flows.ies) an IPFIX message or record that cannot be encoded/decoded

Every user-facing message says what is wrong, where (file:line, document, kind/name, field path)
and how to fix it. Foreign exceptions are translated at one boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class LabkitError(Exception):
    """Base of every error labkit raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one object of a manifest.

    ``path`` is the field path in kubectl's notation (``spec.ingress[0].ports[1].endPort``);
    ``source`` names the file (or ``<string>``), ``line`` is 1-based, ``document`` the 0-based
    index of the YAML document in a multi-document manifest.
    """

    message: str
    path: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    source: str = ""
    line: int | None = None
    document: int | None = None
    hint: str = ""

    @property
    def ref(self) -> str:
        """``Kind ns/name`` (or ``Kind name`` for cluster-scoped objects)."""
        if not self.kind:
            return ""
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {name}".strip()

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(f"{self.source}:{self.line}" if self.line else self.source)
        if self.document is not None:
            where.append(f"document {self.document}")
        if self.ref:
            where.append(self.ref)
        head = ", ".join(where)
        field_part = f"{self.path}: " if self.path else ""
        text = f"{head}: {field_part}{self.message}" if head else f"{field_part}{self.message}"
        if self.hint:
            text += f" (fix: {self.hint})"
        return text


class ManifestError(LabkitError):
    """A manifest that cannot be applied. Nothing of it was applied.

    ``problems`` lists every problem found, not just the first.
    """

    def __init__(self, problems: list[Problem] | Problem, action: str = "apply") -> None:
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        self.action = action
        count = len(self.problems)
        lines = [f"{count} problem{'s' if count != 1 else ''}; nothing was {action_past(action)}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def action_past(action: str) -> str:
    return {"apply": "applied", "delete": "deleted", "validate": "validated"}.get(action, action)


class NotFoundError(LabkitError, KeyError):
    """Something named does not exist (a pod, an object, a lab)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(LabkitError):
    """The current state forbids the operation (for example, deleting a Tier still in use)."""


class BackendUnavailable(LabkitError):
    """The chosen backend cannot run on this machine; the message says what is missing."""


class UnsupportedOperation(LabkitError):
    """This backend cannot do this; the message names a backend that can."""


class LabStateError(LabkitError):
    """A lab used in the wrong state (not started, already stopped) or a broken state directory."""


@dataclass
class CommandFailure:
    argv: list[str]
    returncode: int | None
    stderr: str = ""
    timeout_s: float | None = None
    extra: dict = field(default_factory=dict)


class CommandError(LabkitError):
    """An external command failed or timed out."""

    def __init__(self, message: str, failure: CommandFailure | None = None) -> None:
        self.failure = failure
        super().__init__(message)


class CheckFailed(LabkitError, AssertionError):
    """An exercise check that did not pass; the message says what differs and how to fix it."""

    def _render_traceback_(self) -> list[str]:  # IPython prints this instead of a traceback
        return [f"CheckFailed: {self}"]


__all__ = [
    "CheckFailed",
    "LabkitError",
    "Problem",
    "ManifestError",
    "NotFoundError",
    "ConflictError",
    "BackendUnavailable",
    "UnsupportedOperation",
    "LabStateError",
    "CommandError",
    "CommandFailure",
]
