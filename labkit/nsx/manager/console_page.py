"""The NSX console as a small read-only web page, served by the mock at ``GET /``.

The same views as the notebook console (:class:`labkit.widgets.nsx_console.NSXConsole`), for
someone with only a browser: the container inventory as a tree (cluster > namespace > pods with
IPs and tags, plus nodes, services and network policies), the Antrea groups with their effective
pods per cluster, the DFW policies by category (NSX's category order) with their rules, realization
status and per-rule hit counts, the Antrea traceflows with their observations, and the flows the
cluster's Flow Aggregator reported, as NSX Intelligence shows flows (:mod:`.flow_analytics`):
by cluster, namespace, group pair, service and deciding rule, top talkers, the records; a link
per group pair (``?source_group=&destination_group=``) narrows the view to it.

Like NSX Manager's UI it needs a login (HTTP Basic as ``admin``, or a principal identity's client
certificate): the browser gets the API's 401 challenge. Everything on the page is read through the
API's own GET handlers as that principal (``get``), so the page shows exactly what the API answers,
and it never writes. ``?cluster_id=<external id>`` limits it to one cluster. No JavaScript: the
page is plain HTML and CSS, so any browser (and ``curl``) can read it.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import urlencode

from labkit.nsx.manager import paths
from labkit.nsx.manager.errors import NSXApiError
from labkit.nsx.manager.flow_analytics import FILTERS as FLOW_FILTERS

# NSX's own order of DFW categories (nsx.md §5.3): evaluated top to bottom.
CATEGORIES = ("Ethernet", "Emergency", "Infrastructure", "Environment", "Application")
FABRIC = "/api/v1/fabric"
P = paths.POLICY_API
LK = paths.LABKIT_API
FLOW_ROWS = 200  # flow records listed on the page; the counts above them cover every record

Getter = Callable[..., Any]

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.4em}
h3{font-size:1em;margin:.8em 0 .3em}
table{border-collapse:collapse;margin:.3em 0 .8em} th,td{border:1px solid #ccc;padding:2px 7px;text-align:left;
font-size:.9em;vertical-align:top} th{background:#f0f0f0}
details{margin-left:1.2em} summary{cursor:pointer}
.status{font-weight:bold;padding:0 4px;border-radius:3px}
.SUCCESS,.SUCCEEDED{background:#cce8d9;color:#005a32} .ERROR,.FAILED{background:#f6d3c0;color:#8a3200}
.IN_PROGRESS,.RUNNING,.UNKNOWN{background:#eee;color:#444} .empty{color:#777;font-style:italic}
.error{color:#8a3200}
"""


def render(get: Getter, cluster_id: str = "", flow_filters: dict[str, str] | None = None) -> str:
    """The whole page; ``get(path, **query)`` answers one API GET as the viewer. ``flow_filters``
    (``report_id``, ``source_group``, ``destination_group``, ``action``) narrow the flow view."""

    def get_all(path: str, **query: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = get(path, page_size=1000, **({"cursor": cursor} if cursor else {}), **query)
            out.extend(page.get("results", []))
            cursor = page.get("cursor") or ""
            if not cursor:
                return out

    clusters = sorted(get_all(f"{FABRIC}/container-clusters"), key=lambda c: c.get("display_name", ""))
    if cluster_id:
        clusters = [c for c in clusters if c["id"] == cluster_id]
    names = {c["id"]: c.get("display_name", c["id"]) for c in clusters}
    sections = [
        ("inventory", "Inventory", lambda: _inventory(get_all, clusters)),
        ("groups", "Groups (Antrea)", lambda: _groups(get, get_all, clusters)),
        ("policies", "Distributed firewall", lambda: _policies(get, get_all)),
        ("traceflows", "Traceflow (Antrea)", lambda: _traceflows(get, get_all, names)),
        ("flows", "Flows (Antrea Flow Aggregator)", lambda: _flows(get, get_all, cluster_id, flow_filters or {})),
    ]
    body = []
    for anchor, title, build in sections:
        try:
            content = build()
        except NSXApiError as exc:  # show what the API refused instead of failing the whole page
            content = f'<p class="error">{escape(str(exc))}</p>'
        body.append(f'<section id="{anchor}"><h2>{escape(title)}</h2>{content}</section>')
    scope = (f'cluster {escape(names.get(cluster_id, cluster_id))} (<a href="/">all clusters</a>)'
             if cluster_id else f"{len(clusters)} container cluster(s)")
    nav = " · ".join(f'<a href="#{a}">{escape(t)}</a>' for a, t, _ in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>NSX Manager (labkit mock) — console</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>NSX Manager <small>(labkit mock, read-only console)</small></h1>"
        f"<p>{scope} · {nav}</p>{''.join(body)}</body></html>"
    )


# ---------------------------------------------------------------------------- views


def _inventory(get_all: Callable[..., list[dict[str, Any]]], clusters: list[dict[str, Any]]) -> str:
    if not clusters:
        return '<p class="empty">no container clusters: register a cluster (the adapter does it)</p>'
    out = []
    for c in clusters:
        mine = {"container_cluster_id": c["id"]}
        nodes = get_all(f"{FABRIC}/container-cluster-nodes", **mine)
        projects = sorted(get_all(f"{FABRIC}/container-projects", **mine), key=lambda p: p["display_name"])
        pods = get_all(f"{FABRIC}/container-application-instances", **mine)
        services = get_all(f"{FABRIC}/container-applications", **mine)
        policies = get_all(f"{FABRIC}/container-network-policies", **mine)
        node_name = {n["id"]: n["display_name"] for n in nodes}
        ns_blocks = []
        for project in projects:
            ns_pods = sorted((p for p in pods if p.get("container_project_id") == project["id"]),
                             key=lambda p: p["display_name"])
            rows = [(p["display_name"], _origin(p, "ip"), node_name.get(p.get("cluster_node_id", ""), ""),
                     _tags(p)) for p in ns_pods]
            ns_blocks.append(
                f'<details open class="namespace" data-name="{escape(project["display_name"])}">'
                f"<summary>namespace <b>{escape(project['display_name'])}</b> — {len(ns_pods)} pod(s)"
                f" {escape(_tags(project))}</summary>"
                f"{_table(('pod', 'ip', 'node', 'tags'), rows, 'pods', empty='no pods')}</details>")
        ns_of = {p["id"]: p["display_name"] for p in projects}
        out.append(
            f'<details open class="cluster" data-id="{escape(c["id"])}">'
            f"<summary>cluster <b>{escape(c.get('display_name', c['id']))}</b> "
            f"({escape(c.get('cni_type', ''))}, id {escape(c['id'])}) — {len(nodes)} node(s), "
            f"{len(projects)} namespace(s), {len(pods)} pod(s)</summary>"
            "<h3>Nodes</h3>"
            + _table(("node", "ip", "agent"), [(n["display_name"], ", ".join(n.get("ip_addresses") or []),
                                                n.get("cni_agent_status", "")) for n in
                                               sorted(nodes, key=lambda n: n["display_name"])], "nodes")
            + "<h3>Namespaces and pods</h3>" + "".join(ns_blocks)
            + "<h3>Services</h3>"
            + _table(("namespace", "service", "type", "ip"),
                     sorted((ns_of.get(s.get("container_project_id", ""), ""), s["display_name"], _origin(s, "type"),
                             _origin(s, "ip")) for s in services), "services", empty="no services")
            + "<h3>Network policies</h3>"
            + _table(("type", "namespace", "name"),
                     sorted((p.get("policy_type", ""), ns_of.get(p.get("container_project_id", ""), ""),
                             p["display_name"]) for p in policies), "network-policies", empty="no network policies")
            + "</details>")
    return "".join(out)


def _groups(get: Getter, get_all: Callable[..., list[dict[str, Any]]], clusters: list[dict[str, Any]]) -> str:
    rows = []
    for g in sorted(get_all(f"{P}{paths.GROUPS}"), key=lambda g: g["id"]):
        if "ANTREA" not in (g.get("group_type") or []):
            continue
        members = []
        for c in clusters:
            found = get(f"{P}{paths.GROUPS}/{g['id']}/members/pods", cluster_id=c["id"]).get("results", [])
            if found:
                members.append(f"{c.get('display_name', c['id'])}: " + ", ".join(
                    sorted(p.get("display_name", "") for p in found)))
        rows.append((g["id"], g.get("display_name", ""), _criteria(g), "; ".join(members) or "—"))
    return _table(("id", "name", "criteria", "effective pods"), rows, "groups",
                  empty="no Antrea groups (members are computed once a policy applied to a cluster uses one)")


def _policies(get: Getter, get_all: Callable[..., list[dict[str, Any]]]) -> str:
    listed = get_all(f"{P}{paths.SECURITY_POLICIES}")
    by_category: dict[str, list[dict[str, Any]]] = {}
    for p in listed:
        by_category.setdefault(p.get("category", ""), []).append(p)
    if not listed:
        return '<p class="empty">no security policies</p>'
    out = []
    for category in [*CATEGORIES, *sorted(set(by_category) - set(CATEGORIES))]:
        policies = sorted(by_category.get(category, []), key=lambda p: (p.get("sequence_number", 0), p["id"]))
        if not policies:
            continue
        out.append(f'<h3 class="category" data-category="{escape(category)}">{escape(category)}</h3>')
        for listed_policy in policies:
            policy = get(f"{P}{paths.SECURITY_POLICIES}/{listed_policy['id']}")
            status = get(f"{P}/infra/realized-state/status", intent_path=policy["path"])
            consolidated = status.get("consolidated_status", {}).get("consolidated_status", "UNKNOWN")
            entities = get(f"{P}/infra/realized-state/realized-entities", intent_path=policy["path"])
            alarms = [a.get("message", "") for e in entities.get("results", []) for a in e.get("alarms") or []]
            hits: dict[str, list[str]] = {}
            for entry in get(f"{P}{paths.SECURITY_POLICIES}/{policy['id']}/statistics").get("results", []):
                cluster = entry.get("container_cluster_path", "").rsplit("/", 1)[-1]
                for r in entry.get("statistics", {}).get("results", []):
                    rule = str(r.get("rule", "")).rsplit("/", 1)[-1]
                    hits.setdefault(rule, []).append(f"{cluster}: {r.get('hit_count', 0)}")
            scope = ", ".join(s.rsplit("/", 1)[-1] for s in policy.get("scope") or []) or "ANY"
            rules = [(r["id"], r.get("rule_id", ""), _paths(r.get("source_groups")), _paths(r.get("destination_groups")),
                      _paths(r.get("scope")), _paths(r.get("services")), r.get("action", ""), r.get("direction", ""),
                      "; ".join(hits.get(r["id"], [])) or "—")
                     for r in sorted(policy.get("rules", []), key=lambda r: (r.get("sequence_number", 0), r["id"]))]
            out.append(
                f'<div class="policy" data-id="{escape(policy["id"])}">'
                f"<p><b>{escape(policy.get('display_name', policy['id']))}</b> (seq {policy.get('sequence_number', 0)}, "
                f"applied to {escape(scope)}, revision {policy.get('_revision', 0)}) — realization "
                f'<span class="status {escape(consolidated)}">{escape(consolidated)}</span>'
                + (f' <span class="error">{escape("; ".join(alarms))}</span>' if alarms else "") + "</p>"
                + _table(("rule", "rule id", "sources", "destinations", "applied to", "services", "action",
                          "direction", "hits"), rules, "rules", empty="no rules")
                + "</div>")
    return "".join(out)


def _traceflows(get: Getter, get_all: Callable[..., list[dict[str, Any]]], names: dict[str, str]) -> str:
    out = []
    labels: dict[str, str] = {}  # external_id -> "ns/pod" or "service ns/name", per cluster on demand

    def label(cluster_id: str, external_id: str) -> str:
        if cluster_id not in labels:
            labels[cluster_id] = cluster_id
            mine = {"container_cluster_id": cluster_id}
            ns = {p["id"]: p["display_name"] for p in get_all(f"{FABRIC}/container-projects", **mine)}
            for kind, prefix in (("container-application-instances", ""), ("container-applications", "service ")):
                for o in get_all(f"{FABRIC}/{kind}", **mine):
                    labels[o["id"]] = f"{prefix}{ns.get(o.get('container_project_id', ''), '?')}/{o['display_name']}"
        return labels.get(external_id, external_id)

    for tf in sorted(get_all(f"{P}{paths.TRACEFLOWS}"), key=lambda t: t["id"]):
        if names and tf.get("container_cluster_id") not in names:
            continue
        base = f"{P}{paths.traceflow_path(tf['id'])}"
        status = get(f"{base}/status")
        phase = status.get("phase", "")
        observations = get(f"{base}/observations").get("results", [])
        ip = (tf.get("packet") or {}).get("ip_header") or {}
        cid = tf.get("container_cluster_id", "")
        src = label(cid, tf.get("source_external_id", ""))
        dst = label(cid, tf["destination_external_id"]) if tf.get("destination_external_id") else ip.get("dst_ip", "")
        rows = [(o.get("node_name") or o.get("container_node_id", ""), o.get("component_type", ""),
                 str(o.get("observation_type", "")).removeprefix("AntreaTraceflowObservation"),
                 o.get("network_policy", ""), o.get("network_policy_rule", ""), o.get("component_info", ""))
                for o in observations]
        out.append(
            f'<div class="traceflow" data-id="{escape(tf["id"])}">'
            f"<p><b>{escape(tf['id'])}</b> in {escape(names.get(tf.get('container_cluster_id', ''), ''))}: "
            f"{escape(src)} → {escape(str(dst))} — "
            f'<span class="status {escape(phase)}">{escape(phase)}</span> {escape(status.get("reason", ""))}</p>'
            + _table(("node", "component", "observation", "policy", "rule", "info"), rows, "observations",
                     empty="no observations yet")
            + "</div>")
    return "".join(out) or '<p class="empty">no traceflows</p>'


def _flows(get: Getter, get_all: Callable[..., list[dict[str, Any]]], cluster_id: str,
           filters: dict[str, str]) -> str:
    """The flow analytics view: reports, totals, counts by cluster, namespace, group pair, service
    and deciding rule, top talkers, and the records themselves (:mod:`.flow_analytics`). Filters
    are links (the page has no forms): a group pair's row narrows the view to that pair."""
    mine = {"container_cluster_id": cluster_id} if cluster_id else {}
    reports = get_all(f"{LK}/flow-reports", **mine)
    if not reports:
        return ('<p class="empty">no flow records: a registered cluster reports its Flow Aggregator\'s records '
                "(<code>nsx.report_flows(lab.flows(run))</code>)</p>")
    wanted = {k: v for k, v in filters.items() if k in FLOW_FILTERS and v}
    query = {**mine, **wanted}
    summary = {by: get(f"{LK}/flows/summary", group_by=by, **query) for by in
               ("cluster", "namespace", "group", "service", "rule")}
    talkers = get(f"{LK}/flows/summary", group_by="talker", limit=10, **query)
    records = get(f"{LK}/flows", page_size=FLOW_ROWS, **query)
    total = summary["cluster"]
    counts = {k: sum(r[k] for r in total["results"]) for k in
              ("allowed_count", "dropped_count", "rejected_count", "unprotected_count")}
    out = [_table(("report", "cluster", "label", "records"),
                  [(_Link(_href(cluster_id, {"report_id": r["report_id"]}), r["report_id"]),
                    r.get("cluster_control_plane_path", "").rsplit("/", 1)[-1], r.get("label", ""),
                    r.get("record_count", 0)) for r in reports], "flow-reports")]
    if wanted:
        shown = ", ".join(f"{k.replace('_', ' ')} = {_short(v)}" for k, v in wanted.items())
        out.append(f'<p class="flow-filter">filter: {escape(shown)} '
                   f'(<a href="{escape(_href(cluster_id, {}))}">clear</a>)</p>')
    out.append(f'<p class="flow-totals" data-records="{total["record_count"]}" '
               f'data-allowed="{counts["allowed_count"]}" data-dropped="{counts["dropped_count"]}" '
               f'data-rejected="{counts["rejected_count"]}"><b>{total["record_count"]}</b> flow record(s): '
               f'{counts["allowed_count"]} allowed, {counts["dropped_count"]} dropped, '
               f'{counts["rejected_count"]} rejected; {counts["unprotected_count"]} unprotected (no granular '
               "NSX rule decided them)</p>")
    numbers = ("records", "allowed", "dropped", "rejected", "packets", "bytes")

    def figures(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["record_count"], r["allowed_count"], r["dropped_count"], r["rejected_count"], r["packet_count"],
                r["byte_count"])

    out.append("<h3>By cluster</h3>" + _table(("cluster", *numbers),
                                              [(r["cluster_name"], *figures(r)) for r in total["results"]],
                                              "flows-by-cluster"))
    out.append("<h3>By namespace</h3>" + _table(
        ("source namespace", "destination namespace", *numbers),
        [(r["source_namespace"], r["destination_namespace"], *figures(r)) for r in summary["namespace"]["results"]],
        "flows-by-namespace"))
    out.append("<h3>By group pair</h3><p>A pod in several groups counts in each of their pairs; "
               "UNCATEGORIZED: in no group. Follow a pair to filter.</p>" + _table(
        ("source group", "destination group", *numbers),
        [(_Link(_href(cluster_id, {**wanted, "source_group": _short(r["source_group"]),
                                   "destination_group": _short(r["destination_group"])}), _short(r["source_group"])),
          _short(r["destination_group"]), *figures(r)) for r in summary["group"]["results"]],
        "flows-by-group"))
    out.append("<h3>By service</h3>" + _table(("service", *numbers),
                                              [(_short(r["service"]), *figures(r))
                                               for r in summary["service"]["results"]], "flows-by-service"))
    out.append("<h3>Deciding rules</h3>" + _table(
        ("policy", "rule", "cluster policy", *numbers),
        [(_short(r["policy_path"]) or "—", _short(r["rule_path"]) or "—", r["cluster_policy"] or "—", *figures(r))
         for r in summary["rule"]["results"]], "flows-by-rule"))
    out.append("<h3>Top talkers</h3>" + _table(("source", "destination", *numbers),
                                               [(r["source"], r["destination"], *figures(r))
                                                for r in talkers["results"]], "top-talkers"))
    rows = [(f.get("report_id", ""), _who(f["source"]), ", ".join(_short(g) for g in f["source"]["groups"]),
             _who(f["destination"]), ", ".join(_short(g) for g in f["destination"]["groups"]), _short(f["service"]),
             f["action"], f["flow_type"],
             _rule_text(f), f["packet_count"], f["byte_count"]) for f in records.get("results", [])]
    more = records.get("result_count", 0) - len(rows)
    out.append(f"<h3>Flow records</h3>" + _table(
        ("report", "source", "source groups", "destination", "destination groups", "service", "action", "flow type",
         "deciding rule", "packets", "bytes"), rows, "flow-records")
        + (f'<p class="empty">… and {more} more (filter to narrow)</p>' if more > 0 else ""))
    return "".join(out)


def _rule_text(flow: dict[str, Any]) -> str:
    rule = flow.get("rule")
    if rule:
        return f"{_short(rule['policy_path'])} / {_short(rule['rule_path'])} ({rule['rule_id']}, {rule['direction']})"
    policy = flow.get("cluster_policy")
    return f"{policy['kind']}:{policy['name']} (not NSX)" if policy else "—"


def _who(end: dict[str, Any]) -> str:
    return f"{end['namespace']}/{end['pod']}" if end.get("pod") else end.get("ip", "")


def _short(path: str) -> str:
    """A group, policy or rule by its id; a raw port as it is."""
    return path.rsplit("/", 1)[-1] if path.startswith("/infra/") else path


def _href(cluster_id: str, query: dict[str, str]) -> str:
    params = {**({"cluster_id": cluster_id} if cluster_id else {}), **query}
    return ("?" + urlencode(params) if params else "/") + "#flows"


class _Link:
    """A table cell that is a link (its text is escaped like every other cell)."""

    def __init__(self, href: str, text: Any) -> None:
        self.href, self.text = href, text

    def html(self) -> str:
        return f'<a class="filter" href="{escape(self.href)}">{escape(str(self.text))}</a>'


# ---------------------------------------------------------------------------- helpers


def _table(columns: tuple[str, ...], rows: list[tuple[Any, ...]] | Any, kind: str, empty: str = "none") -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{v.html() if isinstance(v, _Link) else escape(str(v))}</td>" for v in row)
                   + "</tr>" for row in rows)
    return f'<table class="{escape(kind)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _origin(obj: dict[str, Any], key: str) -> str:
    return next((str(o.get("value", "")) for o in obj.get("origin_properties") or [] if o.get("key") == key), "")


def _tags(obj: dict[str, Any]) -> str:
    return ", ".join(f"{t.get('scope', '').removeprefix('dis:k8s:')}={t.get('tag', '')}" for t in obj.get("tags") or [])


def _paths(values: list[str] | None) -> str:
    return ", ".join(v.rsplit("/", 1)[-1] if v != "ANY" else v for v in values or []) or "ANY"


def _criteria(group: dict[str, Any]) -> str:
    def one(expr: dict[str, Any]) -> str:
        kind = expr.get("resource_type")
        if kind == "Condition":
            return f"{expr.get('member_type')} {expr.get('key')} {expr.get('operator')} {expr.get('value')}"
        if kind == "ConjunctionOperator":
            return expr.get("conjunction_operator", "")
        if kind == "NestedExpression":
            return "(" + " ".join(one(e) for e in expr.get("expressions", [])) + ")"
        if kind == "IPAddressExpression":
            return "IPs " + ", ".join(expr.get("ip_addresses", []))
        return str(kind)

    return " ".join(one(e) for e in group.get("expression") or []) or "—"
