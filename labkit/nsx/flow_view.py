"""NSX flow view records (``GET /labkit/v1/flows``) as one flat table, for notebooks and widgets.

One row per flow record: where it came from and went (``ns/pod``, the NSX groups as ids),
service, action and NSX Intelligence flow type, the deciding NSX rule (policy id, rule id and
``rule_id``) or the cluster policy that decided instead, packets and bytes of both directions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

COLUMNS = ["report_id", "source", "source_groups", "destination", "destination_groups", "service", "protocol",
           "port", "action", "flow_type", "policy", "rule", "rule_id", "cluster_policy", "packets", "bytes",
           "kubernetes_service"]


def _who(end: dict[str, Any]) -> str:
    return f"{end['namespace']}/{end['pod']}" if end.get("pod") else end.get("ip", "")


def _ids(paths: list[str]) -> str:
    return ", ".join(p.rsplit("/", 1)[-1] for p in paths)


def _service(service: str) -> str:
    """An NSX service by its id (``HTTP-8080``), a raw port as it is (``TCP/6379``)."""
    return service.rsplit("/", 1)[-1] if service.startswith("/infra/") else service


def flow_row(flow: dict[str, Any]) -> dict[str, Any]:
    rule = flow.get("rule") or {}
    policy = flow.get("cluster_policy") or {}
    return {
        "report_id": flow["report_id"], "source": _who(flow["source"]), "source_groups": _ids(flow["source"]["groups"]),
        "destination": _who(flow["destination"]), "destination_groups": _ids(flow["destination"]["groups"]),
        "service": _service(flow["service"]), "protocol": flow["protocol"], "port": flow["destination_port"],
        "action": flow["action"], "flow_type": flow["flow_type"],
        "policy": rule.get("policy_path", "").rsplit("/", 1)[-1], "rule": rule.get("rule_path", "").rsplit("/", 1)[-1],
        "rule_id": rule.get("rule_id"),
        "cluster_policy": f"{policy['kind']}:{policy['name']}/{policy['rule']}".rstrip("/") if policy else "",
        "packets": flow["packet_count"], "bytes": flow["byte_count"],
        "kubernetes_service": flow["destination"].get("kubernetes_service", ""),
    }


def flow_table(flows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([flow_row(f) for f in flows], columns=COLUMNS)


__all__ = ["COLUMNS", "flow_row", "flow_table"]
