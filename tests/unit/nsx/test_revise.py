"""``POST .../security-policies/{id}?action=revise`` and ``.../rules/{id}?action=revise``: the
object lands where ``operation``/``anchor_path`` say, the answer carries its computed
``sequence_number``; driven with NSX's own SDK (vcf-nsx) over HTTPS and with plain requests."""

from __future__ import annotations

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from labkit.nsx.manager import NSXApiError
from labkit.nsx.manager.revise import OPERATIONS, NoRoom, Placed, reposition

from .conftest import POLICIES

PP = "/infra/domains/default/security-policies"


def _order(admin) -> list[str]:
    policies = admin.get(POLICIES)["results"]
    return [p["id"] for p in sorted(policies, key=lambda p: (p["sequence_number"], p["id"]))]


def _rule_order(admin, policy_id: str) -> list[str]:
    return [r["id"] for r in admin.get(f"{POLICIES}/{policy_id}")["rules"]]


@pytest.fixture
def three(admin):
    """Policies a, b, c (10, 20, 30) in Application, e in Emergency; a has rules r1..r3 (1, 2, 3)."""
    for seq, pid in ((10, "a"), (20, "b"), (30, "c")):
        admin.patch(f"{POLICIES}/{pid}", {"category": "Application", "sequence_number": seq})
    admin.patch(f"{POLICIES}/e", {"category": "Emergency", "sequence_number": 5})
    admin.patch(f"{POLICIES}/a", {"rules": [{"id": f"r{i}", "sequence_number": i} for i in (1, 2, 3)]})
    return admin


@pytest.fixture
def sdk(nsx):
    """VMware's NSX SDK (vcf-nsx) configured for the mock: REST over HTTPS, admin, the lab CA."""
    pytest.importorskip("vcf.nsx", reason="pip install vcf-nsx (labkit[test])")
    from vmware.vapi.lib.connect import get_requests_connector
    from vmware.vapi.security.user_password import create_user_password_security_context
    from vmware.vapi.stdlib.client.factories import StubConfigurationFactory

    session = requests.Session()
    session.verify, session.trust_env = str(nsx.ca_path), False
    connector = get_requests_connector(session=session, msg_protocol="rest", url=nsx.url)
    connector.set_security_context(create_user_password_security_context(nsx.admin_user, nsx.admin_password))
    yield StubConfigurationFactory.new_std_configuration(connector)
    session.close()


def test_sdk_revises_security_policies(three, sdk):
    from vcf.nsx.model_client import SecurityPolicy
    from vcf.nsx.policy.api.v1.infra.domains_client import SecurityPolicies

    policies = SecurityPolicies(sdk)
    c = policies.policy_read_security_policy_for_domain("default", "c")
    top = policies.policy_revise_security_policies(
        "default", "c", c, operation=SecurityPolicies.POLICY_REVISE_SECURITY_POLICIES_OPERATION_INSERT_TOP)
    assert isinstance(top, SecurityPolicy) and top.id == "c" and top.sequence_number == 9
    assert _order(three) == ["e", "c", "a", "b"]  # e: Emergency, ordered on its own
    after = policies.policy_revise_security_policies(
        "default", "c", SecurityPolicy(id="c"), anchor_path=f"{PP}/a",
        operation=SecurityPolicies.POLICY_REVISE_SECURITY_POLICIES_OPERATION_INSERT_AFTER)
    assert after.sequence_number == 11 and _order(three) == ["e", "a", "c", "b"]
    bottom = policies.policy_revise_security_policies("default", "a", SecurityPolicy(id="a"),
                                                      operation="insert_bottom")
    assert bottom.sequence_number == 21 and _order(three) == ["e", "c", "b", "a"]
    assert three.get(f"{POLICIES}/a")["_revision"] > 0  # a revise is a change: realization follows


def test_sdk_revises_rules(three, sdk):
    from vcf.nsx.model_client import Rule
    from vcf.nsx.policy.api.v1.infra.domains.security_policies_client import Rules

    rules = Rules(sdk)
    before = three.get(f"{POLICIES}/a")["_revision"]
    r3 = rules.policy_revise_security_rule("default", "a", "r3", Rule(id="r3"), operation="insert_top")
    assert isinstance(r3, Rule) and r3.sequence_number == 0 and r3.rule_id > 0
    assert _rule_order(three, "a") == ["r3", "r1", "r2"]
    r1 = rules.policy_revise_security_rule("default", "a", "r1", Rule(id="r1"),
                                           anchor_path=f"{PP}/a/rules/r2", operation="insert_after")
    assert r1.sequence_number == 3 and _rule_order(three, "a") == ["r3", "r2", "r1"]
    assert three.get(f"{POLICIES}/a")["_revision"] == before + 2  # a rule change moves its policy


def test_insert_before_pushes_the_next_ones_when_there_is_no_gap(three):
    three.patch(f"{POLICIES}/a", {"rules": [{"id": "r4", "sequence_number": 4}]})
    moved = three.post(f"{POLICIES}/a/rules/r4", {}, action="revise", operation="insert_before",
                       anchor_path=f"{PP}/a/rules/r2")
    assert moved["sequence_number"] == 2
    rules = three.get(f"{POLICIES}/a")["rules"]
    assert [(r["id"], r["sequence_number"]) for r in rules] == [("r1", 1), ("r4", 2), ("r2", 3), ("r3", 4)]


def test_default_operation_is_insert_top_and_the_answer_is_the_policy(three):
    moved = three.post(f"{POLICIES}/b", {"id": "b"}, action="revise")
    assert moved["id"] == "b" and moved["sequence_number"] == 9 and "rules" in moved
    assert _order(three)[:2] == ["e", "b"]


@pytest.mark.parametrize(("query", "body", "status", "words"), [
    ({"action": "revise", "operation": "insert_sideways"}, {}, 400, "must be one of insert_top"),
    ({"action": "revise", "operation": "insert_before"}, {}, 400, "needs anchor_path"),
    ({"action": "revise", "operation": "insert_after", "anchor_path": f"{PP}/e"}, {}, 400, "Invalid path"),
    ({"action": "revise", "operation": "insert_after", "anchor_path": f"{PP}/c"}, {}, 400, "Invalid path"),
    ({"action": "revise", "operation": "insert_after", "anchor_path": "/nowhere"}, {}, 400, "Invalid path"),
    ({"action": "reorder"}, {}, 400, "only POST action here is action=revise"),
    ({}, {}, 400, "only POST action here is action=revise"),
    ({"action": "revise"}, {"id": "b"}, 400, "does not match"),
    ({"action": "revise"}, {"_revision": 99}, 412, "current _revision"),
])
def test_bad_revise_requests_answer_nsx_errors_and_change_nothing(three, query, body, status, words):
    before = three.get(POLICIES)
    with pytest.raises(NSXApiError) as exc:
        three.post(f"{POLICIES}/c", body, **query)
    assert exc.value.status == status and words in exc.value.error_message
    assert three.get(POLICIES) == before


def test_revise_of_what_does_not_exist_is_404(three):
    for path in (f"{POLICIES}/nope", f"{POLICIES}/a/rules/nope", f"{POLICIES}/nope/rules/r1"):
        with pytest.raises(NSXApiError) as exc:
            three.post(path, {}, action="revise")
        assert exc.value.status == 404


def test_malformed_revise_bodies_answer_400_and_the_server_keeps_serving(nsx, three):
    with requests.Session() as s:
        s.auth, s.verify, s.trust_env = (nsx.admin_user, nsx.admin_password), str(nsx.ca_path), False
        for raw in (b"{", b"[1, 2]", b"\xff\xfe", b'"text"', b"null"):
            answer = s.post(f"{nsx.url}{POLICIES}/a?action=revise", data=raw,
                            headers={"Content-Type": "application/json"}, timeout=10)
            assert answer.status_code == 400, raw
            assert {"httpStatus", "error_code", "error_message"} <= set(answer.json()), raw
    assert _order(three) == ["e", "a", "b", "c"]


def test_no_room_past_the_largest_policy_number_is_400(admin):
    admin.patch(f"{POLICIES}/x", {"sequence_number": 999_999})
    admin.patch(f"{POLICIES}/y", {"sequence_number": 5})
    with pytest.raises(NSXApiError) as exc:
        admin.post(f"{POLICIES}/y", {}, action="revise", operation="insert_after",
                   anchor_path=f"{PP}/x")
    assert exc.value.status == 400 and "999999" in exc.value.error_message


# -- the ordering itself, for any starting numbers ---------------------------------------------
_siblings = st.lists(st.integers(min_value=0, max_value=60), max_size=8).map(
    lambda numbers: [Placed(f"s{i}", n) for i, n in enumerate(numbers)])


@given(_siblings, st.integers(min_value=0, max_value=60), st.sampled_from(OPERATIONS), st.data())
def test_reposition_puts_the_target_where_asked_and_keeps_the_others_in_order(siblings, own, operation, data):
    anchor = None
    if operation in ("insert_before", "insert_after"):
        if not siblings:
            return
        anchor = data.draw(st.sampled_from([s.id for s in siblings]))
    moved = reposition("t", siblings, operation, anchor)
    final = {s.id: moved.get(s.id, s.sequence_number) for s in siblings}
    final["t"] = moved["t"]
    order = sorted(final, key=lambda i: (final[i], i))
    others_before = sorted(siblings, key=lambda s: (s.sequence_number, s.id))
    assert [i for i in order if i != "t"] == [s.id for s in others_before]  # relative order kept
    position = order.index("t")
    expected = {"insert_top": 0, "insert_bottom": len(siblings)}.get(operation)
    if expected is None:
        expected = [s.id for s in others_before].index(anchor) + (operation == "insert_after")
    assert position == expected
    assert all(n >= 0 for n in final.values())
    assert (position == 0 or final[order[position - 1]] < final["t"]) and (
        position == len(order) - 1 or final["t"] < final[order[position + 1]])


def test_reposition_refuses_to_push_past_the_maximum():
    with pytest.raises(NoRoom):
        reposition("t", [Placed("a", 9), Placed("b", 10)], "insert_after", "a", maximum=10)
    with pytest.raises(ValueError, match="anchor"):
        reposition("t", [Placed("a", 1)], "insert_after", "zz")
