"""Simulations for hardware offload: Antrea-shaped datapath flows, traffic over time, a compromised host.

Nothing here measures hardware; it applies the rules of :mod:`labkit.smartnic.offload` and the
numbers of a :class:`~labkit.smartnic.profiles.NicProfile` (lab-scaled) to a workload, so that a
learner can see *which* traffic stays on the host CPU and why:

* set-up packets of every connection (Antrea's doc: only SYN, SYN-ACK, ACK and the first data
  packet show on the VF representor), so connection churn costs CPU even with offload;
* connections matched by Reject or by a rule with ``enableLogging``: Antrea implements both with
  an OpenFlow ``controller`` action (packet-in to antrea-agent), a ``userspace()`` datapath action
  no NIC can run;
* flows and conntrack entries beyond the NIC's tables, or beyond its insertion rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .profiles import NicProfile

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..policy.reachability import Reachability

# ---------------------------------------------------------------------------- a realistic dump

# The first four lines are the example of Antrea docs/ovs-offload.md (`dpctl/dump-flows --names
# type=offloaded` on a ConnectX-5 with two offloaded Pods). The others are written for this lab
# in the same kernel-datapath syntax (odp-util's format): Geneve encap/decap between Nodes,
# Antrea Reject and audit logging (packet-in: userspace(controller(...))), a per-flow IPFIX
# sample, an FTP ALG, the +new commit of a connection, and IPv6 neighbour discovery.
# The lines are dump-flows output as printed (one flow per line), hence longer than 120 columns.
SAMPLE_DUMP = """\
recirc_id(0),in_port(eth0),eth(src=16:fd:c6:0b:60:52),eth_type(0x0800),ipv4(src=192.168.1.17,frag=no), packets:2235857, bytes:147599302, used:0.550s, actions:ct(zone=65520),recirc(0x18)
ct_state(+est+trk),ct_mark(0),recirc_id(0x18),in_port(eth0),eth(dst=42:66:d7:45:0d:7e),eth_type(0x0800),ipv4(dst=192.168.1.0/255.255.255.0,frag=no), packets:2235857, bytes:147599302, used:0.550s, actions:eth1
recirc_id(0),in_port(eth1),eth(src=42:66:d7:45:0d:7e),eth_type(0x0800),ipv4(src=192.168.1.16,frag=no), packets:133410141, bytes:195255745684, used:0.550s, actions:ct(zone=65520),recirc(0x16)
ct_state(+est+trk),ct_mark(0),recirc_id(0x16),in_port(eth1),eth(dst=16:fd:c6:0b:60:52),eth_type(0x0800),ipv4(dst=192.168.1.0/255.255.255.0,frag=no), packets:133410138, bytes:195255745483, used:0.550s, actions:eth0
ct_state(+new-est+trk),ct_mark(0),recirc_id(0x16),in_port(eth1),eth(dst=16:fd:c6:0b:60:52),eth_type(0x0800),ipv4(dst=192.168.1.0/255.255.255.0,proto=6,frag=no),tcp(dst=5201), packets:4, bytes:296, used:12.304s, actions:ct(commit,zone=65520,mark=0x10/0x10),eth0
ct_state(+est+trk),ct_mark(0),recirc_id(0x21),in_port(eth1),eth(src=42:66:d7:45:0d:7e,dst=aa:bb:cc:dd:ee:ff),eth_type(0x0800),ipv4(dst=10.244.2.0/255.255.255.0,ttl=64,frag=no), packets:884213, bytes:1191318772, used:0.120s, actions:set(tunnel(tun_id=0x0,dst=172.18.0.4,ttl=64,tp_dst=6081,flags(df|key))),set(eth(src=ba:5e:d1:55:aa:c0,dst=aa:bb:cc:dd:ee:ff)),set(ipv4(ttl=63)),genev_sys_6081
tunnel(tun_id=0x0,src=172.18.0.4,dst=172.18.0.3,ttl=64,tp_dst=6081,flags(-df+csum+key)),ct_state(+est+trk),ct_mark(0),recirc_id(0x22),in_port(genev_sys_6081),eth(dst=aa:bb:cc:dd:ee:ff),eth_type(0x0800),ipv4(dst=192.168.1.16,frag=no), packets:790441, bytes:52169106, used:0.120s, actions:set(eth(src=ba:5e:d1:55:aa:c0,dst=42:66:d7:45:0d:7e)),eth1
ct_state(+new-est+trk),ct_mark(0),recirc_id(0x30),in_port(eth2),eth_type(0x0800),ipv4(src=10.244.1.5,dst=192.168.1.16,proto=6,frag=no),tcp(dst=80), packets:1200, bytes:88800, used:0.020s, actions:userspace(pid=3165626127,controller(reason=1,dont_send=0,continuation=0,recirc_id=48,rule_cookie=0x1040000000002,controller_id=0,max_len=65535))
ct_state(+new-est+trk),ct_mark(0),recirc_id(0x31),in_port(eth3),eth_type(0x0800),ipv4(src=10.244.2.5,dst=192.168.1.17,proto=6,frag=no),tcp(dst=8080), packets:310, bytes:22940, used:0.480s, actions:userspace(pid=3165626127,controller(reason=1,dont_send=0,continuation=0,recirc_id=49,rule_cookie=0x1040000000003,controller_id=0,max_len=128)),ct(commit,zone=65520),eth0
ct_state(+est+trk),recirc_id(0x32),in_port(eth1),eth_type(0x0800),ipv4(src=192.168.1.16,dst=10.244.2.7,proto=17,frag=no),udp(dst=53), packets:5120, bytes:399360, used:1.002s, actions:sample(sample=50.0%,actions(userspace(pid=3165626127,flow_sample(probability=32767,collector_set_id=1,obs_domain_id=0,obs_point_id=7001,output_port=4294967295)))),eth3
ct_state(+est+trk),recirc_id(0x33),in_port(eth0),eth_type(0x0800),ipv4(dst=10.244.1.9,proto=6,frag=no),tcp(dst=21), packets:96, bytes:7104, used:3.220s, actions:ct(commit,zone=65520,helper=ftp),eth2
recirc_id(0),in_port(eth1),eth(src=42:66:d7:45:0d:7e),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=135),nd(target=fe80::1), packets:12, bytes:1032, used:8.900s, actions:eth0
"""


def sample_flows():
    from .offload import parse_dump_flows

    return parse_dump_flows(SAMPLE_DUMP)


# ---------------------------------------------------------------------------- traffic over time

@dataclass(frozen=True)
class Workload:
    """Traffic between pods on one Node, per second of simulated time."""

    name: str = "steady"
    long_lived_connections: int = 20  # opened at t=0 and kept (connection pools, streams)
    long_lived_pps: float = 2000.0  # packets per second each
    new_connections_per_s: float = 0.0  # short connections opened every second (churn)
    packets_per_connection: int = 12  # all of a short connection's packets, both directions
    packet_bytes: int = 800
    reject_share: float = 0.0  # share of new connections matched by a Reject rule
    drop_share: float = 0.0  # share matched by a Drop rule
    logged_share: float = 0.0  # share of new connections whose deciding rule has enableLogging
    duration_s: int = 30

    def with_(self, **changes) -> Workload:
        return replace(self, **changes)


STEADY = Workload("steady: 20 long-lived flows")
CHURN = Workload("churn: 2000 short connections/s", long_lived_connections=0, new_connections_per_s=2000)
MIXED = Workload("mixed", long_lived_connections=20, new_connections_per_s=500)


def simulate(profile: NicProfile, workload: Workload, step_s: float = 1.0) -> pd.DataFrame:
    """Packets on the NIC vs in software, per time step, for ``workload`` on ``profile``.

    Columns: ``time_s``, ``packets_nic``, ``packets_software``, ``bytes_nic``, ``bytes_software``,
    ``nic_share`` (of packets), ``ct_entries_hw``, ``new_connections``, ``packet_ins`` (to the
    agent), ``host_cpu_cores`` and ``dpu_cpu_cores`` (software packets / per-core rate, on
    whichever side runs the switch).
    """
    import pandas as pd

    w = workload
    rows = []
    offloads = profile.offloads
    setup = profile.setup_packets_in_software if offloads else 0
    ct_capacity = profile.ct_capacity if offloads else 0
    insert_budget_per_step = profile.insertion_rate_per_s * step_s if offloads else 0
    long_in_hw = 0  # long-lived connections whose ct entry is on the NIC
    for step in range(int(w.duration_s / step_s)):
        t = step * step_s
        nic = software = packet_ins = 0.0
        budget = insert_budget_per_step
        # long-lived connections: set up in the first step, then on the NIC if they got a ct entry
        if step == 0 and w.long_lived_connections:
            software += w.long_lived_connections * setup if offloads else 0
            long_in_hw = int(min(w.long_lived_connections, ct_capacity, budget))
            budget -= long_in_hw
        long_packets = w.long_lived_connections * w.long_lived_pps * step_s
        if step == 0 and offloads:
            long_packets -= w.long_lived_connections * setup
        share_hw = long_in_hw / w.long_lived_connections if w.long_lived_connections else 0.0
        nic += long_packets * share_hw
        software += long_packets * (1 - share_hw)
        # short connections: they open and close within the step; their ct entries come and go
        new = w.new_connections_per_s * step_s
        rejected, dropped = new * w.reject_share, new * w.drop_share
        allowed = new - rejected - dropped
        # Reject: the SYN goes up to the agent (packet-in), which answers with a RST (packet-out)
        software += rejected * 2
        packet_ins += rejected
        # Drop: the SYN meets a drop flow; +new packets are handled in software (no agent involved)
        software += dropped
        # Logging: the first packet of each logged connection is also sent to the agent (for a
        # Reject it rides on the packet-in the Reject already needs)
        packet_ins += (new - rejected) * w.logged_share
        in_software = min(w.packets_per_connection, setup) if offloads else w.packets_per_connection
        free_ct = max(0.0, ct_capacity - long_in_hw)
        hw_conns = min(allowed, free_ct, max(0.0, budget)) if offloads else 0.0
        software += allowed * in_software + (allowed - hw_conns) * (w.packets_per_connection - in_software)
        nic += hw_conns * (w.packets_per_connection - in_software)
        total = nic + software
        cores = software / profile.software_pps_per_core / step_s
        rows.append({"time_s": t, "packets_nic": nic, "packets_software": software,
                     "bytes_nic": nic * w.packet_bytes, "bytes_software": software * w.packet_bytes,
                     "nic_share": nic / total if total else 0.0, "ct_entries_hw": long_in_hw + hw_conns,
                     "new_connections": new, "packet_ins": packet_ins,
                     "host_cpu_cores": 0.0 if profile.isolated_from_host else cores,
                     "dpu_cpu_cores": cores if profile.isolated_from_host else 0.0})
    frame = pd.DataFrame(rows)
    frame.attrs.update(profile=profile.name, workload=w.name)
    return frame


def compare(profiles: list[NicProfile], workloads: list[Workload]) -> pd.DataFrame:
    """One row per (profile, workload): packet share on the NIC, host cores, agent packet-ins per second."""
    import pandas as pd

    rows = []
    for p in profiles:
        for w in workloads:
            f = simulate(p, w)
            total = f.packets_nic.sum() + f.packets_software.sum()
            rows.append({"profile": p.name, "workload": w.name,
                         "nic_share": round(float(f.packets_nic.sum() / total) if total else 0.0, 4),
                         "host_cpu_cores": round(float(f.host_cpu_cores.mean()), 3),
                         "dpu_cpu_cores": round(float(f.dpu_cpu_cores.mean()), 3),
                         "packet_ins_per_s": round(float(f.packet_ins.mean()), 1)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- a compromised host

# (attack, command run as root on the host, outcome when the switch is on the host, on a DPU)
ATTACKS = (
    ("delete every OpenFlow flow", "ovs-ofctl del-flows br-int",
     "succeeds: br-int and its policy flows live on the host",
     "fails: there is no br-int on the host; ovs-vswitchd runs on the DPU's Arm cores"),
    ("add an allow-all flow above the policy tables", "ovs-ofctl add-flow br-int priority=65535,actions=NORMAL",
     "succeeds: every connection is now allowed",
     "fails: the host cannot reach the DPU's OVS database or OpenFlow socket"),
    ("remove the offloaded TC filters", "tc filter del dev <VF representor> ingress",
     "succeeds: the representors are host netdevs",
     "fails: the representors exist on the DPU; the host only sees its VF/PF netdevs"),
    ("stop the agent so that no policy update arrives", "kill <antrea-agent pid>",
     "succeeds: together with the above, nothing is enforced any more",
     "no effect on enforcement: the flows already on the DPU stay in place"),
)


def host_compromise(profile: NicProfile, expected: Reachability) -> tuple[Reachability, pd.DataFrame]:
    """What an attacker with root on the *host* OS does to policy enforcement, per profile.

    With a ConnectX-class eSwitch (or no offload) OVS, its flows and the TC filters live in the
    host: root removes or bypasses them and every connection is allowed. With a BlueField-class
    DPU, ovs-vswitchd, br-int and the offloaded flows live on the DPU's Arm cores, which the host
    reaches only as a PCIe device (its VFs/PF): there is no switch on the host to change, so the
    policy stays enforced. (An attacker on the DPU itself is another trust domain, out of scope.)
    Returns (the observed matrix under attack, the attack log).
    """
    import pandas as pd

    from ..policy.reachability import Reachability

    isolated = profile.isolated_from_host
    log = pd.DataFrame([{"attack": what, "command (root on the host)": cmd,
                         "outcome": on_dpu if isolated else on_host}
                        for what, cmd, on_host, on_dpu in ATTACKS])
    codes = expected.codes.copy() if isolated else np.zeros_like(expected.codes)
    observed = Reachability(list(expected.sources), list(expected.destinations), codes, expected.probe,
                            kind="observed", backend=f"sim+{profile.name}, host compromised")
    return observed, log


__all__ = [
    "ATTACKS",
    "CHURN",
    "MIXED",
    "SAMPLE_DUMP",
    "STEADY",
    "Workload",
    "compare",
    "host_compromise",
    "sample_flows",
    "simulate",
]
