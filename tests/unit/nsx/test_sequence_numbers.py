"""``sequence_number`` ranges of NSX's schema: SecurityPolicy 0..999,999, Rule >= 0 (vcf-nsx 9.1
model_client; NSX Policy API reference), refused with NSX's error body on every write path, and
stated in the served OpenAPI document."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.nsx.manager import NSXApiError
from labkit.nsx.manager.openapi import POLICY_SPECS

from .conftest import POLICIES

BAD_POLICY_NUMBERS = [-1, 1_000_000, 2**40, "5", 1.5, True, [], {}]
BAD_RULE_NUMBERS = [-1, -(2**40), "5", 2.5, False, [0]]


def _refused(call) -> NSXApiError:
    with pytest.raises(NSXApiError) as exc:
        call()
    err = exc.value
    assert err.status == 400 and err.http_status == "BAD_REQUEST" and err.module_name == "policy"
    assert err.related_errors, "every problem is listed as a related error"
    return err


@pytest.mark.parametrize("value", BAD_POLICY_NUMBERS, ids=repr)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_policy_sequence_number_out_of_range_is_400(admin, method, value):
    err = _refused(lambda: getattr(admin, method)(f"{POLICIES}/p", {"sequence_number": value}))
    assert "sequence_number" in err.error_message and "between 0 and 999999" in err.error_message
    with pytest.raises(NSXApiError):
        admin.get(f"{POLICIES}/p")  # nothing stored


@pytest.mark.parametrize("value", BAD_RULE_NUMBERS, ids=repr)
def test_rule_sequence_number_below_zero_or_not_an_integer_is_400(admin, value):
    admin.patch(f"{POLICIES}/p", {"rules": [{"id": "ok", "sequence_number": 3}]})
    inline = _refused(lambda: admin.patch(f"{POLICIES}/p", {"rules": [{"id": "r", "sequence_number": value}]}))
    assert "rules[" in inline.error_message and "(r).sequence_number" in inline.error_message
    assert ">= 0" in inline.error_message
    _refused(lambda: admin.patch(f"{POLICIES}/p/rules/r", {"sequence_number": value}))
    _refused(lambda: admin.put(f"{POLICIES}/p/rules/r", {"sequence_number": value}))
    assert [r["id"] for r in admin.get(f"{POLICIES}/p")["rules"]] == ["ok"]


def test_bounds_are_accepted(admin):
    assert admin.patch(f"{POLICIES}/lo", {"sequence_number": 0})["sequence_number"] == 0
    assert admin.patch(f"{POLICIES}/hi", {"sequence_number": 999_999})["sequence_number"] == 999_999
    rules = admin.patch(f"{POLICIES}/hi", {"rules": [{"id": "big", "sequence_number": 10**9}]})["rules"]
    assert rules[0]["sequence_number"] == 10**9  # Rule has no maximum


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=-(2**63), max_value=2**63))
def test_any_integer_is_stored_exactly_when_in_range(admin, value):
    try:
        stored = admin.patch(f"{POLICIES}/p", {"sequence_number": value})
    except NSXApiError as exc:
        assert not 0 <= value <= 999_999 and exc.status == 400
    else:
        assert 0 <= value <= 999_999 and stored["sequence_number"] == value


def test_openapi_states_the_ranges(nsx, admin):
    spec = admin.get(POLICY_SPECS[0])
    policy = spec["paths"]["/policy/api/v1/infra/domains/{domain}/security-policies/{policy_id}"]
    rule = spec["paths"]["/policy/api/v1/infra/domains/{domain}/security-policies/{policy_id}/rules/{rule_id}"]
    for method in ("put", "patch"):
        body = policy[method]["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["sequence_number"] == {"type": "integer", "minimum": 0, "maximum": 999_999}
        assert body["properties"]["rules"]["items"]["properties"]["sequence_number"] == {
            "type": "integer", "minimum": 0}
        body = rule[method]["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["sequence_number"] == {"type": "integer", "minimum": 0}
