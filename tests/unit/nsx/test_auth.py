"""Authentication over real TLS: Basic, PI client certificates, sessions; urllib and requests."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.error
import urllib.request

import pytest
import requests

from labkit.nsx.manager import NSXApiError, NSXUnreachable, self_signed_client_cert
from labkit.nsx.manager.server import DEFAULT_ADMIN_PASSWORD


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_with_urllib_verifies_the_lab_ca(nsx):
    ctx = ssl.create_default_context(cafile=str(nsx.ca_path))
    req = urllib.request.Request(f"{nsx.url}/api/v1/node/version",
                                 headers=_basic("admin", DEFAULT_ADMIN_PASSWORD))
    with urllib.request.urlopen(req, context=ctx) as resp:
        assert resp.status == 200
        assert json.load(resp)["node_version"].startswith("4.2")


def test_urllib_basic_auth_handler_answers_the_401_challenge(nsx):
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, nsx.url, "admin", DEFAULT_ADMIN_PASSWORD)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(nsx.ca_path))),
        urllib.request.HTTPBasicAuthHandler(passwords),
    )
    with opener.open(f"{nsx.url}/api/v1/reverse-proxy/node/health") as resp:
        assert json.load(resp)["healthy"] is True


def test_no_credentials_is_401_with_an_nsx_error_body(nsx):
    r = requests.get(f"{nsx.url}/api/v1/node", verify=str(nsx.ca_path))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    body = r.json()
    assert body["httpStatus"] == "UNAUTHORIZED"
    assert {"error_code", "error_message", "module_name"} <= body.keys()


def test_wrong_password_is_403_invalid_credentials_as_nsx_answers(nsx):
    r = requests.get(f"{nsx.url}/api/v1/node", auth=("admin", "wrong"), verify=str(nsx.ca_path))
    assert r.status_code == 403
    assert r.json() == {
        "httpStatus": "FORBIDDEN", "error_code": 403, "module_name": "common-services",
        "error_message": "The credentials were incorrect or the account specified has been locked.",
    }


def test_nsx_client_raises_structured_errors(nsx):
    with pytest.raises(NSXApiError) as exc:
        nsx.client(password="wrong").get("/api/v1/node")
    assert exc.value.status == 403 and exc.value.error_code == 403
    assert "GET /api/v1/node" in str(exc.value)


def test_registered_principal_identity_cert_authenticates(nsx, admin):
    cert = nsx.issue_client_cert("lab-cluster-1")
    admin.create_principal_identity("lab-cluster-1", cert.cert_pem)
    # requests, a plain HTTP client
    r = requests.get(f"{nsx.url}/api/v1/node/version", cert=(str(cert.cert_path), str(cert.key_path)),
                     verify=str(nsx.ca_path))
    assert r.status_code == 200
    # http.client
    ctx = ssl.create_default_context(cafile=str(nsx.ca_path))
    ctx.load_cert_chain(cert.cert_path, cert.key_path)
    conn = http.client.HTTPSConnection("127.0.0.1", nsx.port, context=ctx)
    conn.request("PATCH", "/policy/api/v1/infra/domains/default/groups/g", body=b"{}",
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    group = json.loads(resp.read())
    conn.close()
    assert resp.status == 200
    assert group["_create_user"] == "lab-cluster-1" and group["_protection"] == "PROTECTED"


def test_self_signed_pi_cert_as_the_docs_make_it_authenticates(nsx, admin, tmp_path):
    cert = self_signed_client_cert("lab-cluster-2", tmp_path)
    admin.create_principal_identity("lab-cluster-2", cert.cert_pem)
    pi = nsx.client(cert_path=cert.cert_path, key_path=cert.key_path)
    assert pi.get("/api/v1/node/version")["node_version"]


def test_unknown_client_cert_is_403(nsx):
    stranger = nsx.issue_client_cert("not-registered", key_type="ec")
    r = requests.get(f"{nsx.url}/api/v1/node", cert=(str(stranger.cert_path), str(stranger.key_path)),
                     verify=str(nsx.ca_path))
    assert r.status_code == 403
    assert "not registered" in r.json()["error_message"]


def test_deleted_pi_loses_access(nsx, admin):
    cert = nsx.issue_client_cert("gone", key_type="ec")
    pi_obj = admin.create_principal_identity("gone", cert.cert_pem)
    pi = nsx.client(cert_path=cert.cert_path, key_path=cert.key_path)
    pi.get("/api/v1/node")
    admin.delete(f"/api/v1/trust-management/principal-identities/{pi_obj['id']}")
    with pytest.raises(NSXApiError) as exc:
        pi.get("/api/v1/node")
    assert exc.value.status == 403


def test_unregistered_self_signed_cert_fails_the_handshake(nsx, tmp_path):
    # Documented limitation: stdlib ssl cannot accept an unknown self-signed cert to answer 403.
    cert = self_signed_client_cert("stranger", tmp_path, key_type="ec")
    client = nsx.client(cert_path=cert.cert_path, key_path=cert.key_path)
    with pytest.raises(NSXUnreachable):
        client.get("/api/v1/node")


def test_principal_identity_validation_reports_every_problem(admin):
    with pytest.raises(NSXApiError) as exc:
        admin.post("/api/v1/trust-management/principal-identities/with-certificate",
                   {"certificate_pem": "nope"})
    messages = [e.error_message for e in exc.value.related_errors]
    assert len(messages) == 3
    assert any("name is required" in m for m in messages)
    assert any("certificate_pem" in m for m in messages)


def test_session_create_needs_xsrf_token_for_writes(nsx):
    with requests.Session() as s:
        s.trust_env = False  # else $REQUESTS_CA_BUNDLE overrides Session.verify (requests#3829)
        s.verify = str(nsx.ca_path)
        r = s.post(f"{nsx.url}/api/session/create",
                   data={"j_username": "admin", "j_password": DEFAULT_ADMIN_PASSWORD})
        assert r.status_code == 200 and r.cookies.get("JSESSIONID")
        token = r.headers["X-XSRF-TOKEN"]
        assert s.get(f"{nsx.url}/api/v1/node/version").status_code == 200
        denied = s.patch(f"{nsx.url}/policy/api/v1/infra/domains/default/groups/g", json={})
        assert denied.status_code == 403 and denied.json()["error_code"] == 98
        ok = s.patch(f"{nsx.url}/policy/api/v1/infra/domains/default/groups/g", json={},
                     headers={"X-XSRF-TOKEN": token})
        assert ok.status_code == 200


def test_failed_login_still_answers_json(nsx):
    r = requests.post(f"{nsx.url}/api/session/create", data={"j_username": "admin", "j_password": "x"},
                      verify=str(nsx.ca_path))
    assert r.status_code == 403 and r.json()["error_code"] == 403
