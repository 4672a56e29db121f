"""Where ``?action=revise`` puts a security policy or a rule: the sequence numbers it computes (pure).

NSX (Policy API "Revise the positioning of security policies" / "... of rule"; vcf-nsx 9.1
``SecurityPolicies.policy_revise_security_policies`` and ``Rules.policy_revise_security_rule``):
``POST .../security-policies/{id}?action=revise`` (or ``.../rules/{id}?action=revise``) with
``operation`` = ``insert_top`` (the default) | ``insert_bottom`` | ``insert_before`` |
``insert_after`` and, for the last two, ``anchor_path`` naming the policy (rule) to stand next to.
NSX computes the sequence number and answers the revised object carrying it (the SDK's
``SecurityPolicy.sequence_number`` doc: "will reflect the value of the computed sequence number").

How NSX picks the numbers is not documented, so labkit chooses [D], and keeps the documented
contract: afterwards the object sorts exactly where asked, every other object keeps its relative
order, numbers stay in the schema's range (policies 0..999,999, rules >= 0), and as few objects as
possible change. The object takes the first free number after its new predecessor (or, at the top,
the number just below its new successor, down to 0); when there is no free number, the objects
after it are pushed up by the least that keeps them in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OPERATIONS = ("insert_top", "insert_bottom", "insert_before", "insert_after")
DEFAULT_OPERATION = "insert_top"


@dataclass(frozen=True)
class Placed:
    """One object in evaluation order: its id and its ``sequence_number``."""

    id: str
    sequence_number: int


class NoRoom(ValueError):
    """Moving the object would push another past the largest allowed sequence number."""


def reposition(target: str, siblings: Sequence[Placed], operation: str, anchor: str | None = None,
               *, maximum: int | None = None) -> dict[str, int]:
    """New sequence numbers (id -> number) for ``target`` and for every sibling that must move.

    ``siblings`` are the other objects of the same ordering (policies of one category, rules of
    one policy), in any order; ``anchor`` is a sibling id for ``insert_before``/``insert_after``.
    Raises ``ValueError`` for an unknown operation or anchor and :class:`NoRoom` past ``maximum``.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation {operation!r} must be one of {', '.join(OPERATIONS)}")
    order = sorted((s for s in siblings if s.id != target), key=lambda s: (s.sequence_number, s.id))
    if operation == "insert_top":
        k = 0
    elif operation == "insert_bottom":
        k = len(order)
    else:
        ids = [s.id for s in order]
        if anchor not in ids:
            raise ValueError(f"anchor {anchor!r} is not one of the objects being ordered")
        k = ids.index(anchor) + (operation == "insert_after")
    before = order[k - 1].sequence_number if k > 0 else None
    after = order[k].sequence_number if k < len(order) else None
    if before is not None:
        number = before + 1
    elif after is not None:
        number = max(after - 1, 0)
    else:
        number = 0
    # Ties sort by id, so the target must be strictly between its neighbours to sort there.
    moved = {target: number}
    last = number
    for sibling in order[k:]:
        if sibling.sequence_number > last:
            break  # it and everything after it already sort after the target
        last += 1
        moved[sibling.id] = last
    if maximum is not None and max(moved.values()) > maximum:
        raise NoRoom(f"no sequence number is left: moving it would need {max(moved.values())}, "
                     f"more than {maximum}")
    return moved
