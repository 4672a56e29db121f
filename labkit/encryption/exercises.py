"""Helpers for notebook 07 (traffic encryption): comparison tables, the limits, the real capture, checks.

Kept here so that the notebook's cells stay one-liners and so that the course's tests exercise
the same code. Checks return a :class:`labkit.course.checks.CheckResult` (*passed* / *not yet*), as
every course check does; only a grading run turns a failure into :class:`labkit.errors.CheckFailed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..course.checks import CheckResult, conclude
from ..errors import CheckFailed
from .wire import MODES, Capture, overhead

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def compare_modes(captures: dict[str, Capture], inner_len: int = 1400) -> pd.DataFrame:
    """One row per mode: what an eavesdropper on the underlay sees, and the cost per packet."""
    import pandas as pd

    rows = []
    for mode, cap in captures.items():
        seen = cap.visibility()
        rows.append({"mode": mode, "emulated": cap.emulated, "frames": len(cap.frames),
                     "bytes on the wire": sum(len(f.data) for f in cap.frames),
                     "pod IPs visible": seen["pod IPs"], "TCP ports visible": seen["TCP ports"],
                     "HTTP visible": seen["HTTP text"],
                     f"overhead for {inner_len} B": overhead(mode, inner_len)["overhead"]})
    return pd.DataFrame(rows).set_index("mode")


def limits() -> pd.DataFrame:
    """What each mode needs and exposes (Antrea docs/traffic-encryption.md, antrea-agent.conf)."""
    import pandas as pd

    rows = [
        {"mode": "none", "needs": "nothing", "ports between Nodes": "UDP 6081 (Geneve)",
         "keys": "-", "Antrea implementation": "OVS tunnel port antrea-tun0"},
        {"mode": "ipsec", "needs": "trafficEncapMode: encap; kernel xfrm/ESP; the antrea-ipsec container (strongSwan)",
         "ports between Nodes": "IP protocol 50 (ESP), UDP 500/4500 (IKE, NAT-T)",
         "keys": "PSK from Secret kube-system/antrea-ipsec (default 'changeme'), or certificates (IPsecCertAuth)",
         "Antrea implementation": "one OVS tunnel port per peer Node with options:psk; "
                                  "ovs-monitor-ipsec drives strongSwan"},
        {"mode": "wireGuard", "needs": "trafficEncapMode: encap; the wireguard kernel module (Linux >= 5.6)",
         "ports between Nodes": "UDP 51820 (wireGuard.port)",
         "keys": "one Curve25519 key pair per Node; public key in annotation node.antrea.io/wireguard-public-key",
         "Antrea implementation": "antrea-wg0; peer pod CIDRs routed to it instead of the tunnel"},
    ]
    from .._util.display import full_text

    return full_text(pd.DataFrame(rows).set_index("mode"))


def real_capture(mode: str = "wireGuard") -> pd.DataFrame | str:
    """Capture an HTTP GET between two namespace pods over real ``mode`` (root only).

    Returns the capture table, or a sentence saying why it cannot run here.
    """
    from .dissect import capture_table
    from .testbed import Testbed, available

    ok, why = available(mode)
    if not ok:
        return f"the real {mode} capture cannot run here: {why}"
    with Testbed(mode) as bed:
        bed.serve_http()
        with bed.capture(mode) as cap:
            bed.http_get()
        table = capture_table(cap.path)
        table.attrs["secret visible"] = bed.secret.encode() in cap.raw()
    return table


_IMPLEMENTATION = {"none": "Linux Geneve (VXLAN where the kernel has no Geneve)",
                   "wireGuard": "wireguard-go (stand-in for the kernel module)",
                   "ipsec": "strongSwan charon + kernel-libipsec (userspace ESP in UDP 4500)"}


def real_summary(modes: tuple[str, ...] = ("none", "wireGuard", "ipsec")) -> pd.DataFrame:
    """For each mode: an HTTP GET pod1 → pod2 over the real thing, captured on the underlay."""
    import time

    import pandas as pd

    from .dissect import capture_table
    from .testbed import Testbed, available

    rows = []
    for mode in modes:
        ok, why = available(mode)
        if not ok:
            rows.append({"mode": mode, "implementation": _IMPLEMENTATION[mode], "note": why})
            continue
        start = time.monotonic()
        with Testbed(mode) as bed:
            setup_s = time.monotonic() - start
            bed.serve_http()
            with bed.capture(mode) as cap:
                body = bed.http_get()
            table = capture_table(cap.path)
            rows.append({"mode": mode, "implementation": _IMPLEMENTATION[mode], "setup_s": round(setup_s, 2),
                         "frames": len(table), "protocols": ", ".join(sorted(set(table["protocol"]))),
                         "HTTP worked": bed.secret in body, "secret visible": bed.secret.encode() in cap.raw(),
                         "note": ""})
    return pd.DataFrame(rows).set_index("mode")


def check_wire(captures: dict[str, Capture], title: str = "Wire check") -> CheckResult:
    """Check cell of section 8: the lab's own captures (``lab.capture``) show the HTTP exchange and
    the pod IPs with ``none`` and neither with ``ipsec`` or ``wireGuard``."""
    problems = []
    for mode, cap in captures.items():
        seen = cap.visibility()
        clear = cap.contains(b"HTTP/1.1") and seen["pod IPs"]
        if mode == "none" and not clear:
            problems.append("with none the HTTP request and the pod IPs should cross the underlay in clear, "
                            "but the capture does not show them (did the request reach y/a? lab.reachability())")
        if mode != "none" and (cap.contains(b"HTTP/1.1") or seen["pod IPs"]):
            problems.append(f"with {mode} the HTTP text or the pod IPs are visible on the underlay")
        if not cap.frames:
            problems.append(f"the {mode} capture is empty")
    if problems:
        return conclude(CheckResult(title, False, "what the underlay shows is not what each mode promises",
                                    problems=problems))
    kinds = ", ".join(f"{m}: {'emulated' if c.emulated else 'real'}" for m, c in captures.items())
    return conclude(CheckResult(title, True, f"clear text with none, hidden with encryption ({kinds})"))


def best_mode(inner_len: int = 1400) -> str:
    """The encrypting mode with the least overhead for ``inner_len``-byte pod packets (measured)."""
    costs = {m: overhead(m, inner_len)["overhead"] for m in MODES if m != "none"}
    return min(costs, key=costs.get)


def check_encryption_choice(mode: str, overhead_bytes: int, inner_len: int = 1400,
                            title: str = "Exercise 7") -> CheckResult:
    """Exercise 7: the mode that hides pod IPs and ports with the least overhead, and its overhead."""
    problems = []
    if mode not in MODES:
        problems.append(f"{mode!r} is not a trafficEncryptionMode (choose from {', '.join(MODES)})")
    else:
        from .wire import PodEndpoint, build_capture

        src = PodEndpoint("x/a", "10.244.1.2", "kind-worker", "172.18.0.3")
        dst = PodEndpoint("y/a", "10.244.2.3", "kind-worker2", "172.18.0.4")
        if build_capture(mode, src, dst).visibility()["pod IPs"]:
            problems.append(f"in mode {mode!r} the pod IPs cross the underlay in clear")
        elif mode != best_mode(inner_len):
            problems.append(f"{mode!r} hides them, but another mode costs fewer bytes per {inner_len}-byte packet")
        elif overhead_bytes != overhead(mode, inner_len)["overhead"]:
            problems.append(f"{overhead_bytes} bytes is not the overhead of {mode!r} for a {inner_len}-byte pod packet")
    if problems:
        return conclude(CheckResult(title, False, f"MY_MODE = {mode!r}, MY_OVERHEAD = {overhead_bytes}",
                                    problems=problems, hint="count every header the capture adds, and the padding"))
    return conclude(CheckResult(title, True, f"{mode} hides pod IPs and ports and adds {overhead_bytes} bytes to a "
                                             f"{inner_len}-byte packet"))


__all__ = [
    "CheckFailed",
    "best_mode",
    "check_encryption_choice",
    "check_wire",
    "compare_modes",
    "limits",
    "real_capture",
    "real_summary",
]
