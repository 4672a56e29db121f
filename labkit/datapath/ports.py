"""Port ranges as OpenFlow value/mask pairs.

OpenFlow matches ``tp_dst``/``tp_src`` with a bitmask, not a range, so a range becomes the
smallest set of aligned power-of-two blocks covering it (Antrea: ``BitRange``/``getPortMaskRange``
in pkg/agent/openflow). 1000-2000 is 7 masked matches, 32768-65535 is one: ``0x8000/0x8000``.
"""

from __future__ import annotations

FULL_MASK = 0xFFFF


def range_to_masks(lo: int, hi: int) -> list[tuple[int, int]]:
    """(value, mask) pairs whose union is exactly ``lo..hi`` (inclusive), fewest first-to-last."""
    if not 0 <= lo <= hi <= 0xFFFF:
        raise ValueError(f"port range {lo}-{hi} must be within 0-65535 with lo <= hi")
    out: list[tuple[int, int]] = []
    while lo <= hi:
        size = lo & -lo if lo else 0x10000  # largest block aligned at lo
        while size > hi - lo + 1:
            size >>= 1
        out.append((lo, FULL_MASK & ~(size - 1)))
        lo += size
    return out


def render_port(field: str, value: int, mask: int) -> str:
    """``tp_dst=80`` for an exact port, ``tp_dst=0x8000/0xc000`` for a block, nothing for any port."""
    if mask == FULL_MASK:
        return f"{field}={value}"
    if mask == 0:
        return ""
    return f"{field}={value:#x}/{mask:#x}"


__all__ = ["range_to_masks", "render_port", "FULL_MASK"]
