"""The IE registry and the RFC 7012 data types (labkit.flows.ies)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path

import pytest

from labkit.errors import LabkitError
from labkit.flows import ies
from labkit.flows.ies import (
    ANTREA_PEN,
    DATA_TYPES,
    DEFAULT_REGISTRY,
    REVERSE_PEN,
    VMWARE_PEN,
    IERegistry,
    InformationElement,
    IPFIXError,
)

# ---------------------------------------------------------------------------------------------
# The registry as data


# antrea.md §4.2, the IEs the antrea-agent exports: (id, name, type), enterprise 56506.
ANTREA_AGENT_IES = [
    (100, "sourcePodNamespace", "string"), (101, "sourcePodName", "string"),
    (102, "destinationPodNamespace", "string"), (103, "destinationPodName", "string"),
    (104, "sourceNodeName", "string"), (105, "destinationNodeName", "string"),
    (106, "destinationClusterIPv4", "ipv4Address"), (107, "destinationClusterIPv6", "ipv6Address"),
    (108, "destinationServicePort", "unsigned16"), (109, "destinationServicePortName", "string"),
    (110, "ingressNetworkPolicyName", "string"), (111, "ingressNetworkPolicyNamespace", "string"),
    (115, "ingressNetworkPolicyType", "unsigned8"),
    (139, "ingressNetworkPolicyRuleAction", "unsigned8"),
    (141, "ingressNetworkPolicyRuleName", "string"),
    (112, "egressNetworkPolicyName", "string"), (113, "egressNetworkPolicyNamespace", "string"),
    (118, "egressNetworkPolicyType", "unsigned8"),
    (140, "egressNetworkPolicyRuleAction", "unsigned8"),
    (142, "egressNetworkPolicyRuleName", "string"),
    (136, "tcpState", "string"), (137, "flowType", "unsigned8"),
    (153, "egressName", "string"), (154, "egressIP", "string"), (157, "egressNodeName", "string"),
    (168, "destinationServiceIPv4", "ipv4Address"), (169, "destinationServiceIPv6", "ipv6Address"),
    (170, "proxySnatIPv4", "ipv4Address"), (171, "proxySnatIPv6", "ipv6Address"),
    (172, "proxySnatPort", "unsigned16"),
]

# antrea.md §4.2, IANA IEs of the Flow Exporter, and the 4 reverse IEs (enterprise 29305).
ANTREA_IANA_IES = [
    (150, "flowStartSeconds", "dateTimeSeconds"), (151, "flowEndSeconds", "dateTimeSeconds"),
    (136, "flowEndReason", "unsigned8"), (8, "sourceIPv4Address", "ipv4Address"),
    (12, "destinationIPv4Address", "ipv4Address"), (27, "sourceIPv6Address", "ipv6Address"),
    (28, "destinationIPv6Address", "ipv6Address"), (7, "sourceTransportPort", "unsigned16"),
    (11, "destinationTransportPort", "unsigned16"), (4, "protocolIdentifier", "unsigned8"),
    (86, "packetTotalCount", "unsigned64"), (85, "octetTotalCount", "unsigned64"),
    (2, "packetDeltaCount", "unsigned64"), (1, "octetDeltaCount", "unsigned64"),
]
ANTREA_REVERSE_IES = [
    (86, "reversePacketTotalCount", "unsigned64"), (85, "reverseOctetTotalCount", "unsigned64"),
    (2, "reversePacketDeltaCount", "unsigned64"), (1, "reverseOctetDeltaCount", "unsigned64"),
]

# Open vSwitch ofproto/ipfix-enterprise-entities.def (VMware, 6876) plus virtualObsID.
OVS_VMWARE_IES = [
    (891, "tunnelType", "unsigned8"), (892, "tunnelKey", "octetArray"),
    (893, "tunnelSourceIPv4Address", "ipv4Address"),
    (894, "tunnelDestinationIPv4Address", "ipv4Address"),
    (895, "tunnelProtocolIdentifier", "unsigned8"), (896, "tunnelSourceTransportPort", "unsigned16"),
    (897, "tunnelDestinationTransportPort", "unsigned16"), (898, "virtualObsID", "string"),
]


@pytest.mark.parametrize(("enterprise", "table"), [
    (ANTREA_PEN, ANTREA_AGENT_IES), (0, ANTREA_IANA_IES), (REVERSE_PEN, ANTREA_REVERSE_IES),
    (VMWARE_PEN, OVS_VMWARE_IES)])
def test_registry_has_the_documented_ies(enterprise: int, table: list) -> None:
    wrong = []
    for element_id, name, type_name in table:
        ie = DEFAULT_REGISTRY.by_name(name)
        if (ie.enterprise_id, ie.element_id, ie.data_type.name) != (enterprise, element_id, type_name):
            wrong.append((name, ie))
        assert DEFAULT_REGISTRY.lookup(enterprise, element_id) == ie
    assert wrong == []


def test_antrea_and_iana_ids_collide_only_across_enterprises() -> None:
    # antrea.md §4.2: Antrea 150/151/136 are not IANA 150/151/136.
    assert DEFAULT_REGISTRY.lookup(ANTREA_PEN, 136).name == "tcpState"
    assert DEFAULT_REGISTRY.lookup(0, 136).name == "flowEndReason"
    assert DEFAULT_REGISTRY.lookup(ANTREA_PEN, 150).name == "reverseThroughputFromDestinationNode"
    assert DEFAULT_REGISTRY.lookup(0, 150).name == "flowStartSeconds"


def _python_ipfix_specs(filename: str) -> dict[tuple[int, int], tuple[str, str]]:
    ipfix = pytest.importorskip("ipfix", reason="python-ipfix (pip install ipfix==0.9.7) "
                                                "holds the reference IANA/RFC 5103 tables")
    text = (Path(ipfix.__file__).parent / filename).read_text()
    specs = {}
    for m in re.finditer(r"^(\w+)\((?:(\d+)/)?(\d+)\)<(\w+)>", text, re.M):
        specs[(int(m.group(2) or 0), int(m.group(3)))] = (m.group(1), m.group(4))
    return specs


def test_iana_and_reverse_ies_match_python_ipfix_tables() -> None:
    reference = {**_python_ipfix_specs("iana.iespec"), **_python_ipfix_specs("rfc5103.iespec")}
    mine = [ie for ie in DEFAULT_REGISTRY if ie.enterprise_id in (0, REVERSE_PEN)]
    assert len(mine) > 150
    mismatched = [(ie.key, ie.name, ie.data_type.name, reference.get(ie.key)) for ie in mine
                  if reference.get(ie.key) != (ie.name, ie.data_type.name)]
    assert mismatched == []


def test_registry_rejects_conflicts_and_suggests_names() -> None:
    u8 = DATA_TYPES["unsigned8"]
    with pytest.raises(IPFIXError, match="conflicting"):
        IERegistry([InformationElement("a", 1, u8), InformationElement("a", 2, u8)])
    with pytest.raises(IPFIXError, match="conflicting"):
        IERegistry([InformationElement("a", 1, u8), InformationElement("b", 1, u8)])
    with pytest.raises(IPFIXError, match="did you mean sourcePodName") as info:
        DEFAULT_REGISTRY.by_name("sourcePodNmae")
    assert isinstance(info.value, LabkitError)
    assert info.value.where == "sourcePodNmae"


def test_unknown_ies_are_named_by_number() -> None:
    ie = DEFAULT_REGISTRY.by_name("12345:7")
    assert (ie.name, ie.key, ie.data_type.name) == ("12345:7", (12345, 7), "octetArray")
    assert DEFAULT_REGISTRY.by_name("56506:101").name == "sourcePodName"  # known: looked up
    extended = DEFAULT_REGISTRY.extended([InformationElement("myCounter", 7, DATA_TYPES["unsigned32"], 12345)])
    assert extended.for_key(12345, 7).name == "myCounter"
    assert "myCounter" not in DEFAULT_REGISTRY and "myCounter" in extended


def test_element_ids_are_15_bit() -> None:
    with pytest.raises(IPFIXError, match="0..32767"):
        InformationElement("x", 0x8000, DATA_TYPES["unsigned8"])


# ---------------------------------------------------------------------------------------------
# Data types: fixed encodings (RFC 7011 §6.1)


@pytest.mark.parametrize(("type_name", "value", "length", "wire"), [
    ("unsigned16", 80, None, "0050"),
    ("unsigned64", 7001, 4, "00001b59"),  # §6.2 reduced size
    ("signed32", -2, None, "fffffffe"),
    ("signed64", -2, 2, "fffe"),  # §6.2: reduced signed values stay two's complement
    ("float64", 1.5, None, "3ff8000000000000"),
    ("float64", 1.5, 4, "3fc00000"),  # float64 sent as float32
    ("boolean", True, None, "01"),
    ("boolean", False, None, "02"),  # §6.1.5: false is 2, not 0
    ("macAddress", "0A:00:27:00:00:01", None, "0a0027000001"),
    ("string", "héllo", None, "68c3a96c6c6f"),
    ("dateTimeSeconds", 1_700_000_000, None, "6553f100"),
    ("dateTimeSeconds", dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc), None, "6553f100"),
    ("dateTimeMilliseconds", 1_700_000_000_123, None, "0000018bcfe5687b"),
    # §6.1.9: NTP format, seconds since 1900 (1970 is 0x83aa7e80) and a binary fraction
    ("dateTimeMicroseconds", 500_000, None, "83aa7e8080000000"),
    ("dateTimeNanoseconds", 250_000_000, None, "83aa7e8040000000"),
    ("ipv4Address", "10.10.0.1", None, "0a0a0001"),
    ("ipv6Address", "fd00::1", None, "fd000000000000000000000000000001"),
])
def test_encodings_on_the_wire(type_name: str, value, length, wire: str) -> None:
    dtype = DATA_TYPES[type_name]
    assert dtype.encode(value, length).hex() == wire


def test_decoded_python_values() -> None:
    assert DATA_TYPES["macAddress"].decode(bytes.fromhex("0a0027000001")) == "0a:00:27:00:00:01"
    assert DATA_TYPES["ipv4Address"].decode(b"\x0a\x0a\x00\x01") == ipaddress.IPv4Address("10.10.0.1")
    assert DATA_TYPES["signed64"].decode(b"\xff\xfe") == -2  # sign-extended
    assert DATA_TYPES["unsigned64"].decode(b"\x1b\x59") == 7001
    assert DATA_TYPES["float64"].decode(bytes.fromhex("3fc00000")) == 1.5
    assert DATA_TYPES["string"].decode(b"ok\xff") == "ok\ufffd"  # bad UTF-8 does not raise


@pytest.mark.parametrize(("type_name", "value", "length"), [
    ("unsigned8", 256, None), ("unsigned8", -1, None), ("unsigned64", 1 << 32, 4),
    ("signed8", 128, None), ("boolean", 1, None), ("macAddress", "0a:00", None),
    ("ipv4Address", "fd00::1", None), ("ipv6Address", "10.0.0.1", None),
    ("string", "\ud800", None), ("string", "abc", 2), ("octetArray", "text", None),
    ("dateTimeMicroseconds", -(3_000_000_000 * 10**6), None), ("unsigned32", 1, 8),
    ("ipv4Address", "10.0.0.1", 2), ("float32", 1.0, 8), ("float32", 1e300, None),
])
def test_bad_values_raise_ipfix_errors(type_name: str, value, length) -> None:
    with pytest.raises(IPFIXError):
        DATA_TYPES[type_name].encode(value, length)


def test_bad_wire_values() -> None:
    with pytest.raises(IPFIXError, match="neither 1"):
        DATA_TYPES["boolean"].decode(b"\x00")
    with pytest.raises(IPFIXError, match="cannot be 3 octets"):
        DATA_TYPES["ipv4Address"].decode(b"\x01\x02\x03")


def test_module_exports() -> None:
    assert set(ies.__all__) <= set(dir(ies))
    assert "IPFIXError" in ies.__all__
