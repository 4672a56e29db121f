"""Traffic encryption between Nodes (Antrea's ``trafficEncryptionMode``: none | ipsec | wireGuard).

* :mod:`~labkit.encryption.wire` (pure): the frames someone on the underlay captures in each
  mode, written as pcap, shown as tables, and each mode's overhead measured from those bytes;
* :mod:`~labkit.encryption.wireguard` (root): a real WireGuard mesh between node network
  namespaces with ``wireguard-go`` (this lab's stand-in for the kernel module Antrea uses);
* :mod:`~labkit.encryption.ipsec` (root): real IKEv2 + ESP between node namespaces with
  strongSwan's userspace ``kernel-libipsec`` (the kernel here has no ESP);
* :mod:`~labkit.encryption.testbed` (root): two nodes and two pods in namespaces, to capture and
  measure the real thing. See docs/encryption.md.
"""

from .dissect import capture_table, dissect, tshark_available
from .ipsec import IPsecMesh
from .pcap import PcapError, read_pcap, write_pcap
from .testbed import Testbed
from .wire import (MODES, Capture, Frame, PodEndpoint, build_capture, build_captures, check_mode,
                   endpoints_from_state, http_exchange, mtu_table, overhead, overhead_breakdown, overhead_table,
                   pod_mtu)
from .wireguard import NodeEndpoint, WireGuardMesh
from . import exercises  # noqa: E402  (notebook 07: from labkit.encryption import exercises)

__all__ = [
    "MODES", "Capture", "Frame", "PodEndpoint", "build_capture", "build_captures", "check_mode",
    "endpoints_from_state", "http_exchange", "overhead", "overhead_table", "overhead_breakdown", "pod_mtu",
    "mtu_table", "capture_table", "dissect", "tshark_available", "write_pcap", "read_pcap", "PcapError",
    "NodeEndpoint", "WireGuardMesh", "IPsecMesh", "Testbed",
    "exercises",  # notebook 07's checks and tables (a module: from labkit.encryption import exercises)
]
