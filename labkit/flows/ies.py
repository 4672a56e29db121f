"""IPFIX Information Elements, described as data, and the abstract data types that encode them.

An Information Element (IE) is identified on the wire by ``(enterprise_id, element_id)``
(RFC 7011 §3.2) and has one abstract data type (RFC 7012 §3.1). This module holds:

* :class:`DataType`: the RFC 7012 abstract data types with their RFC 7011 §6 encodings,
  including reduced-size encoding (§6.2);
* :class:`InformationElement` and :class:`IERegistry`: an immutable name <-> id table;
* :data:`DEFAULT_REGISTRY`: the IEs labkit meets in an Antrea lab — the IANA IEs the Antrea
  Flow Exporter and Open vSwitch export, their RFC 5103 reverse IEs (enterprise 29305), the
  VMware IEs Open vSwitch exports (enterprise 6876) and Antrea's own IEs (enterprise 56506).

Python values: unsigned/signed integers and the ``dateTime*`` types are ``int`` (the
``dateTime*`` types count seconds, milliseconds, microseconds or nanoseconds since the UNIX
epoch, as their name says; encoders also take an aware or naive-UTC ``datetime``), floats are
``float``, ``boolean`` is ``bool``, ``macAddress`` is ``"aa:bb:cc:dd:ee:ff"``, ``string`` is
``str``, ``octetArray`` is ``bytes`` and addresses are :mod:`ipaddress` objects (encoders also
take their text form).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from labkit.errors import LabkitError

# RFC 7011 §7: a Field Length of 65535 in a Template marks a variable-length IE.
VARLEN = 0xFFFF

IANA = 0  # not a Private Enterprise Number: the IANA-assigned IEs carry no enterprise number
VMWARE_PEN = 6876
REVERSE_PEN = 29305  # RFC 5103 §6.1: reverse IEs of the IANA IEs
ANTREA_PEN = 56506

_NTP_EPOCH_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_UNIX_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class IPFIXError(LabkitError):
    """An IPFIX value, template or message that cannot be encoded or decoded.

    ``where`` locates the problem (IE name, template id, byte offset, exporter ...) and
    ``hint`` says how to fix it, when there is something to fix on labkit's side.
    """

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        self.message = message
        self.where = where
        self.hint = hint
        text = f"{where}: {message}" if where else message
        if hint:
            text += f" (fix: {hint})"
        super().__init__(text)


# --------------------------------------------------------------------------------------------
# Abstract data types (RFC 7012 §3.1) and their encodings (RFC 7011 §6.1)


@dataclass(frozen=True, repr=False)
class DataType:
    """One RFC 7012 abstract data type.

    ``type_id`` is its number in IANA's "IPFIX Information Element Data Types" registry;
    ``length`` its full encoded length in octets, or :data:`VARLEN`; ``lengths`` every length
    a Template may give it (RFC 7011 §6.2 reduced-size encoding for integers and float64).
    """

    name: str
    type_id: int
    length: int
    lengths: frozenset[int]

    def __repr__(self) -> str:
        return f"DataType({self.name!r})"

    @property
    def is_variable_length(self) -> bool:
        return self.length == VARLEN

    def accepts_length(self, length: int) -> bool:
        """Whether a Template field of this type may have ``length`` octets."""
        if self.name in ("octetArray", "string"):
            return 0 <= length <= VARLEN  # fixed or variable length, any size (§6.1.1, §6.1.6)
        return length in self.lengths

    def encode(self, value: Any, length: int | None = None) -> bytes:
        """``value`` in a field of ``length`` octets (default: the type's own length;
        :data:`VARLEN` for a variable-length field, which gets the value's natural length).
        Raises :class:`IPFIXError` if it does not fit."""
        if length is None:
            length = self.length
        if length == VARLEN and not self.is_variable_length or (
                length != VARLEN and not self.accepts_length(length)):
            raise IPFIXError(f"{self.name} cannot be encoded in a field of length {length}",
                             hint=f"use one of {sorted(self.lengths)}")
        return _ENCODERS[self.name](self, value, length)

    def decode(self, data: bytes) -> Any:
        """The Python value of ``data``, whose length is the field's length in the Template
        (reduced-size encodings are expanded, RFC 7011 §6.2)."""
        if not self.is_variable_length and len(data) not in self.lengths:
            raise IPFIXError(f"{self.name} cannot be {len(data)} octets long")
        return _DECODERS[self.name](self, bytes(data))


def _ints(full: int) -> frozenset[int]:
    return frozenset(range(1, full + 1))


def _data_types() -> dict[str, DataType]:
    rows = [
        # name, IANA data type number, full length, allowed lengths
        ("octetArray", 0, VARLEN, frozenset()),
        ("unsigned8", 1, 1, _ints(1)),
        ("unsigned16", 2, 2, _ints(2)),
        ("unsigned32", 3, 4, _ints(4)),
        ("unsigned64", 4, 8, _ints(8)),
        ("signed8", 5, 1, _ints(1)),
        ("signed16", 6, 2, _ints(2)),
        ("signed32", 7, 4, _ints(4)),
        ("signed64", 8, 8, _ints(8)),
        ("float32", 9, 4, frozenset({4})),
        ("float64", 10, 8, frozenset({4, 8})),  # §6.2: float64 may be sent as float32
        ("boolean", 11, 1, frozenset({1})),
        ("macAddress", 12, 6, frozenset({6})),
        ("string", 13, VARLEN, frozenset()),
        ("dateTimeSeconds", 14, 4, frozenset({4})),
        ("dateTimeMilliseconds", 15, 8, frozenset({8})),
        ("dateTimeMicroseconds", 16, 8, frozenset({8})),
        ("dateTimeNanoseconds", 17, 8, frozenset({8})),
        ("ipv4Address", 18, 4, frozenset({4})),
        ("ipv6Address", 19, 16, frozenset({16})),
    ]
    return {name: DataType(name, type_id, length, lengths) for name, type_id, length, lengths in rows}


DATA_TYPES: dict[str, DataType] = _data_types()


def _need(ok: bool, dtype: DataType, value: Any, length: int) -> None:
    if not ok:
        raise IPFIXError(f"{value!r} is not a valid {dtype.name} in {length} octets")


def _enc_unsigned(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.1, network byte order; §6.2 reduced size keeps the low-order octets.
    _need(isinstance(value, int) and 0 <= value < 1 << (8 * length), dtype, value, length)
    return int(value).to_bytes(length, "big")


def _dec_unsigned(dtype: DataType, data: bytes) -> int:
    return int.from_bytes(data, "big")


def _enc_signed(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.2 two's complement; §6.2 reduced size: the value must fit, sign-extended.
    bound = 1 << (8 * length - 1)
    _need(isinstance(value, int) and -bound <= value < bound, dtype, value, length)
    return int(value).to_bytes(length, "big", signed=True)


def _dec_signed(dtype: DataType, data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


def _enc_float(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.3 / §6.1.4: IEEE 754 binary32 / binary64, network byte order.
    _need(isinstance(value, (int, float)) and not isinstance(value, bool), dtype, value, length)
    try:
        return struct.pack("!f" if length == 4 else "!d", float(value))
    except OverflowError as exc:
        raise IPFIXError(f"{value!r} does not fit a {length}-octet float",
                         hint="send it as float64 in 8 octets") from exc


def _dec_float(dtype: DataType, data: bytes) -> float:
    return struct.unpack("!f" if len(data) == 4 else "!d", data)[0]


def _enc_boolean(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.5: the SMIv2 TruthValue: 1 means true, 2 means false (0 is not valid).
    _need(isinstance(value, bool), dtype, value, length)
    return b"\x01" if value else b"\x02"


def _dec_boolean(dtype: DataType, data: bytes) -> bool:
    if data not in (b"\x01", b"\x02"):
        raise IPFIXError(f"boolean octet {data.hex()} is neither 1 (true) nor 2 (false)",
                         hint="RFC 7011 §6.1.5: the exporter must send 1 or 2")
    return data == b"\x01"


def _enc_mac(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.6 (macAddress): the six octets of the MAC-48 address, in order.
    if isinstance(value, (bytes, bytearray)) and len(value) == 6:
        return bytes(value)
    if isinstance(value, str):
        digits = value.replace(":", "").replace("-", "").replace(".", "")
        if len(digits) == 12:
            try:
                return bytes.fromhex(digits)
            except ValueError:
                pass
    raise IPFIXError(f"{value!r} is not a MAC address", hint='write it as "aa:bb:cc:dd:ee:ff"')


def _dec_mac(dtype: DataType, data: bytes) -> str:
    return data.hex(":")


def _enc_octets(dtype: DataType, value: Any, length: int) -> bytes:
    _need(isinstance(value, (bytes, bytearray, memoryview)), dtype, value, length)
    return _fit(dtype, bytes(value), length)


def _dec_octets(dtype: DataType, data: bytes) -> bytes:
    return data


def _enc_string(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.6: UTF-8, no terminating NUL.
    _need(isinstance(value, str), dtype, value, length)
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates have no UTF-8 form
        raise IPFIXError(f"{value!r} cannot be encoded as UTF-8: {exc.reason}") from exc
    return _fit(dtype, data, length)


def _dec_string(dtype: DataType, data: bytes) -> str:
    # Invalid UTF-8 from a foreign exporter must not make a whole message undecodable.
    return data.decode("utf-8", errors="replace")


def _fit(dtype: DataType, data: bytes, length: int) -> bytes:
    if length != VARLEN and len(data) != length:
        raise IPFIXError(f"{dtype.name} value is {len(data)} octets but its field is {length}",
                         hint="use a variable-length field (length 65535)")
    if len(data) >= VARLEN:
        raise IPFIXError(f"{dtype.name} value of {len(data)} octets is longer than IPFIX allows "
                         f"({VARLEN - 1})")
    return data


def _since_epoch(value: Any, per_second: int, dtype: DataType, length: int) -> int:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)  # naive datetimes are taken as UTC
        delta = value - _UNIX_EPOCH
        return (delta.days * 86_400 + delta.seconds) * per_second + (
            delta.microseconds * per_second // 1_000_000)
    _need(isinstance(value, int) and not isinstance(value, bool), dtype, value, length)
    return int(value)


def _enc_seconds(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.7: unsigned32 seconds since the UNIX epoch.
    return _enc_unsigned(dtype, _since_epoch(value, 1, dtype, length), 4)


def _enc_milliseconds(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.8: unsigned64 milliseconds since the UNIX epoch.
    return _enc_unsigned(dtype, _since_epoch(value, 1_000, dtype, length), 8)


def _enc_ntp(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.9 / §6.1.10: NTP Timestamp format (RFC 5905 §6): 32-bit seconds since
    # 1900-01-01 and a 32-bit binary fraction of a second. Era 0 only (until 2036-02-07).
    per_second = 1_000_000 if dtype.name == "dateTimeMicroseconds" else 1_000_000_000
    ticks = _since_epoch(value, per_second, dtype, length)
    seconds, part = divmod(ticks, per_second)
    seconds += _NTP_EPOCH_OFFSET_S
    if not 0 <= seconds < 1 << 32:
        raise IPFIXError(f"{value!r} is outside NTP era 0 (1900-01-01 to 2036-02-07)")
    fraction = ((part << 32) + per_second // 2) // per_second  # nearest 2**-32 s
    return struct.pack("!II", seconds, fraction)


def _dec_ntp(dtype: DataType, data: bytes) -> int:
    per_second = 1_000_000 if dtype.name == "dateTimeMicroseconds" else 1_000_000_000
    seconds, fraction = struct.unpack("!II", data)
    part = (fraction * per_second + (1 << 31)) >> 32  # nearest unit
    return (seconds - _NTP_EPOCH_OFFSET_S) * per_second + part


def _enc_address(dtype: DataType, value: Any, length: int) -> bytes:
    # RFC 7011 §6.1.11 / §6.1.12: the address octets in network byte order.
    cls = ipaddress.IPv4Address if dtype.name == "ipv4Address" else ipaddress.IPv6Address
    if isinstance(value, (str, int)) and not isinstance(value, bool) or isinstance(value, cls):
        try:
            return cls(value).packed
        except ValueError:
            pass
    raise IPFIXError(f"{value!r} is not an {dtype.name}")


def _dec_address(dtype: DataType, data: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(data)


_ENCODERS = {
    "octetArray": _enc_octets, "string": _enc_string, "boolean": _enc_boolean,
    "macAddress": _enc_mac, "float32": _enc_float, "float64": _enc_float,
    "dateTimeSeconds": _enc_seconds, "dateTimeMilliseconds": _enc_milliseconds,
    "dateTimeMicroseconds": _enc_ntp, "dateTimeNanoseconds": _enc_ntp,
    "ipv4Address": _enc_address, "ipv6Address": _enc_address,
    **{f"unsigned{n}": _enc_unsigned for n in (8, 16, 32, 64)},
    **{f"signed{n}": _enc_signed for n in (8, 16, 32, 64)},
}
_DECODERS = {
    "octetArray": _dec_octets, "string": _dec_string, "boolean": _dec_boolean,
    "macAddress": _dec_mac, "float32": _dec_float, "float64": _dec_float,
    "dateTimeSeconds": _dec_unsigned, "dateTimeMilliseconds": _dec_unsigned,
    "dateTimeMicroseconds": _dec_ntp, "dateTimeNanoseconds": _dec_ntp,
    "ipv4Address": _dec_address, "ipv6Address": _dec_address,
    **{f"unsigned{n}": _dec_unsigned for n in (8, 16, 32, 64)},
    **{f"signed{n}": _dec_signed for n in (8, 16, 32, 64)},
}


# --------------------------------------------------------------------------------------------
# Information Elements


@dataclass(frozen=True)
class InformationElement:
    """One IE: its name, ``element_id`` (15 bits), ``enterprise_id`` (0 for IANA) and type."""

    name: str
    element_id: int
    data_type: DataType
    enterprise_id: int = IANA

    def __post_init__(self) -> None:
        if not 0 <= self.element_id < 0x8000:  # RFC 7011 §3.2: the top bit is the enterprise bit
            raise IPFIXError(f"element id {self.element_id} is not in 0..32767", where=self.name)
        if not 0 <= self.enterprise_id < 1 << 32:
            raise IPFIXError(f"enterprise number {self.enterprise_id} is not 32-bit", where=self.name)

    @property
    def key(self) -> tuple[int, int]:
        """``(enterprise_id, element_id)``, how the IE is named on the wire."""
        return (self.enterprise_id, self.element_id)

    @property
    def length(self) -> int:
        """The field length a Template gives this IE by default."""
        return self.data_type.length


def unknown_element(enterprise_id: int, element_id: int) -> InformationElement:
    """The stand-in for an IE missing from the registry: named ``"<enterprise>:<id>"``, its
    values are kept as raw ``bytes``."""
    return InformationElement(f"{enterprise_id}:{element_id}", element_id,
                              DATA_TYPES["octetArray"], enterprise_id)


class IERegistry:
    """An immutable table of IEs, looked up by name or by ``(enterprise_id, element_id)``."""

    def __init__(self, elements: Iterable[InformationElement]) -> None:
        by_name: dict[str, InformationElement] = {}
        by_key: dict[tuple[int, int], InformationElement] = {}
        problems = []
        for ie in elements:
            if ie.name in by_name and by_name[ie.name] != ie:
                problems.append(f"name {ie.name} is used by {by_name[ie.name].key} and {ie.key}")
            if ie.key in by_key and by_key[ie.key] != ie:
                problems.append(f"{ie.key} is both {by_key[ie.key].name} and {ie.name}")
            by_name[ie.name] = ie
            by_key[ie.key] = ie
        if problems:
            raise IPFIXError("conflicting Information Elements: " + "; ".join(problems))
        self._by_name = by_name
        self._by_key = by_key

    def __iter__(self) -> Iterator[InformationElement]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def lookup(self, enterprise_id: int, element_id: int) -> InformationElement | None:
        """The IE with this wire identity, or ``None``."""
        return self._by_key.get((enterprise_id, element_id))

    def for_key(self, enterprise_id: int, element_id: int) -> InformationElement:
        """The IE with this wire identity, or its :func:`unknown_element` stand-in."""
        return self._by_key.get((enterprise_id, element_id)) or unknown_element(
            enterprise_id, element_id)

    def by_name(self, name: str) -> InformationElement:
        """The IE called ``name``; ``"<enterprise>:<id>"`` names an IE by number (looked up,
        or raw ``octetArray`` if unknown)."""
        ie = self._by_name.get(name)
        if ie is not None:
            return ie
        enterprise, sep, element = name.partition(":")
        if sep and enterprise.isdigit() and element.isdigit():
            return self.for_key(int(enterprise), int(element))
        close = difflib.get_close_matches(name, list(self._by_name), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else (
            'add it with IERegistry.extended(...), or name it by number as "<enterprise>:<id>"')
        raise IPFIXError("no such Information Element", where=name, hint=hint)

    def extended(self, elements: Iterable[InformationElement]) -> IERegistry:
        """A new registry with these IEs added."""
        return IERegistry([*self, *elements])


# --------------------------------------------------------------------------------------------
# The IEs themselves. Ids and types: IANA's "IPFIX Information Elements" registry (checked by
# the tests against python-ipfix's copy of it), OVS ofproto/ipfix-enterprise-entities.def, and
# Antrea's registry (go-ipfix pkg/registry/registry_antrea.go).

_IANA_ROWS: tuple[tuple[int, str, str], ...] = (
    # Exported by the Antrea Flow Exporter (docs/network-flow-visibility.md)
    (1, "octetDeltaCount", "unsigned64"),
    (2, "packetDeltaCount", "unsigned64"),
    (4, "protocolIdentifier", "unsigned8"),
    (7, "sourceTransportPort", "unsigned16"),
    (8, "sourceIPv4Address", "ipv4Address"),
    (11, "destinationTransportPort", "unsigned16"),
    (12, "destinationIPv4Address", "ipv4Address"),
    (27, "sourceIPv6Address", "ipv6Address"),
    (28, "destinationIPv6Address", "ipv6Address"),
    (85, "octetTotalCount", "unsigned64"),
    (86, "packetTotalCount", "unsigned64"),
    (136, "flowEndReason", "unsigned8"),
    (150, "flowStartSeconds", "dateTimeSeconds"),
    (151, "flowEndSeconds", "dateTimeSeconds"),
    # Added by the Flow Aggregator in Proxy mode
    (61, "flowDirection", "unsigned8"),
    (403, "originalExporterIPv4Address", "ipv4Address"),
    (404, "originalExporterIPv6Address", "ipv6Address"),
    (405, "originalObservationDomainId", "unsigned32"),
    # Exported by Open vSwitch (ofproto/ofproto-dpif-ipfix.c, ipfix_define_template_fields).
    # OVS sends observationPointId in 4 octets: IANA's type is now unsigned64, so that is a
    # reduced-size encoding (RFC 7011 §6.2) the decoder expands.
    (138, "observationPointId", "unsigned64"),
    (56, "sourceMacAddress", "macAddress"),
    (80, "destinationMacAddress", "macAddress"),
    (256, "ethernetType", "unsigned16"),
    (240, "ethernetHeaderLength", "unsigned8"),
    (10, "ingressInterface", "unsigned32"),
    (368, "ingressInterfaceType", "unsigned32"),
    (82, "interfaceName", "string"),
    (83, "interfaceDescription", "string"),
    (14, "egressInterface", "unsigned32"),
    (369, "egressInterfaceType", "unsigned32"),
    (58, "vlanId", "unsigned16"),
    (243, "dot1qVlanId", "unsigned16"),
    (244, "dot1qPriority", "unsigned8"),
    (60, "ipVersion", "unsigned8"),
    (192, "ipTTL", "unsigned8"),
    (195, "ipDiffServCodePoint", "unsigned8"),
    (196, "ipPrecedence", "unsigned8"),
    (5, "ipClassOfService", "unsigned8"),
    (176, "icmpTypeIPv4", "unsigned8"),
    (177, "icmpCodeIPv4", "unsigned8"),
    (31, "flowLabelIPv6", "unsigned32"),
    (178, "icmpTypeIPv6", "unsigned8"),
    (179, "icmpCodeIPv6", "unsigned8"),
    (158, "flowStartDeltaMicroseconds", "unsigned32"),
    (159, "flowEndDeltaMicroseconds", "unsigned32"),
    (133, "droppedPacketDeltaCount", "unsigned64"),
    (135, "droppedPacketTotalCount", "unsigned64"),
    (354, "ingressUnicastPacketTotalCount", "unsigned64"),
    (355, "ingressMulticastPacketTotalCount", "unsigned64"),
    (356, "ingressBroadcastPacketTotalCount", "unsigned64"),
    (357, "egressUnicastPacketTotalCount", "unsigned64"),
    (358, "egressBroadcastPacketTotalCount", "unsigned64"),
    (19, "postMCastPacketDeltaCount", "unsigned64"),
    (174, "postMCastPacketTotalCount", "unsigned64"),
    (352, "layer2OctetDeltaCount", "unsigned64"),
    (353, "layer2OctetTotalCount", "unsigned64"),
    (132, "droppedOctetDeltaCount", "unsigned64"),
    (134, "droppedOctetTotalCount", "unsigned64"),
    (198, "octetDeltaSumOfSquares", "unsigned64"),
    (199, "octetTotalSumOfSquares", "unsigned64"),
    (25, "minimumIpTotalLength", "unsigned64"),
    (26, "maximumIpTotalLength", "unsigned64"),
    (20, "postMCastOctetDeltaCount", "unsigned64"),
    (175, "postMCastOctetTotalCount", "unsigned64"),
    (218, "tcpSynTotalCount", "unsigned64"),
    (219, "tcpFinTotalCount", "unsigned64"),
    (220, "tcpRstTotalCount", "unsigned64"),
    (221, "tcpPshTotalCount", "unsigned64"),
    (222, "tcpAckTotalCount", "unsigned64"),
    (223, "tcpUrgTotalCount", "unsigned64"),
    # OVS's options template (Exporting Process Reliability Statistics, RFC 7011 §4.3)
    (144, "exportingProcessId", "unsigned32"),
    (167, "notSentPacketTotalCount", "unsigned64"),
    # Other process / timing IEs a collector commonly meets
    (6, "tcpControlBits", "unsigned16"),
    (130, "exporterIPv4Address", "ipv4Address"),
    (131, "exporterIPv6Address", "ipv6Address"),
    (145, "templateId", "unsigned16"),
    (148, "flowId", "unsigned64"),
    (149, "observationDomainId", "unsigned32"),
    (152, "flowStartMilliseconds", "dateTimeMilliseconds"),
    (153, "flowEndMilliseconds", "dateTimeMilliseconds"),
    (154, "flowStartMicroseconds", "dateTimeMicroseconds"),
    (155, "flowEndMicroseconds", "dateTimeMicroseconds"),
    (156, "flowStartNanoseconds", "dateTimeNanoseconds"),
    (157, "flowEndNanoseconds", "dateTimeNanoseconds"),
    (160, "systemInitTimeMilliseconds", "dateTimeMilliseconds"),
    (166, "notSentFlowTotalCount", "unsigned64"),
    (168, "notSentOctetTotalCount", "unsigned64"),
    (210, "paddingOctets", "octetArray"),
    (239, "biflowDirection", "unsigned8"),
    (322, "observationTimeSeconds", "dateTimeSeconds"),
    (323, "observationTimeMilliseconds", "dateTimeMilliseconds"),
    (324, "observationTimeMicroseconds", "dateTimeMicroseconds"),
    (325, "observationTimeNanoseconds", "dateTimeNanoseconds"),
    (351, "layer2SegmentId", "unsigned64"),
)

# RFC 5103 §6.1 reverses an IANA IE by giving it enterprise number 29305 and the same id and
# type. The directional key IEs (source*/destination* addresses, ports and MACs) get no
# reverse IE: the reverse direction of a source is the destination IE.
_NOT_REVERSED = frozenset({7, 8, 11, 12, 27, 28, 56, 80})

_VMWARE_ROWS: tuple[tuple[int, str, str], ...] = (
    # Open vSwitch, ofproto/ipfix-enterprise-entities.def (VMware PEN 6876). tunnelKey and
    # virtualObsID are variable-length (size 0 there, 65535 on the wire).
    (891, "tunnelType", "unsigned8"),
    (892, "tunnelKey", "octetArray"),
    (893, "tunnelSourceIPv4Address", "ipv4Address"),
    (894, "tunnelDestinationIPv4Address", "ipv4Address"),
    (895, "tunnelProtocolIdentifier", "unsigned8"),
    (896, "tunnelSourceTransportPort", "unsigned16"),
    (897, "tunnelDestinationTransportPort", "unsigned16"),
    (898, "virtualObsID", "string"),
)

_ANTREA_ROWS: tuple[tuple[int, str, str], ...] = (
    # Exported by the antrea-agent Flow Exporter
    (100, "sourcePodNamespace", "string"),
    (101, "sourcePodName", "string"),
    (102, "destinationPodNamespace", "string"),
    (103, "destinationPodName", "string"),
    (104, "sourceNodeName", "string"),
    (105, "destinationNodeName", "string"),
    (106, "destinationClusterIPv4", "ipv4Address"),  # deprecated in v2.7 for 168
    (107, "destinationClusterIPv6", "ipv6Address"),  # deprecated in v2.7 for 169
    (108, "destinationServicePort", "unsigned16"),
    (109, "destinationServicePortName", "string"),
    (110, "ingressNetworkPolicyName", "string"),
    (111, "ingressNetworkPolicyNamespace", "string"),
    (115, "ingressNetworkPolicyType", "unsigned8"),
    (139, "ingressNetworkPolicyRuleAction", "unsigned8"),
    (141, "ingressNetworkPolicyRuleName", "string"),
    (112, "egressNetworkPolicyName", "string"),
    (113, "egressNetworkPolicyNamespace", "string"),
    (118, "egressNetworkPolicyType", "unsigned8"),
    (140, "egressNetworkPolicyRuleAction", "unsigned8"),
    (142, "egressNetworkPolicyRuleName", "string"),
    (136, "tcpState", "string"),
    (137, "flowType", "unsigned8"),
    (153, "egressName", "string"),
    (154, "egressIP", "string"),
    (157, "egressNodeName", "string"),
    (168, "destinationServiceIPv4", "ipv4Address"),
    (169, "destinationServiceIPv6", "ipv6Address"),
    (170, "proxySnatIPv4", "ipv4Address"),
    (171, "proxySnatIPv6", "ipv6Address"),
    (172, "proxySnatPort", "unsigned16"),
    # Registry-only or historical
    (114, "ingressNetworkPolicyUID", "string"),
    (116, "ingressNetworkPolicyRulePriority", "signed32"),
    (117, "egressNetworkPolicyUID", "string"),
    (119, "egressNetworkPolicyRulePriority", "signed32"),
    (138, "tcpStatePrevList", "string"),
    (155, "appProtocolName", "string"),  # "isL7" in older registries; L7 export removed in v2.6
    (156, "httpVals", "string"),
    # Added by the Flow Aggregator (Aggregate mode)
    (120, "packetTotalCountFromSourceNode", "unsigned64"),
    (121, "octetTotalCountFromSourceNode", "unsigned64"),
    (122, "packetDeltaCountFromSourceNode", "unsigned64"),
    (123, "octetDeltaCountFromSourceNode", "unsigned64"),
    (124, "reversePacketTotalCountFromSourceNode", "unsigned64"),
    (125, "reverseOctetTotalCountFromSourceNode", "unsigned64"),
    (126, "reversePacketDeltaCountFromSourceNode", "unsigned64"),
    (127, "reverseOctetDeltaCountFromSourceNode", "unsigned64"),
    (128, "packetTotalCountFromDestinationNode", "unsigned64"),
    (129, "octetTotalCountFromDestinationNode", "unsigned64"),
    (130, "packetDeltaCountFromDestinationNode", "unsigned64"),
    (131, "octetDeltaCountFromDestinationNode", "unsigned64"),
    (132, "reversePacketTotalCountFromDestinationNode", "unsigned64"),
    (133, "reverseOctetTotalCountFromDestinationNode", "unsigned64"),
    (134, "reversePacketDeltaCountFromDestinationNode", "unsigned64"),
    (135, "reverseOctetDeltaCountFromDestinationNode", "unsigned64"),
    (143, "sourcePodLabels", "string"),
    (144, "destinationPodLabels", "string"),
    (145, "throughput", "unsigned64"),
    (146, "reverseThroughput", "unsigned64"),
    (147, "throughputFromSourceNode", "unsigned64"),
    (148, "throughputFromDestinationNode", "unsigned64"),
    (149, "reverseThroughputFromSourceNode", "unsigned64"),
    (150, "reverseThroughputFromDestinationNode", "unsigned64"),
    # go-ipfix's current registry types these dateTimeSeconds (older ones: unsigned32);
    # both are 4 octets of seconds.
    (151, "flowEndSecondsFromSourceNode", "dateTimeSeconds"),
    (152, "flowEndSecondsFromDestinationNode", "dateTimeSeconds"),
    (158, "clusterId", "string"),
)


def _elements(rows: Iterable[tuple[int, str, str]], enterprise_id: int) -> list[InformationElement]:
    return [InformationElement(name, element_id, DATA_TYPES[type_name], enterprise_id)
            for element_id, name, type_name in rows]


def _reverse(ie: InformationElement) -> InformationElement:
    return InformationElement("reverse" + ie.name[0].upper() + ie.name[1:], ie.element_id,
                              ie.data_type, REVERSE_PEN)


IANA_ELEMENTS: tuple[InformationElement, ...] = tuple(_elements(_IANA_ROWS, IANA))
REVERSE_ELEMENTS: tuple[InformationElement, ...] = tuple(
    _reverse(ie) for ie in IANA_ELEMENTS if ie.element_id not in _NOT_REVERSED)
VMWARE_ELEMENTS: tuple[InformationElement, ...] = tuple(_elements(_VMWARE_ROWS, VMWARE_PEN))
ANTREA_ELEMENTS: tuple[InformationElement, ...] = tuple(_elements(_ANTREA_ROWS, ANTREA_PEN))

DEFAULT_REGISTRY = IERegistry([*IANA_ELEMENTS, *REVERSE_ELEMENTS, *VMWARE_ELEMENTS,
                               *ANTREA_ELEMENTS])

__all__ = [
    "ANTREA_ELEMENTS",
    "ANTREA_PEN",
    "DATA_TYPES",
    "DEFAULT_REGISTRY",
    "DataType",
    "IANA",
    "IANA_ELEMENTS",
    "IERegistry",
    "IPFIXError",
    "InformationElement",
    "REVERSE_ELEMENTS",
    "REVERSE_PEN",
    "VARLEN",
    "VMWARE_ELEMENTS",
    "VMWARE_PEN",
    "unknown_element",
]
