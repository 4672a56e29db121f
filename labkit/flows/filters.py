"""Row filters over flow DataFrames: the one ``filter_flows`` behind ``labkit flows`` (its
``--namespace/--pod/--action/--policy`` options, like ``antctl get flowrecords``) and the
FlowTable widget (its verdict, namespace, free-text and "hide system namespaces" controls, like
Theia's and Hubble's flow tables).

Frames are those of :func:`~labkit.flows.records.records_to_frame` (one row per record) or
:func:`~labkit.flows.summary.one_per_flow` (one row per flow): IE-named columns plus labkit's
``source``/``destination`` (``ns/pod``, or the IP when the endpoint is not a Pod) and
``verdict``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.flows import summary

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

VERDICTS = ("all", "allow", "drop", "reject", "denied")  # denied: drop or reject
_TEXT_COLUMNS = ("destinationServicePortName", "ingressNetworkPolicyName", "egressNetworkPolicyName")


def filter_flows(frame: "pd.DataFrame", *, verdict: str = "all", namespace: str = "", pod: str = "",
                 policy: str = "", text: str = "", hide_system: bool = False) -> "pd.DataFrame":
    """The rows of ``frame`` that pass every filter given (an empty one passes everything).

    ``verdict``: all, allow, drop, reject, or denied (drop or reject), in any case.
    ``namespace``: the source's or destination's namespace; an endpoint that is not a Pod is
    in ``"external"`` (:func:`~labkit.flows.summary.namespace_of`).
    ``pod``: a Pod on either side, by name or ``namespace/name``.
    ``policy``: the name of the ingress or egress policy that decided the flow.
    ``text``: a case-insensitive substring of the source, destination, Service or policy
    names; ``!text`` keeps the rows without it.
    ``hide_system``: drop flows from or to the system namespaces (kube-system,
    flow-aggregator, flow-visibility), as Theia's dashboards do.
    """
    rows = frame
    verdict = (verdict or "all").lower()
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r}: use one of {', '.join(VERDICTS)}")
    if verdict == "denied":
        rows = rows[rows["verdict"] != "allow"]
    elif verdict != "all":
        rows = rows[rows["verdict"] == verdict]
    if namespace or hide_system:
        src_ns = rows["source"].map(summary.namespace_of)
        dst_ns = rows["destination"].map(summary.namespace_of)
        if namespace:
            rows = rows[(src_ns == namespace) | (dst_ns == namespace)]
            src_ns, dst_ns = src_ns.loc[rows.index], dst_ns.loc[rows.index]
        if hide_system:
            rows = rows[~(src_ns.isin(summary.SYSTEM_NAMESPACES) | dst_ns.isin(summary.SYSTEM_NAMESPACES))]
    if pod:
        rows = rows[_is_pod(rows, "source", pod) | _is_pod(rows, "destination", pod)]
    if policy:
        rows = rows[(rows["ingressNetworkPolicyName"] == policy) | (rows["egressNetworkPolicyName"] == policy)]
    text = text.strip()
    if text:
        negate = text.startswith("!")
        needle = text[1:].strip() if negate else text
        haystack = rows["source"] + " " + rows["destination"]
        for col in _TEXT_COLUMNS:
            if col in rows:
                haystack = haystack + " " + rows[col]
        hit = haystack.str.contains(needle, regex=False, case=False)
        rows = rows[~hit if negate else hit]
    return rows


def _is_pod(rows: "pd.DataFrame", side: str, pod: str) -> "pd.Series":
    """Whether the ``side`` ("source" or "destination") endpoint is Pod ``pod`` (a name, or
    ``namespace/name``)."""
    name = rows[f"{side}PodName"]
    if "/" in pod:
        return (rows[f"{side}PodNamespace"] + "/" + name) == pod
    return name == pod


__all__ = ["VERDICTS", "filter_flows"]
