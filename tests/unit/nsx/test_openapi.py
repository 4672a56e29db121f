"""The OpenAPI description the mock serves (at NSX's spec paths) covers exactly its routes, and
property-based tests generated from the *served* documents (schemathesis, over real HTTPS as the
admin) find no 5xx and only NSX-shaped error bodies (issue 6, "Bad input, faults, security").

Hypothesis budget: 8 examples per operation (~80 operations); the whole file takes a few seconds.
"""

from __future__ import annotations

import pytest
import requests

from labkit.nsx.manager.api import ROUTES
from labkit.nsx.manager.openapi import MANAGER_SPEC, POLICY_SPECS

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (labkit[test])")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from .conftest import GROUPS, POLICIES, cond  # noqa: E402

EXAMPLES_PER_OPERATION = 8


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One mock for the module, with a registered cluster, a group and a policy, so generated
    requests can reach existing objects too."""
    from labkit.nsx.manager import NSXManagerServer

    with NSXManagerServer(tmp_path_factory.mktemp("nsx-openapi")) as nsx:
        admin = nsx.client()
        cert = nsx.issue_client_cert("lab-cluster-1", key_type="ec")
        admin.create_principal_identity("lab-cluster-1", cert.cert_pem)
        pi = nsx.client(cert_path=cert.cert_path, key_path=cert.key_path)
        ccp = pi.register_cluster("lab-cluster-1", cert.cert_pem)
        admin.patch(f"{GROUPS}/web", {"group_type": ["ANTREA"], "expression": [cond("Pod", "Tag", "app|web")]})
        admin.patch(f"{POLICIES}/p1", {"category": "Application", "scope": [ccp["path"]], "rules": [
            {"id": "r1", "source_groups": ["/infra/domains/default/groups/web"], "action": "ALLOW"}]})
        session = requests.Session()
        session.auth = (nsx.admin_user, nsx.admin_password)
        yield nsx, session
        session.close()


def _served(live, path: str) -> dict:
    nsx, session = live
    answer = session.get(nsx.url + path, timeout=10, verify=str(nsx.ca_path))
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    return answer.json()


def test_served_documents_describe_exactly_the_routes(live):
    manager = _served(live, MANAGER_SPEC)
    policy = _served(live, POLICY_SPECS[0])
    assert _served(live, POLICY_SPECS[1]) == policy
    assert manager["openapi"].startswith("3.0") and policy["openapi"].startswith("3.0")
    described = {(method.upper(), path) for doc in (manager, policy) for path, item in doc["paths"].items()
                 for method in item}
    assert described == {(r.method, r.template) for r in ROUTES}
    assert all(path.startswith("/policy/") for path in policy["paths"])
    assert not any(path.startswith("/policy/") for path in manager["paths"])
    groups = policy["paths"]["/policy/api/v1/infra/domains/{domain}/groups/{group_id}"]
    assert {"get", "put", "patch", "delete"} <= set(groups)
    assert groups["patch"]["requestBody"]["content"]["application/json"]
    assert manager["paths"]["/api/session/create"]["post"]["security"] == []  # the one public route


def _check(case, live) -> None:
    nsx, session = live
    # verify= per request: requests lets $REQUESTS_CA_BUNDLE override a session's verify
    response = case.call(base_url=nsx.url, session=session, timeout=10, verify=str(nsx.ca_path))
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()  # every error is an NSX ApiError, never a stack trace or HTML
        assert {"httpStatus", "error_code", "error_message"} <= set(body), body


# schemathesis' own pytest plugin (schemathesis.pytest.from_fixture) fails on pytest 9 here
# ("'Function' object has no attribute '_nodeid'"), so each operation's Hypothesis strategy
# (schemathesis' case generation) is run directly.
@pytest.mark.parametrize("spec", [MANAGER_SPEC, POLICY_SPECS[0]], ids=["manager-api", "policy-api"])
def test_generated_requests_get_no_5xx(live, spec):
    schema = schemathesis.openapi.from_dict(_served(live, spec))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:
            _check(case, live)

        no_server_error()
