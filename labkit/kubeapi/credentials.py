"""The endpoint's own CA, server certificate, bearer token and kubeconfig.

Certificates follow what kubectl (Go >= 1.15: SAN required, CN ignored) and Python >= 3.13's
strict X.509 checks accept (reference kubectl-api.md §7.2): a CA with critical basicConstraints
CA:TRUE, critical keyUsage keyCertSign/cRLSign and a subjectKeyIdentifier; a leaf with
SAN ``IP:127.0.0.1, DNS:localhost``, serverAuth, authorityKeyIdentifier. Keys and the token are
written 0600, in the lab's state directory; a new endpoint gets a new CA and a new token.
``cryptography`` is imported here only.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Credentials:
    directory: Path
    ca_pem: bytes
    cert_path: Path
    key_path: Path
    token: str

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.crt"


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def create(directory: str | os.PathLike, lab_name: str) -> Credentials:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    end = start + dt.timedelta(days=365)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"labkit {lab_name} kube-apiserver CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem)
    _write(directory / "ca.crt", ca_pem, private=False)
    _write(directory / "apiserver.crt", leaf.public_bytes(pem) + ca_pem, private=False)
    _write(directory / "apiserver.key", key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()), private=True)
    token = secrets.token_urlsafe(32)
    _write(directory / "token", token.encode(), private=True)
    return Credentials(directory, ca_pem, directory / "apiserver.crt", directory / "apiserver.key", token)


def write_kubeconfig(path: str | os.PathLike, creds: Credentials, port: int, lab_name: str,
                     namespace: str = "default") -> Path:
    """A kubeconfig whose current context reaches this lab (kubectl and the Python client read it)."""
    name = f"labkit-{lab_name}"
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {
            "server": f"https://127.0.0.1:{port}",
            "certificate-authority-data": base64.b64encode(creds.ca_pem).decode()}}],
        "users": [{"name": name, "user": {"token": creds.token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
    }
    path = Path(path)
    _write(path, yaml.safe_dump(config, sort_keys=False).encode(), private=True)
    return path
