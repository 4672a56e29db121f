"""Certificates for the NSX mock: a lab CA, the manager's server certificate, PI client certificates.

What NSX needs, and what labkit generates (nsx.md §2.1-2.2):

- The manager answers HTTPS. labkit makes its own CA (``ca.crt``) and a server certificate for
  127.0.0.1/localhost signed by it, so clients verify the manager instead of using
  ``NSXInsecure: true``.
- A principal identity (PI) authenticates with a client certificate whose CN is the cluster name.
  The NSX docs make it with ``openssl req -x509 -newkey rsa:2048 -days 3650 -subj .../CN=<name>``:
  :func:`self_signed_client_cert` reproduces that; :func:`issue_client_cert` makes one signed by
  the lab CA instead (both work with the mock; see docs/nsx-mock.md).

Keys are written 0600. ``cryptography`` is imported here only, so ``import labkit`` stays light.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.nsx.manager.errors import CertificateError

CA_NAME = "labkit NSX mock CA"
KeyType = Literal["rsa", "ec"]
DEFAULT_SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CertKeyPair:
    """A certificate and its private key, as PEM files."""

    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> str:
        return self.cert_path.read_text()

    @property
    def key_pem(self) -> str:
        return self.key_path.read_text()


@dataclass(frozen=True)
class CertInfo:
    """What the mock needs to know about a certificate."""

    common_name: str
    fingerprint_sha256: str  # lower-case hex, no colons
    not_after: dt.datetime
    self_signed: bool


def parse_certificate(pem: str) -> CertInfo:
    """Read a PEM certificate; :class:`CertificateError` says what is wrong with it."""
    cert = _load_cert(pem)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else ""
    return CertInfo(
        common_name=common_name,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_after=cert.not_valid_after_utc,
        self_signed=cert.issuer == cert.subject,
    )


def der_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate (what a TLS peer presents), as :class:`CertInfo` spells it."""
    return hashlib.sha256(der).hexdigest()


def ensure_ca(state_dir: str | Path) -> CertKeyPair:
    """The lab CA in ``state_dir`` (``ca.crt``, ``ca.key``), created on first use."""
    state = Path(state_dir)
    pair = CertKeyPair(state / "ca.crt", state / "ca.key")
    if pair.cert_path.exists() and pair.key_path.exists():
        return pair
    state.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(pair, cert, key)
    return pair


def ensure_server_cert(
    state_dir: str | Path, ca: CertKeyPair, names: tuple[str, ...] = DEFAULT_SERVER_NAMES
) -> CertKeyPair:
    """The manager's certificate (``server.crt``/``server.key``), re-issued when a name is missing
    or it expires within a day."""
    state = Path(state_dir)
    pair = CertKeyPair(state / "server.crt", state / "server.key")
    wanted = set(names)
    if pair.cert_path.exists() and pair.key_path.exists():
        current = _load_cert(pair.cert_pem)
        try:
            san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
            have |= set(san.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            have = set()
        fresh = current.not_valid_after_utc - _now() > dt.timedelta(days=1)
        if wanted <= have and fresh and _issued_by(current, ca):
            return pair
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    builder = _leaf_builder(names[0] if names else "localhost", key.public_key(), ca)
    builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
    )
    cert = builder.sign(_load_key(ca.key_pem), hashes.SHA256())
    _write(pair, cert, key)
    return pair


def issue_client_cert(
    common_name: str, ca: CertKeyPair, out_dir: str | Path, *, days: int = 3650,
    key_type: KeyType = "rsa",
) -> CertKeyPair:
    """A client certificate for principal identity ``common_name``, signed by the lab CA, written
    as ``<out_dir>/<common_name>.crt`` and ``.key``. RSA 2048 as the NSX procedure uses;
    ``key_type="ec"`` (P-256) is about a hundred times faster to generate, for tests."""
    key = _new_key(key_type)
    builder = _leaf_builder(common_name, key.public_key(), ca, days=days)
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
    )
    cert = builder.sign(_load_key(ca.key_pem), hashes.SHA256())
    out = Path(out_dir)
    pair = CertKeyPair(out / f"{common_name}.crt", out / f"{common_name}.key")
    _write(pair, cert, key)
    return pair


def self_signed_client_cert(common_name: str, out_dir: str | Path, *, days: int = 3650,
                            key_type: KeyType = "rsa") -> CertKeyPair:
    """A self-signed client certificate with ``CN=common_name``, as the NSX docs' openssl
    command makes it (Admin Guide, "Prerequisites for Registering an Antrea Kubernetes Cluster")."""
    key = _new_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    out = Path(out_dir)
    pair = CertKeyPair(out / f"{common_name}.crt", out / f"{common_name}.key")
    _write(pair, cert, key)
    return pair


# -- internals --------------------------------------------------------------------------------
def _new_key(key_type: KeyType):  # type: ignore[no-untyped-def]
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise CertificateError(f"key_type {key_type!r} must be 'rsa' or 'ec'")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _leaf_builder(
    common_name: str, public_key: object, ca: CertKeyPair, *, days: int = 825
) -> x509.CertificateBuilder:
    ca_cert = _load_cert(ca.cert_pem)
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )


def _issued_by(cert: x509.Certificate, ca: CertKeyPair) -> bool:
    return cert.issuer == _load_cert(ca.cert_pem).subject


def _load_cert(pem: str) -> x509.Certificate:
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        raise CertificateError(
            "not a PEM certificate (expected '-----BEGIN CERTIFICATE-----' ... "
            "'-----END CERTIFICATE-----', newlines escaped as \\n inside JSON)"
        )
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise CertificateError(f"cannot read the PEM certificate: {exc}") from exc


def _load_key(pem: str):  # type: ignore[no-untyped-def]
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot read the PEM private key: {exc}") from exc


def _write(pair: CertKeyPair, cert: x509.Certificate, key: object) -> None:
    pair.cert_path.parent.mkdir(parents=True, exist_ok=True)
    pair.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(pair.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_bytes)
