"""A plan's bodies are plain NSX Policy API bodies: VMware's own NSX SDK (vcf-nsx) pushes them to
the mock over HTTPS, with the lab CA, and the result is the same as ``plan.push()`` through
labkit's client (the same NSX objects, realized SUCCESS, the same enforced matrices)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from labkit import Lab
from labkit.nsx import start_nsx

P = "/policy/api/v1"
VOLATILE = {"unique_id", "realization_id", "rule_id"}  # assigned by NSX; _create_time & co. start with "_"


def _sdk_configuration(nsx, session: requests.Session):
    from vmware.vapi.lib.connect import get_requests_connector
    from vmware.vapi.security.user_password import create_user_password_security_context
    from vmware.vapi.stdlib.client.factories import StubConfigurationFactory

    session.verify, session.trust_env = str(nsx.server.ca_path), False
    connector = get_requests_connector(session=session, msg_protocol="rest", url=nsx.url)
    connector.set_security_context(create_user_password_security_context(nsx.server.admin_user,
                                                                          nsx.server.admin_password))
    return StubConfigurationFactory.new_std_configuration(connector)


def _struct(cls, body: dict):
    """A JSON body as the SDK's model type (what a user of the SDK builds by hand)."""
    from vmware.vapi.bindings.converter import RestConverter, TypeConverter
    from vmware.vapi.data.serializers.cleanjson import JsonDictToVapi

    return TypeConverter.convert_to_python(JsonDictToVapi().data_value(body), cls.get_binding_type(),
                                           rest_converter_mode=RestConverter.SWAGGER_REST)


def _normalized(nsx) -> dict:
    admin = nsx.client()

    def clean(obj: dict) -> dict:
        return {k: (sorted((clean(r) for r in v), key=lambda r: r["id"]) if k == "rules" else v)
                for k, v in obj.items() if not k.startswith("_") and k not in VOLATILE}

    groups = [clean(g) for g in admin.list_all(f"{P}/infra/domains/default/groups")]
    policies = [clean(admin.get(f"{P}{p['path']}")) for p in admin.list_all(f"{P}/infra/domains/default/security-policies")]
    return {"groups": groups, "policies": policies}


def test_the_sdk_pushes_the_plans_bodies_with_the_same_result(tmp_path: Path):
    pytest.importorskip("vcf.nsx", reason="pip install vcf-nsx (labkit[test])")
    from vcf.nsx.model_client import Group, SecurityPolicy
    from vcf.nsx.policy.api.v1.infra.domains_client import Groups, SecurityPolicies

    with Lab(profile="shop", name="plan-lk", state_dir=tmp_path / "a") as lab_a, \
            Lab(profile="shop", name="plan-sdk", state_dir=tmp_path / "b") as lab_b, \
            start_nsx(lab_a, tmp_path / "nsx-a", register=True, key_type="ec", cluster_name="shop") as nsx_a, \
            start_nsx(lab_b, tmp_path / "nsx-b", register=True, key_type="ec", cluster_name="shop") as nsx_b, \
            requests.Session() as session:
        flows_a = lab_a.flows(lab_a.generate_traffic("shop", duration_s=120, seed=1))
        flows_b = lab_b.flows(lab_b.generate_traffic("shop", duration_s=120, seed=1))
        assert nsx_a.plan_segmentation(flows_a).push().ok  # labkit's client, one hierarchical PATCH

        plan = nsx_b.plan_segmentation(flows_b)
        sdk = _sdk_configuration(nsx_b, session)
        for body in plan.groups:
            Groups(sdk).policy_patch_group_for_domain("default", body["id"], _struct(Group, body))
        SecurityPolicies(sdk).policy_patch_security_policy_for_domain("default", plan.policy["id"],
                                                                       _struct(SecurityPolicy, plan.policy))
        assert plan.changes() == []  # NSX holds exactly the plan
        nsx_b.adapter.sync()
        admin = nsx_b.client()
        for path in [*(g["path"] for g in admin.list_all(f"{P}/infra/domains/default/groups")),
                     f"/infra/domains/default/security-policies/{plan.policy['id']}"]:
            status = admin.get(f"{P}/infra/realized-state/status", intent_path=path)
            assert status["consolidated_status"]["consolidated_status"] == "SUCCESS", path

        assert _normalized(nsx_b) == _normalized(nsx_a)
        for protocol, port in sorted({("TCP", p) for p in flows_b.destinationTransportPort.unique()}):
            matrix_a = lab_a.reachability(port=int(port), protocol=protocol)
            matrix_b = lab_b.reachability(port=int(port), protocol=protocol)
            assert matrix_a.sources == matrix_b.sources and matrix_a.diff(matrix_b) == []
