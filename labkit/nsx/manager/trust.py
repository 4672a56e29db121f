"""Principal identities and their certificates (NSX MP trust-management API).

Reproduced (nsx.md §2.1-2.2, §10): ``POST /api/v1/trust-management/principal-identities/
with-certificate`` (201) creates a certificate object and a PrincipalIdentity that refers to it by
``certificate_id``; ``GET`` list/item; ``DELETE`` (200) removes the PI but not its certificate,
which is deleted separately through ``/api/v1/trust-management/certificates/{id}``. One PI per
cluster: ``name`` (== ``node_id`` == cert CN == cluster name) is unique, and so is the certificate.
"""

from __future__ import annotations

import uuid
from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.certs import parse_certificate
from labkit.nsx.manager.errors import CertificateError, ErrorCode, NSXApiError
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import bad_request, list_response, not_found, public, stamp
from labkit.nsx.manager.state import ManagerState

MODULE = "common-services"
ROLES = ("enterprise_admin", "auditor", "cluster_info_reader", "ccp_internal_operator",
         "network_engineer", "security_engineer", "read_only")


def list_principal_identities(state: ManagerState, req: Request) -> dict[str, Any]:
    return list_response(state.store.list(paths.PRINCIPAL_IDENTITIES), req.query, module=MODULE)


def get_principal_identity(state: ManagerState, req: Request) -> dict[str, Any]:
    key = f"{paths.PRINCIPAL_IDENTITIES}/{req.params['pi_id']}"
    pi = state.store.get(key)
    if pi is None:
        raise not_found(key, MODULE)
    return public(pi)


def create_principal_identity(state: ManagerState, req: Request) -> Response:
    body = req.json_object()
    problems = []
    name = body.get("name")
    node_id = body.get("node_id")
    if not isinstance(name, str) or not name:
        problems.append("name is required (the cluster name, equal to the certificate CN)")
    if not isinstance(node_id, str) or not node_id:
        problems.append("node_id is required (use the cluster name)")
    pem = body.get("certificate_pem")
    info = None
    try:
        info = parse_certificate(pem)  # type: ignore[arg-type]
    except CertificateError as exc:
        problems.append(f"certificate_pem: {exc}")
    roles = body.get("roles_for_paths") or []
    for i, rfp in enumerate(roles if isinstance(roles, list) else [roles]):
        for j, role in enumerate((rfp or {}).get("roles") or []):
            if (role or {}).get("role") not in ROLES:
                problems.append(
                    f"roles_for_paths[{i}].roles[{j}].role {role!r} is not one of {', '.join(ROLES)}"
                )
    if problems:
        raise NSXApiError(
            400, "Invalid principal identity: " + "; ".join(problems), module_name=MODULE,
            related_errors=[NSXApiError(400, p, module_name=MODULE) for p in problems],
        )
    assert info is not None and isinstance(name, str)
    for pi in state.store.list(paths.PRINCIPAL_IDENTITIES):
        if pi.get("name") == name or pi.get("node_id") == node_id:
            raise NSXApiError(
                400,
                f"Principal identity with name {name!r} and node_id {node_id!r} already exists "
                f"(id {pi['id']}).",
                error_code=ErrorCode.ALREADY_EXISTS,
                module_name=MODULE,
                hint="one PI per cluster; delete the old PI first",
            )
    for cert in state.store.list(paths.CERTIFICATES):
        if cert.get("_labkit_fingerprint") == info.fingerprint_sha256 and cert.get("used_by"):
            raise NSXApiError(
                400,
                f"The certificate is already used by principal identity {cert['used_by'][0]!r}.",
                error_code=ErrorCode.CERTIFICATE_CONFLICT,
                module_name=MODULE,
                hint="certificates must not be shared between clusters: make one per cluster",
            )
    principal = req.principal
    assert principal is not None
    cert_id = str(uuid.uuid4())
    pi_id = str(uuid.uuid4())
    cert = stamp(
        state,
        {
            "pem_encoded": pem,
            "display_name": f"{name} principal identity certificate",
            "used_by": [name],
            "_labkit_fingerprint": info.fingerprint_sha256,
        },
        None, principal, object_id=cert_id, resource_type="TrustObjectData",
    )
    state.store.put(f"{paths.CERTIFICATES}/{cert_id}", cert)
    pi = stamp(
        state,
        {
            "name": name,
            "node_id": node_id,
            "display_name": body.get("display_name") or name,
            "description": body.get("description", ""),
            "roles_for_paths": roles or [{"path": "/", "roles": [{"role": "enterprise_admin"}]}],
            "is_protected": bool(body.get("is_protected", True)),
            "certificate_id": cert_id,
        },
        None, principal, object_id=pi_id, resource_type="PrincipalIdentity",
    )
    state.store.put(f"{paths.PRINCIPAL_IDENTITIES}/{pi_id}", pi)
    state.trust_changed = True
    return Response(201, public(pi))


def delete_principal_identity(state: ManagerState, req: Request) -> Response:
    key = f"{paths.PRINCIPAL_IDENTITIES}/{req.params['pi_id']}"
    pi = state.store.get(key)
    if pi is None:
        raise not_found(key, MODULE)
    state.store.delete(key)
    cert_key = f"{paths.CERTIFICATES}/{pi.get('certificate_id')}"
    cert = state.store.get(cert_key)
    if cert is not None:
        cert["used_by"] = [u for u in cert.get("used_by", []) if u != pi.get("name")]
        state.store.put(cert_key, cert)
    state.trust_changed = True
    return Response(200)


def list_certificates(state: ManagerState, req: Request) -> dict[str, Any]:
    return list_response(state.store.list(paths.CERTIFICATES), req.query, module=MODULE)


def get_certificate(state: ManagerState, req: Request) -> dict[str, Any]:
    key = f"{paths.CERTIFICATES}/{req.params['cert_id']}"
    cert = state.store.get(key)
    if cert is None:
        raise not_found(key, MODULE)
    return public(cert)


def delete_certificate(state: ManagerState, req: Request) -> Response:
    key = f"{paths.CERTIFICATES}/{req.params['cert_id']}"
    cert = state.store.get(key)
    if cert is None:
        raise not_found(key, MODULE)
    if cert.get("used_by"):
        raise bad_request(
            f"Certificate {req.params['cert_id']} is in use by principal identity "
            f"{cert['used_by'][0]!r} and cannot be deleted.",
            module=MODULE, code=ErrorCode.RESOURCE_IN_USE,
            hint="delete the principal identity first",
        )
    state.store.delete(key)
    return Response(200)
