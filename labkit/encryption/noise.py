"""WireGuard's messages, byte for byte (the whitepaper, §5.4, "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s").

labkit's emulated WireGuard captures are not look-alikes: the handshake initiation (type 1, 148
bytes), the response (type 2, 92 bytes) and the transport data messages (type 4) are produced
with the real construction — X25519, BLAKE2s, HMAC-BLAKE2s KDF, ChaCha20-Poly1305 — so Wireshark
decrypts them when given the keys (:func:`keylog`). Only the keys are not secret: they are
derived from a seed so that a notebook shows the same bytes every run.

Message layouts (little-endian integers, as in the Linux and Go implementations)::

    initiation: type=1 | 3 zero | sender(4) | ephemeral(32) | static(32+16) | timestamp(12+16) | mac1(16) | mac2(16)
    response:   type=2 | 3 zero | sender(4) | receiver(4) | ephemeral(32) | empty(0+16) | mac1(16) | mac2(16)
    transport:  type=4 | 3 zero | receiver(4) | counter(8) | ChaCha20-Poly1305(packet padded to 16)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"
LABEL_MAC1 = b"mac1----"

MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_COOKIE_REPLY, MESSAGE_TRANSPORT = 1, 2, 3, 4
TRANSPORT_HEADER_LEN = 16  # type+reserved 4, receiver 4, counter 8
TAG_LEN = 16  # Poly1305
INITIATION_LEN = 148
RESPONSE_LEN = 92
DEFAULT_PORT = 51820  # Antrea's wireGuard.port default

# TAI64N label of 1970-01-01 plus the 10 leap seconds TAI was ahead then (as wireguard-go's tai64n).
_TAI64_BASE = 0x400000000000000A


def _hash(data: bytes) -> bytes:
    return hashlib.blake2s(data).digest()


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.blake2s).digest()


def _mac(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2s(data, digest_size=16, key=key).digest()


def _kdf(key: bytes, data: bytes, n: int) -> list[bytes]:
    """HKDF with HMAC-BLAKE2s, as the whitepaper's KDF_n (τ0 = HMAC(key, input), τi = HMAC(τ0, τi-1 ‖ i))."""
    t0 = _hmac(key, data)
    out, previous = [], b""
    for i in range(1, n + 1):
        previous = _hmac(t0, previous + bytes([i]))
        out.append(previous)
    return out


def _aead(key: bytes, counter: int, plaintext: bytes, aad: bytes) -> bytes:
    nonce = b"\x00" * 4 + struct.pack("<Q", counter)
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def _dh(private: bytes, public: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(public))


@dataclass(frozen=True)
class KeyPair:
    """A Curve25519 key pair; ``private`` is clamped the way ``wg genkey`` clamps it."""

    private: bytes
    public: bytes

    @classmethod
    def from_seed(cls, seed: str | bytes) -> KeyPair:
        raw = bytearray(hashlib.blake2s(seed.encode() if isinstance(seed, str) else seed).digest())
        raw[0] &= 248
        raw[31] = (raw[31] & 127) | 64
        key = X25519PrivateKey.from_private_bytes(bytes(raw))
        return cls(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                   key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @property
    def private_b64(self) -> str:
        return base64.b64encode(self.private).decode()

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public).decode()


def tai64n(unix_ns: int) -> bytes:
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    return struct.pack(">QI", _TAI64_BASE + seconds, nanos)


@dataclass(frozen=True)
class Session:
    """The result of one handshake: both messages, and the transport keys of each side."""

    initiation: bytes
    response: bytes
    initiator_index: int
    responder_index: int
    initiator_send_key: bytes  # = responder's receive key
    responder_send_key: bytes  # = initiator's receive key
    initiator_ephemeral: KeyPair
    responder_ephemeral: KeyPair


def handshake(initiator: KeyPair, responder: KeyPair, initiator_index: int, responder_index: int,
              ephemeral_seed: str = "labkit", unix_ns: int = 1_700_000_000_000_000_000,
              preshared_key: bytes = b"\x00" * 32) -> Session:
    """Run the IKpsk2 handshake for both sides and return the two messages and transport keys.

    ``mac2`` is all zeros: it is only filled in under load, after a cookie reply.
    """
    e_i = KeyPair.from_seed(f"{ephemeral_seed}/initiator-ephemeral")
    e_r = KeyPair.from_seed(f"{ephemeral_seed}/responder-ephemeral")

    # -- initiator -> responder (whitepaper §5.4.2)
    c = _hash(CONSTRUCTION)
    h = _hash(c + IDENTIFIER)
    h = _hash(h + responder.public)
    c = _kdf(c, e_i.public, 1)[0]
    h = _hash(h + e_i.public)
    c, k = _kdf(c, _dh(e_i.private, responder.public), 2)
    encrypted_static = _aead(k, 0, initiator.public, h)
    h = _hash(h + encrypted_static)
    c, k = _kdf(c, _dh(initiator.private, responder.public), 2)
    encrypted_timestamp = _aead(k, 0, tai64n(unix_ns), h)
    h = _hash(h + encrypted_timestamp)
    body = struct.pack("<II", MESSAGE_INITIATION, initiator_index) + e_i.public + encrypted_static + encrypted_timestamp
    initiation = body + _mac(_hash(LABEL_MAC1 + responder.public), body) + b"\x00" * 16

    # -- responder -> initiator (§5.4.3); the responder has derived the same c and h
    c = _kdf(c, e_r.public, 1)[0]
    h = _hash(h + e_r.public)
    c = _kdf(c, _dh(e_r.private, e_i.public), 1)[0]
    c = _kdf(c, _dh(e_r.private, initiator.public), 1)[0]
    c, tau, k = _kdf(c, preshared_key, 3)
    h = _hash(h + tau)
    encrypted_nothing = _aead(k, 0, b"", h)
    body = struct.pack("<III", MESSAGE_RESPONSE, responder_index, initiator_index) + e_r.public + encrypted_nothing
    response = body + _mac(_hash(LABEL_MAC1 + initiator.public), body) + b"\x00" * 16

    # -- transport keys (§5.4.5): the initiator sends with the first, receives with the second
    send_i, send_r = _kdf(c, b"", 2)
    return Session(initiation, response, initiator_index, responder_index, send_i, send_r, e_i, e_r)


def transport(receiver_index: int, counter: int, key: bytes, packet: bytes) -> bytes:
    """A transport data message carrying ``packet`` (an IP packet; empty for a keepalive).

    The plaintext is zero-padded to a multiple of 16 bytes before encryption (§5.4.6), which is why
    WireGuard's overhead is 60 bytes over IPv4 *plus* 0-15 bytes of padding.
    """
    padded = packet + b"\x00" * (-len(packet) % 16)
    return struct.pack("<IIQ", MESSAGE_TRANSPORT, receiver_index, counter) + _aead(key, counter, padded, b"")


def open_transport(message: bytes, key: bytes) -> tuple[int, int, bytes]:
    """Decrypt a transport message: (receiver index, counter, padded plaintext). Raises on a bad tag."""
    kind, receiver, counter = struct.unpack_from("<IIQ", message)
    if kind != MESSAGE_TRANSPORT:
        raise ValueError(f"not a transport data message (type {kind})")
    nonce = b"\x00" * 4 + struct.pack("<Q", counter)
    return receiver, counter, ChaCha20Poly1305(key).decrypt(nonce, message[TRANSPORT_HEADER_LEN:], b"")


def keylog(initiator: KeyPair, responder: KeyPair, session: Session) -> str:
    """Keys in the format of Wireshark's ``wg.keylog_file`` (as written by WireGuard's
    ``contrib/extract-handshakes``), seen from the initiator: enough to decrypt the whole session."""
    b64 = lambda raw: base64.b64encode(raw).decode()
    return "".join(f"{name} = {b64(value)}\n" for name, value in (
        ("LOCAL_STATIC_PRIVATE_KEY", initiator.private),
        ("REMOTE_STATIC_PUBLIC_KEY", responder.public),
        ("LOCAL_EPHEMERAL_PRIVATE_KEY", session.initiator_ephemeral.private),
        ("PRESHARED_KEY", b"\x00" * 32),
    ))


__all__ = [
    "DEFAULT_PORT",
    "INITIATION_LEN",
    "MESSAGE_COOKIE_REPLY",
    "MESSAGE_INITIATION",
    "MESSAGE_RESPONSE",
    "MESSAGE_TRANSPORT",
    "RESPONSE_LEN",
    "TAG_LEN",
    "TRANSPORT_HEADER_LEN",
    "KeyPair",
    "Session",
    "handshake",
    "keylog",
    "open_transport",
    "tai64n",
    "transport",
]
