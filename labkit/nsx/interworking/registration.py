"""Registering a cluster with NSX as the documented procedure does, and undoing it.

Admin Guide, "Registering an Antrea Kubernetes Cluster to NSX" (nsx.md §2):

A. the cluster's certificate: self-signed, ``CN=<clusterName>`` (the docs' ``openssl req -x509
   -newkey rsa:2048 -days 3650``), kept with its key so the adapter can authenticate later;
B. an NSX admin creates the principal identity with that certificate
   (``POST /api/v1/trust-management/principal-identities/with-certificate``, Basic auth);
C. the ``register`` Job, authenticating **with the certificate**, creates the ClusterControlPlane
   (``PUT .../cluster-control-planes/<clusterName>``) and learns the cluster UUID (``node_id``,
   written to ConfigMap ``cluster-id``); the MP adapter then creates the ContainerCluster.

Deregistration (nsx.md §2.7): ``DELETE .../cluster-control-planes/<name>?cascade=true`` removes the
cluster's inventory, status, realization and statistics and takes it out of every policy's scope;
the admin may then delete the principal identity and its certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.nsx.interworking.errors import AdapterError
from labkit.nsx.manager import paths
from labkit.nsx.manager.certs import (
    CertKeyPair,
    KeyType,
    parse_certificate,
    self_signed_client_cert,
)
from labkit.nsx.manager.client import NSXClient
from labkit.nsx.manager.errors import CertificateError, ErrorCode, NSXApiError


def ensure_certificate(cluster_name: str, cert_dir: Path, key_type: KeyType = "rsa") -> CertKeyPair:
    """The cluster's certificate in ``cert_dir`` (made once; reused while its CN matches)."""
    pair = CertKeyPair(cert_dir / f"{cluster_name}.crt", cert_dir / f"{cluster_name}.key")
    if pair.cert_path.exists() and pair.key_path.exists():
        try:
            if parse_certificate(pair.cert_pem).common_name == cluster_name:
                return pair
        except CertificateError:
            pass  # unreadable: make a new one
    return self_signed_client_cert(cluster_name, cert_dir, key_type=key_type)


def ensure_principal_identity(admin: NSXClient, cluster_name: str, cert: CertKeyPair) -> dict[str, Any]:
    """Step B, idempotent: create the PI, or accept the one that already holds this certificate."""
    try:
        return admin.create_principal_identity(cluster_name, cert.cert_pem)
    except NSXApiError as exc:
        if exc.error_code not in (ErrorCode.ALREADY_EXISTS, ErrorCode.CERTIFICATE_CONFLICT):
            raise
        existing = find_principal_identity(admin, cluster_name)
        if existing is not None:
            stored = admin.get(f"{paths.CERTIFICATES}/{existing['certificate_id']}")
            if _same_certificate(stored.get("pem_encoded", ""), cert.cert_pem):
                return existing
        raise AdapterError(
            f"NSX already has a principal identity {cluster_name!r} with another certificate "
            f"({exc}); fix: deregister the old cluster (adapter.deregister(), or delete the PI as "
            f"admin), or pass cert_dir= holding that cluster's certificate, or pick another "
            "cluster_name"
        ) from exc


def find_principal_identity(admin: NSXClient, name: str) -> dict[str, Any] | None:
    for pi in admin.list_all(paths.PRINCIPAL_IDENTITIES):
        if pi.get("name") == name:
            return pi
    return None


def delete_principal_identity(admin: NSXClient, name: str) -> bool:
    """Remove the PI and then its certificate (NSX keeps the certificate otherwise)."""
    pi = find_principal_identity(admin, name)
    if pi is None:
        return False
    admin.delete(f"{paths.PRINCIPAL_IDENTITIES}/{pi['id']}")
    if pi.get("certificate_id"):
        try:
            admin.delete(f"{paths.CERTIFICATES}/{pi['certificate_id']}")
        except NSXApiError as exc:
            if exc.status != 404:
                raise
    return True


def create_container_cluster(pi: NSXClient, cluster: dict[str, Any]) -> None:
    """The MP adapter's first report; already there (a restarted adapter) is fine."""
    try:
        pi.post(f"{paths.FABRIC}/container-clusters", cluster)
    except NSXApiError as exc:
        if exc.error_code != ErrorCode.ALREADY_EXISTS:
            raise


def _same_certificate(a: str, b: str) -> bool:
    try:
        return parse_certificate(a).fingerprint_sha256 == parse_certificate(b).fingerprint_sha256
    except CertificateError:
        return False


__all__ = [
    "create_container_cluster",
    "delete_principal_identity",
    "ensure_certificate",
    "ensure_principal_identity",
    "find_principal_identity",
]
