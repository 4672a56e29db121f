"""Fixtures: a real NSX mock on 127.0.0.1 (ephemeral port, real TLS with its generated CA)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labkit.nsx.manager import CertKeyPair, NSXClient, NSXManagerServer

P = "/policy/api/v1"
CCPS = f"{P}/infra/sites/default/enforcement-points/default/cluster-control-planes"
GROUPS = f"{P}/infra/domains/default/groups"
POLICIES = f"{P}/infra/domains/default/security-policies"


@pytest.fixture
def nsx(tmp_path: Path):
    with NSXManagerServer(tmp_path / "nsx") as server:
        yield server


@pytest.fixture
def admin(nsx: NSXManagerServer) -> NSXClient:
    return nsx.client()


@dataclass
class Cluster:
    """A registered Antrea cluster: PI + ClusterControlPlane + ContainerCluster."""

    name: str
    node_id: str
    cert: CertKeyPair
    client: NSXClient  # authenticates as the cluster's principal identity

    @property
    def ccp_path(self) -> str:
        return f"/infra/sites/default/enforcement-points/default/cluster-control-planes/{self.name}"


@pytest.fixture
def register(nsx: NSXManagerServer, admin: NSXClient) -> Callable[..., Cluster]:
    """Register a cluster the way the docs do it: admin creates the PI, the cluster (as its PI)
    registers its CCP and creates its ContainerCluster."""

    def _register(name: str = "lab-cluster-1") -> Cluster:
        cert = nsx.issue_client_cert(name, key_type="ec")  # RSA keygen would dominate the runtime
        admin.create_principal_identity(name, cert.cert_pem)
        pi = nsx.client(cert_path=cert.cert_path, key_path=cert.key_path)
        ccp = pi.register_cluster(name, cert.cert_pem)
        pi.post("/api/v1/fabric/container-clusters", {
            "resource_type": "ContainerCluster", "external_id": ccp["node_id"], "display_name": name,
            "cluster_type": "Kubernetes", "cni_type": "ANTREA",
        })
        return Cluster(name, ccp["node_id"], cert, pi)

    return _register


@pytest.fixture
def cluster(register: Callable[..., Cluster]) -> Cluster:
    return register()


def pod(uid: str, name: str, ns_uid: str, labels: dict[str, str], services: list[str] = ()) -> dict[str, Any]:
    return {
        "resource_type": "ContainerApplicationInstance", "external_id": uid, "display_name": name,
        "container_project_id": ns_uid, "container_application_ids": list(services), "status": "UP",
        "tags": [{"scope": f"dis:k8s:{k}", "tag": v} for k, v in labels.items()],
        "origin_properties": [{"key": "ip", "value": "10.10.1.5"}],
    }


def namespace(uid: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
    return {"resource_type": "ContainerProject", "external_id": uid, "display_name": name,
            "tags": [{"scope": f"dis:k8s:{k}", "tag": v} for k, v in labels.items()]}


def service(uid: str, name: str, ns_uid: str) -> dict[str, Any]:
    return {"resource_type": "ContainerApplication", "external_id": uid, "display_name": name,
            "container_project_id": ns_uid, "status": "UP"}


def creates(*objects: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"object_update_type": "CREATE", "container_object": o} for o in objects]


@pytest.fixture
def shop(cluster: Cluster) -> Cluster:
    """Inventory: namespace shop with pods web-1, web-2 (app=web, behind service web) and db-1."""
    cluster.client.push_inventory(cluster.node_id, creates(
        namespace("ns-shop", "shop", {"tier": "prod"}),
        namespace("ns-dev", "dev"),
        service("svc-web", "web", "ns-shop"),
        pod("pod-web-1", "web-1", "ns-shop", {"app": "web"}, ["svc-web"]),
        pod("pod-web-2", "web-2", "ns-shop", {"app": "web"}, ["svc-web"]),
        pod("pod-db-1", "db-1", "ns-shop", {"app": "db"}),
        pod("pod-dev-1", "dev-1", "ns-dev", {"app": "web"}),
    ))
    return cluster


def antrea_group(*expression: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"group_type": ["ANTREA"], "expression": list(expression), **extra}


def cond(member_type: str, key: str, value: str, operator: str = "EQUALS", **extra: Any) -> dict[str, Any]:
    return {"resource_type": "Condition", "member_type": member_type, "key": key,
            "operator": operator, "value": value, **extra}


def nested(*conditions: dict[str, Any]) -> dict[str, Any]:
    expressions: list[dict[str, Any]] = []
    for c in conditions:
        if expressions:
            expressions.append({"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"})
        expressions.append(c)
    return {"resource_type": "NestedExpression", "expressions": expressions}


OR = {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"}
AND = {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"}
