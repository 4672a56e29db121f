"""Registers, marks and conntrack fields, as Antrea assigns them (pkg/agent/openflow/fields.go; antrea.md §3.4).

Each constant is the text ovs-ofctl accepts *and prints back* (OpenFlow 1.5 turns ``load:`` into
``set_field:value/mask->reg``), so installed flows compare equal when read back, and read like
Antrea's own dumps.
"""

from __future__ import annotations

# reg0[0..3]: where the packet came from (PktSourceField).
SOURCE_FIELD = "NXM_NX_REG0[0..3]"
FROM_TUNNEL, FROM_GATEWAY, FROM_POD = 1, 2, 3
FROM_TUNNEL_MATCH = "reg0=0x1/0xf"
# reg0 bit 9: RewriteMACRegMark (routed traffic: set MACs in L3Forwarding, decrement TTL).
REWRITE_MAC_LOAD = "set_field:0x200/0x200->reg0"
REWRITE_MAC_MATCH = "reg0=0x200/0x200"
# reg0 bit 10: APDenyRegMark (an Antrea-native Drop/Reject rule matched; performed in *Metric).
DENY_LOAD = "set_field:0x400/0x400->reg0"
DENY_MATCH = "reg0=0x400/0x400"
# reg0 bits 11-12: APDispositionField (00 allow, 01 drop, 10 reject, 11 pass).
DISPOSITION_FIELD = "NXM_NX_REG0[11..12]"
DISPOSITION = {"Allow": 0, "Drop": 1, "Reject": 2, "Pass": 3}
# reg0 bits 21-22: OutputRegField, 01 = output to the port in reg1 (OutputToOFPortRegMark).
OUTPUT_TO_PORT_LOAD = "set_field:0x200000/0x600000->reg0"
OUTPUT_TO_PORT_MATCH = "reg0=0x200000/0x600000"
# reg1: TargetOFPortField (set by L2ForwardingCalc; ingress rules match the applied-to Pods by it).
TARGET_PORT_FIELD = "NXM_NX_REG1[]"
TARGET_PORT_REG = "reg1"
# reg3: APConjIDField (the conj_id of the deciding Drop/Reject/Pass rule).
CONJ_ID_REG = "reg3"
# reg5 / reg6: TFEgressConjIDField / TFIngressConjIDField (the Allow rule, for Traceflow and metrics).
TF_CONJ_REG = {"Egress": "reg5", "Ingress": "reg6"}
# ct_label: ingress rule id in bits 0..31, egress rule id in bits 32..63.
CT_LABEL_SHIFT = {"Egress": 32, "Ingress": 0}
# ct_mark[0..3]: the connection's source (copied from reg0[0..3] at commit).
CT_MARK_SOURCE_FIELD = "NXM_NX_CT_MARK[0..3]"


def source_load(source: int) -> str:
    """reg0[0..3] = ``source``, written as OVS prints it back (OpenFlow 1.5 ``set_field``)."""
    return f"set_field:{source:#x}/0xf->reg0"


def disposition_load(action: str) -> str:
    return f"set_field:{DISPOSITION[action] << 11:#x}/0x1800->reg0"


def set_reg(reg: str, value: int) -> str:
    """``set_field:<value>->regN`` (how OVS prints ``load:<value>->NXM_NX_REGN[]``)."""
    return f"set_field:{value:#x}->{reg}"


def ct_label_load(direction: str, conj_id: int) -> str:
    shift = CT_LABEL_SHIFT[direction]
    return f"set_field:{conj_id << shift:#x}/{0xffffffff << shift:#x}->ct_label"


def ct_label_match(direction: str, conj_id: int) -> str:
    shift = CT_LABEL_SHIFT[direction]
    return f"ct_label={conj_id << shift:#x}/{0xffffffff << shift:#x}"


__all__ = [name for name in dir() if name.isupper()] + ["ct_label_match", "ct_label_load", "set_reg", "source_load",
                                                        "disposition_load"]
