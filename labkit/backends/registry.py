"""Which backends labkit ships, what each can do, and :func:`require`, the one way to ask.

Kept apart from :mod:`.base` so that the backends, which import :mod:`.base`, never import each
other (an import-linter contract); only :class:`~labkit.lab.Lab` and the docs' table need all
three classes at once. Importing a backend class touches no OVS, Docker or cluster.
"""

from __future__ import annotations

from typing import TypeVar

from ..errors import UnsupportedOperation
from .base import CAPABILITIES, has

C = TypeVar("C")


def backend_classes() -> dict[str, type]:
    """Every backend class labkit ships, by name, in the order the capability table lists them."""
    from .kind import KindBackend
    from .ovs import OvsBackend
    from .sim import SimBackend

    return {"sim": SimBackend, "ovs": OvsBackend, "kind": KindBackend}


def describe(capability: type) -> str:
    """The capability's one-line description (its docstring's first line)."""
    return (capability.__doc__ or capability.__name__).strip().splitlines()[0].rstrip(".").replace("``", "`")


def require(backend: object, capability: type[C]) -> C:
    """``backend`` as ``capability``, or UnsupportedOperation saying which backends can and why
    this one cannot."""
    if has(backend, capability):
        return backend  # type: ignore[return-value]
    name = getattr(backend, "name", type(backend).__name__)
    reason = getattr(type(backend), "why_not", {}).get(capability, "")
    able = [n for n, cls in backend_classes().items() if capability in cls.__mro__]
    fix = (f"use backend={able[0]!r}" + (f" (or {', '.join(repr(a) for a in able[1:])})" if len(able) > 1 else "")
           if able else "no labkit backend can yet")
    what = describe(capability)
    raise UnsupportedOperation(f"the {name} backend cannot do this ({capability.__name__}: {what[0].lower()}{what[1:]}); "
                               f"{fix}" + (f". Why not: {reason}" if reason else ""))


def capability_table() -> list[dict[str, str]]:
    """One row per capability: its name, what it does, and per backend ``yes`` or ``no: why``."""
    classes = backend_classes()
    rows = []
    for cap in CAPABILITIES:
        row = {"capability": cap.__name__, "what": describe(cap)}
        for name, cls in classes.items():
            row[name] = "yes" if cap in cls.__mro__ else f"no: {cls.why_not.get(cap, 'not implemented')}"
        rows.append(row)
    return rows


def capability_table_markdown() -> str:
    """:func:`capability_table` as the Markdown table docs/architecture.md carries."""
    rows = capability_table()
    names = list(backend_classes())
    lines = ["| capability | what it does | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    for row in rows:
        lines.append(f"| `{row['capability']}` | {cell(row['what'])} | " + " | ".join(cell(row[n]) for n in names) + " |")
    return "\n".join(lines)


__all__ = ["backend_classes", "describe", "require", "capability_table", "capability_table_markdown"]
