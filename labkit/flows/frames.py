"""Decoded IPFIX columns -> the flow-record DataFrame of :func:`~labkit.flows.records.records_to_frame`.

The batch decoder (:mod:`.fastdecode`) hands over, per template, one column per IE: an int64
array, or codes into distinct decoded values. This module applies :func:`record_from_ipfix`'s
rules to those columns (missing IE -> zero value, raw bytes -> zero value, the first non-empty
address of IPv4/IPv6 and ClusterIP/ServiceIP, aggregated when any aggregator IE is in the
template, no record without a 5-tuple) and :func:`records_to_frame`'s layout (columns, int64,
UTC timestamps, ``source``/``destination``/``verdict``), working on distinct values, not rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from labkit.flows import records
from labkit.flows.columns import CodedColumn, Strings, object_array, text_column

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_DATETIME_COLUMNS = ("flowStartSeconds", "flowEndSeconds", "flowEndSecondsFromSourceNode",
                     "flowEndSecondsFromDestinationNode")


@functools.lru_cache(maxsize=1)
def flow_ies() -> frozenset[str]:
    """Every IE name :func:`record_from_ipfix` reads."""
    names = {ie for _, ie, _ in records.VALUE_IES}
    for _, candidates in records.ADDRESS_IES:
        names.update(candidates)
    return frozenset(names)


def _coded(col: Any) -> CodedColumn:
    if isinstance(col, CodedColumn):
        return col
    uniques, codes = np.unique(col, return_inverse=True)
    return CodedColumn(codes.astype(np.int64), object_array(uniques.tolist()))


def _constant(value: Any, n: int) -> CodedColumn:
    return CodedColumn(np.zeros(n, np.int64), object_array([value]))


def _to_int(raw: Any) -> int:
    return 0 if raw is None or isinstance(raw, bytes) else int(raw)


def _to_str(raw: Any) -> Any:
    return "" if raw is None or isinstance(raw, bytes) else raw


def _first_nonempty(a: CodedColumn, b: CodedColumn) -> CodedColumn:
    filled = np.array([v != "" for v in a.uniques], bool)
    codes = np.where(filled[a.codes], a.codes, b.codes + len(a.uniques))
    return CodedColumn(codes, object_array(list(a.uniques) + list(b.uniques)))


def _group_record_columns(columns: dict[str, Any], names: frozenset[str], n: int
                          ) -> tuple[dict[str, Any], np.ndarray, bool]:
    """One template's records as record_from_ipfix reads them: columns by DataFrame column
    name, which records have a complete 5-tuple, and whether they are aggregated records."""
    out: dict[str, Any] = {}
    for attribute, candidates in records.ADDRESS_IES:
        value = None
        for ie in candidates:
            if ie in columns:
                text = _coded(columns[ie]).map(records.address_text)
                value = text if value is None else _first_nonempty(value, text)
        out[records.column(attribute)] = value if value is not None else _constant("", n)
    aggregated = any(ie in names for ie in records.AGGREGATED_IES)
    for attribute, ie, is_int in records.VALUE_IES:
        if not aggregated and attribute in records.AGGREGATED_ATTRIBUTES:
            continue
        col = columns.get(ie)
        name = records.column(attribute)
        if col is None:
            out[name] = np.zeros(n, np.int64) if is_int else _constant("", n)
        elif is_int and isinstance(col, np.ndarray):
            out[name] = col.astype(np.int64, copy=False) if col.dtype != np.uint64 else col.view(np.int64)
        elif is_int:
            mapped = col.map(_to_int)
            out[name] = np.array(list(mapped.uniques), np.int64).take(mapped.codes) if n else np.zeros(0, np.int64)
        else:
            out[name] = _coded(col).map(_to_str)
    complete = np.ones(n, bool) if "protocolIdentifier" in names else np.zeros(n, bool)
    for address in ("sourceIP", "destinationIP"):
        col = out[address]
        filled = np.array([v != "" for v in col.uniques], bool)
        complete &= filled[col.codes]
    return out, complete, aggregated


def _merge_coded(parts: list[tuple[CodedColumn | None, np.ndarray, np.ndarray]], total: int) -> CodedColumn:
    uniques: list[Any] = []
    codes = np.zeros(total, np.int64)
    missing = False
    for col, keep, target in parts:
        if col is None:
            missing = True
            continue
        codes[target] = col.codes[keep] + len(uniques)
        uniques += list(col.uniques)
    if missing:  # rows of non-aggregated records in an aggregated frame: ""
        for col, keep, target in parts:
            if col is None:
                codes[target] = len(uniques)
        uniques.append("")
    return CodedColumn(codes, object_array(uniques))


@dataclass
class SkippedRecords:
    """Records of the batch that are not flows: options records (§3.4.2), and records without
    a complete 5-tuple (record_from_ipfix refuses them)."""

    options: int = 0
    incomplete: int = 0


def flow_frame(kept: list, total: int, strings: Strings) -> tuple["pd.DataFrame", SkippedRecords]:
    """The records_to_frame frame of the records in ``kept`` ((group, rows kept, stream
    position) triples, ``total`` positions in all), and the records it skipped."""
    import pandas as pd

    skipped = SkippedRecords()
    per_group = []
    complete_at = np.zeros(total, bool)
    for grp, rows, target in kept:
        if grp.template.is_options:
            skipped.options += int(rows.sum())
            continue
        cols, complete, aggregated = _group_record_columns(grp.columns, frozenset(grp.template.names), grp.n)
        keep = rows & complete
        skipped.incomplete += int((rows & ~complete).sum())
        complete_at[target[complete[rows]]] = True
        per_group.append((cols, keep, target[complete[rows]], aggregated and keep.any()))
    final = np.cumsum(complete_at) - 1
    n = int(complete_at.sum())
    if n == 0:
        return records.records_to_frame([]), skipped
    aggregated = any(p[3] for p in per_group)
    names = list(records.FLOW_COLUMNS) + (list(records.AGGREGATED_COLUMNS) if aggregated else [])
    data: dict[str, Any] = {}
    # One template, every record kept, in order (the common case): the columns as they are.
    whole = len(per_group) == 1 and bool(per_group[0][1].all()) and bool(
        np.array_equal(final[per_group[0][2]], np.arange(n)))
    for name in names:
        if whole and per_group[0][0].get(name) is not None:
            data[name] = per_group[0][0][name]
            continue
        parts = [(cols.get(name), keep, final[target]) for cols, keep, target, _ in per_group]
        if all(c is None or isinstance(c, np.ndarray) for c, _, _ in parts) and any(
                isinstance(c, np.ndarray) for c, _, _ in parts):
            out = np.zeros(n, np.int64)
            for col, keep, target in parts:
                if col is not None:
                    out[target] = col[keep]
            data[name] = out
        else:
            data[name] = _merge_coded(parts, n)
    data["source"] = _endpoint(data["sourcePodNamespace"], data["sourcePodName"], data["sourceIP"])
    data["destination"] = _endpoint(data["destinationPodNamespace"], data["destinationPodName"],
                                    data["destinationIP"])
    data["verdict"] = _verdict(data["egressNetworkPolicyRuleAction"], data["ingressNetworkPolicyRuleAction"])
    frame_data: dict[str, Any] = {}
    for name, col in data.items():
        if isinstance(col, CodedColumn):
            frame_data[name] = text_column(col, strings, pd)
        elif name in _DATETIME_COLUMNS:
            frame_data[name] = pd.to_datetime(pd.Series(col, copy=False), unit="s", utc=True).array
        else:
            frame_data[name] = col
    return pd.DataFrame(frame_data, columns=list(frame_data), copy=False), skipped


def _endpoint(namespace: CodedColumn, pod: CodedColumn, ip: CodedColumn) -> CodedColumn:
    """``ns/pod`` when the Pod is known, else the IP (FlowRecord.source / .destination)."""
    pods = len(pod.uniques)
    pairs = len(namespace.uniques) * pods
    named = np.array([v != "" for v in pod.uniques], bool)[pod.codes]
    key = np.where(named, namespace.codes * pods + pod.codes, pairs + ip.codes)
    import pandas as pd

    codes, distinct = pd.factorize(key)
    text = [f"{namespace.uniques[k // pods]}/{pod.uniques[k % pods]}" if k < pairs
            else ip.uniques[k - pairs] for k in distinct.tolist()]
    return CodedColumn(codes.astype(np.int64), object_array(text))


def _verdict(egress: np.ndarray, ingress: np.ndarray) -> CodedColumn:
    """FlowRecord.verdict: reject if either side rejected, drop if either dropped, else allow."""
    reject = (egress == records.RuleAction.REJECT) | (ingress == records.RuleAction.REJECT)
    drop = (egress == records.RuleAction.DROP) | (ingress == records.RuleAction.DROP)
    codes = np.where(reject, 2, np.where(drop, 1, 0)).astype(np.int64)
    return CodedColumn(codes, object_array(["allow", "drop", "reject"]))


__all__ = ["SkippedRecords", "flow_frame", "flow_ies"]
