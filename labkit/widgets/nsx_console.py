"""``NSXConsole``: a small "NSX Manager UI" for the notebooks (ipywidgets 8).

Five tabs, each a view of the NSX API read and written through an :class:`~labkit.nsx.manager.NSXClient`
(the security admin's), never of the lab:

* **Inventory** (Inventory > Containers): nodes, namespaces, pods, services and network policies
  the adapter reported for the selected cluster (``/api/v1/fabric/container-*``);
* **Groups** (Inventory > Groups, type Antrea): the Antrea groups with their effective pods, and an
  editor (a form for one criterion, or the JSON body) that PATCHes ``/infra/domains/default/groups/<id>``;
* **Policies** (Security > Distributed Firewall): the Antrea-scoped policies, and an editor (one
  rule by form, or the JSON body) that PATCHes ``.../security-policies/<id>``. As in the NSX UI,
  a rule with sources gets direction IN, with destinations OUT (nsx.md §5.2);
* **Realization**: each policy's consolidated realization status and errors
  (``/infra/realized-state/status``) and its per-rule statistics for the cluster (``.../statistics``);
* **Traceflow** (Plan & Troubleshoot > Traceflow > Antrea): PUT ``/infra/antrea/traceflows/<id>``,
  then the status and observations the adapter reported;
* **Flows** (as NSX Intelligence's Plan & Troubleshoot > Discover & Take Action shows flows): the
  records the cluster's Flow Aggregator reported (labkit's collector, ``/labkit/v1/flows``), by
  group pair, namespace pair, service and deciding rule, top talkers and the records, allowed vs
  dropped/rejected with the deciding NSX rule; filters by report, group pair and action.

The console knows nothing about the adapter's logic. Given ``adapter=``, it offers a button that
runs ``adapter.sync()`` (what the in-cluster adapter would do on its own) and runs it after a
Traceflow request so the answer appears at once.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from ..nsx.flow_view import flow_row
from ..nsx.planner.bodies import condition, criterion
from ..nsx.manager import NSXClient
from ..nsx.manager.errors import NSXError
from ._style import ERROR, OK, esc

if TYPE_CHECKING:  # pragma: no cover
    from ..nsx.interworking import NSXAdapter

P = "/policy/api/v1"
FABRIC = "/api/v1/fabric"
GROUPS = f"{P}/infra/domains/default/groups"
POLICIES = f"{P}/infra/domains/default/security-policies"
TRACEFLOWS = f"{P}/infra/antrea/traceflows"
CCPS = f"{P}/infra/sites/default/enforcement-points/default/cluster-control-planes"
CATEGORIES = ("Emergency", "Infrastructure", "Environment", "Application")
ACTIONS = ("ALLOW", "DROP", "REJECT")
IP_PROTOCOLS = {"TCP": 6, "UDP": 17, "ICMP": 1}
TABS = ("Inventory", "Groups", "Policies", "Realization", "Traceflow", "Flows")
LK = "/labkit/v1"
FLOW_ROWS = 100  # flow records listed; the counts cover all of them


# ---------------------------------------------------------------------------- request bodies


def group_body(display_name: str = "", namespace: str = "", pod_tag: str = "", namespace_tag: str = "") -> dict[str, Any]:
    """An Antrea group with one criterion: every non-empty condition, ANDed (nsx.md §4.1)."""
    conditions = []
    if namespace:
        conditions.append(condition("Namespace", "Name", namespace))
    if namespace_tag:
        conditions.append(condition("Namespace", "Tag", namespace_tag))
    if pod_tag:
        conditions.append(condition("Pod", "Tag", pod_tag))
    body: dict[str, Any] = {"group_type": ["ANTREA"], "expression": criterion(conditions)}
    if display_name:
        body["display_name"] = display_name
    return body


def rule_body(rule_id: str, *, source: str = "ANY", destination: str = "ANY", applied_to: str = "ANY",
              service: str = "ANY", action: str = "ALLOW", direction: str = "IN_OUT",
              sequence_number: int = 1) -> dict[str, Any]:
    """One DFW rule; direction follows the NSX UI coupling for Antrea clusters (nsx.md §5.2)."""
    if source != "ANY":
        direction = "IN"
    elif destination != "ANY":
        direction = "OUT"
    return {"id": rule_id, "display_name": rule_id, "sequence_number": sequence_number,
            "source_groups": [source], "destination_groups": [destination], "scope": [applied_to],
            "services": [service], "action": action, "direction": direction}


def policy_body(cluster_path: str, category: str = "Application", sequence_number: int = 10,
                rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"category": category, "sequence_number": sequence_number, "scope": [cluster_path]}
    if rules is not None:
        body["rules"] = rules
    return body


# ---------------------------------------------------------------------------- the widget


class NSXConsole(widgets.VBox):
    """The NSX Manager as a security admin sees it; ``client`` is an admin :class:`NSXClient`."""

    cluster_id = traitlets.Unicode("", help="the ContainerCluster shown (its external_id)")
    message = traitlets.Unicode("", help="the last outcome, as the status line shows it")
    ok = traitlets.Bool(True, help="whether the last action succeeded")

    def __init__(self, client: NSXClient, adapter: NSXAdapter | None = None, cluster_id: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.adapter = adapter
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.traceflow_id = ""
        self._clusters: dict[str, str] = {}  # external_id -> name
        self.status_html = widgets.HTML()
        self._cluster = widgets.Dropdown(description="cluster", layout=widgets.Layout(width="360px"))
        refresh = widgets.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _: self.refresh())
        toolbar: list[widgets.Widget] = [self._cluster, refresh]
        if adapter is not None:
            sync = widgets.Button(description="Run adapter sync", icon="sync",
                                  tooltip="what the in-cluster adapter does on its own: one reconcile pass")
            sync.on_click(lambda _: self.run_adapter())
            toolbar.append(sync)
        self.inventory_html = widgets.HTML()
        self.groups_html = widgets.HTML()
        self.policies_html = widgets.HTML()
        self.realization_html = widgets.HTML()
        self.traceflow_html = widgets.HTML("<i>pick a source and a destination, then Trace</i>")
        self.flows_html = widgets.HTML()
        self._build_flow_filters()
        self._build_group_editor()
        self._build_policy_editor()
        self._build_traceflow()
        self.tabs = widgets.Tab(children=[
            self.inventory_html,
            widgets.VBox([self.groups_html, self.group_editor]),
            widgets.VBox([self.policies_html, self.policy_editor]),
            self.realization_html,
            widgets.VBox([self.traceflow_form, self.traceflow_html]),
            widgets.VBox([self.flow_filters, self.flows_html]),
        ], titles=TABS)
        self.children = [widgets.HBox(toolbar), self.status_html, self.tabs]
        self._load_clusters(cluster_id or (adapter.cluster_id if adapter is not None else None))
        self.cluster_id = self._cluster.value or ""
        # Dropdown <-> trait by hand: an empty Dropdown's value is None, which a Unicode trait refuses.
        self._cluster.observe(lambda c: setattr(self, "cluster_id", c["new"] or ""), names="value")
        self.observe(self._on_cluster, names="cluster_id")
        self.refresh()

    def _on_cluster(self, change: dict) -> None:
        if change["new"] and self._cluster.value != change["new"]:
            self._cluster.value = change["new"]
        self.refresh()

    # ------------------------------------------------------------------ reading NSX

    def refresh(self) -> None:
        """Read everything again from NSX."""
        try:
            self._load_clusters(self.cluster_id or None)
            self._load_inventory()
            self._load_groups()
            self._load_policies()
            self._load_realization()
            self._load_flows()
        except NSXError as exc:
            self._say(f"NSX: {exc}", ok=False)

    def _load_clusters(self, wanted: str | None) -> None:
        self._clusters = {c["id"]: c.get("display_name", c["id"])
                          for c in self.client.list_all(f"{FABRIC}/container-clusters")}
        options = [(f"{name} ({cid[:8]})", cid) for cid, name in self._clusters.items()]
        with self.hold_trait_notifications():
            self._cluster.options = options
            if wanted in self._clusters:
                self._cluster.value = wanted
            elif options and self._cluster.value not in self._clusters:
                self._cluster.value = options[0][1]

    @traitlets.validate("cluster_id")
    def _known_cluster(self, proposal: dict) -> str:
        value = proposal["value"]
        if value and self._clusters and value not in self._clusters:
            raise traitlets.TraitError(f"no container cluster {value!r} in NSX; known: {', '.join(self._clusters)}")
        return value

    @property
    def cluster_path(self) -> str:
        """The cluster's ClusterControlPlane path (where policies are applied)."""
        for ccp in self.client.list_all(CCPS):
            if ccp.get("node_id") == self.cluster_id:
                return ccp["path"]
        return ""

    def _list(self, collection: str) -> list[dict[str, Any]]:
        if not self.cluster_id:
            return []
        return self.client.list_all(f"{FABRIC}/{collection}", container_cluster_id=self.cluster_id)

    def _load_inventory(self) -> None:
        nodes = self._list("container-cluster-nodes")
        projects = self._list("container-projects")
        ns_name = {p["id"]: p["display_name"] for p in projects}
        node_name = {n["id"]: n["display_name"] for n in nodes}
        t = self.tables
        t["nodes"] = [{"name": n["display_name"], "ip": ", ".join(n.get("ip_addresses") or []),
                       "agent": n.get("cni_agent_status", "")} for n in nodes]
        t["namespaces"] = [{"name": p["display_name"], "tags": _tags(p)} for p in projects]
        t["pods"] = [{"namespace": ns_name.get(p.get("container_project_id", ""), "?"), "name": p["display_name"],
                      "ip": _origin(p, "ip"), "node": node_name.get(p.get("cluster_node_id", ""), ""),
                      "tags": _tags(p), "external_id": p["id"]} for p in self._list("container-application-instances")]
        t["services"] = [{"namespace": ns_name.get(s.get("container_project_id", ""), "?"), "name": s["display_name"],
                          "type": _origin(s, "type"), "ip": _origin(s, "ip"), "external_id": s["id"]}
                         for s in self._list("container-applications")]
        t["network_policies"] = [{"type": p.get("policy_type", ""),
                                  "namespace": ns_name.get(p.get("container_project_id", ""), ""),
                                  "name": p["display_name"]} for p in self._list("container-network-policies")]
        for key, order in (("nodes", ("name",)), ("namespaces", ("name",)), ("pods", ("namespace", "name")),
                           ("services", ("namespace", "name")), ("network_policies", ("type", "namespace", "name"))):
            t[key].sort(key=lambda row: tuple(row[k] for k in order))  # NSX lists by id; people read by name
        self.inventory_html.value = "".join(
            f"<h4>{esc(title)}</h4>{_table(t[key], columns)}" for title, key, columns in (
                ("Nodes", "nodes", ("name", "ip", "agent")),
                ("Namespaces", "namespaces", ("name", "tags")),
                ("Pods", "pods", ("namespace", "name", "ip", "node", "tags")),
                ("Services", "services", ("namespace", "name", "type", "ip")),
                ("Network policies", "network_policies", ("type", "namespace", "name"))))
        pods = [(f"{p['namespace']}/{p['name']}", p["external_id"]) for p in t["pods"]]
        services = [(f"service {s['namespace']}/{s['name']}", s["external_id"]) for s in t["services"]]
        self._tf_src.options, self._tf_dst.options = pods, pods + services
        if len(pods) > 1 and self._tf_dst.value == self._tf_src.value:
            self._tf_dst.value = pods[1][1]

    def _load_groups(self) -> None:
        rows = []
        for g in self.client.list_all(GROUPS):
            if "ANTREA" not in (g.get("group_type") or []):
                continue
            members = ""
            if self.cluster_id:
                found = self.client.get(f"{GROUPS}/{g['id']}/members/pods", cluster_id=self.cluster_id)
                members = ", ".join(p.get("display_name", "") for p in found.get("results", []))
            rows.append({"id": g["id"], "name": g.get("display_name", ""), "criteria": _criteria(g),
                         "pods": members or "—", "path": g["path"]})
        self.tables["groups"] = rows
        self.groups_html.value = _table(rows, ("id", "criteria", "pods"),
                                        empty="no Antrea groups yet: create one below")
        paths = ["ANY"] + [g["path"] for g in rows]
        for box in (self._rule_src, self._rule_dst, self._rule_applied):
            current = box.value
            box.options = paths
            box.value = current if current in paths else "ANY"

    def _load_policies(self) -> None:
        rows = []
        for p in self.client.list_all(POLICIES):
            clusters = [s for s in p.get("scope") or [] if "/cluster-control-planes/" in s]
            if not clusters:
                continue
            rows.append({"id": p["id"], "category": p.get("category", ""), "sequence": p.get("sequence_number", 0),
                         "rules": p.get("rule_count", 0), "clusters": ", ".join(c.rsplit("/", 1)[-1] for c in clusters),
                         "path": p["path"]})
        self.tables["policies"] = rows
        self.policies_html.value = _table(rows, ("id", "category", "sequence", "rules", "clusters"),
                                          empty="no policies applied to Antrea clusters yet")
        services = ["ANY"] + [s["path"] for s in self.client.list_all(f"{P}/infra/services")
                              if all(e.get("l4_protocol") in ("TCP", "UDP") for e in s.get("service_entries") or [])]
        current = self._rule_service.value
        self._rule_service.options = services
        self._rule_service.value = current if current in services else "ANY"
        clusters = [c["path"] for c in self.client.list_all(CCPS)]
        self._policy_cluster.options = clusters
        mine = self.cluster_path
        if mine in clusters:
            self._policy_cluster.value = mine

    def _load_realization(self) -> None:
        status_rows, stat_rows = [], []
        ccp = self.cluster_path
        for p in self.tables.get("policies", []):
            status = self.client.get(f"{P}/infra/realized-state/status", intent_path=p["path"])
            entities = self.client.get(f"{P}/infra/realized-state/realized-entities", intent_path=p["path"])
            errors = [a.get("message", "") for e in entities.get("results", []) for a in e.get("alarms") or []]
            status_rows.append({"policy": p["id"], "version": status.get("intent_version", ""),
                                "status": status["consolidated_status"]["consolidated_status"],
                                "errors": "; ".join(errors)})
            if not ccp or ccp.rsplit("/", 1)[-1] not in p["clusters"].split(", "):
                continue
            stats = self.client.get(f"{POLICIES}/{p['id']}/statistics", container_cluster_path=ccp)
            for entry in stats.get("results", []):
                for r in entry["statistics"]["results"]:
                    stat_rows.append({"policy": p["id"], "rule": r["rule"].rsplit("/", 1)[-1],
                                      "rule_id": r["internal_rule_id"], "hits": r["hit_count"],
                                      "sessions": r["session_count"], "packets": r["packet_count"]})
        self.tables["realization"], self.tables["statistics"] = status_rows, stat_rows
        self.realization_html.value = (
            "<h4>Realization</h4>" + _table(status_rows, ("policy", "version", "status", "errors"),
                                            empty="nothing to realize")
            + "<h4>Rule statistics (this cluster)</h4>"
            + _table(stat_rows, ("policy", "rule", "rule_id", "hits", "sessions", "packets"),
                     empty="no statistics reported yet"))

    # ------------------------------------------------------------------ flows

    def _build_flow_filters(self) -> None:
        w = widgets.Layout(width="330px")
        self._flow_report = widgets.Dropdown(description="report", options=[("all", "")], layout=w)
        self._flow_src = widgets.Dropdown(description="from group", options=[("any", "")], layout=w)
        self._flow_dst = widgets.Dropdown(description="to group", options=[("any", "")], layout=w)
        self._flow_action = widgets.Dropdown(description="action", layout=widgets.Layout(width="220px"),
                                             options=[("any", ""), *((a, a) for a in ACTIONS)])
        self._quiet = False  # set while the console itself changes the filters
        for box in (self._flow_report, self._flow_src, self._flow_dst, self._flow_action):
            box.observe(lambda _: None if self._quiet else self._load_flows(), names="value")
        self.flow_filters = widgets.VBox([widgets.HBox([self._flow_report, self._flow_action]),
                                          widgets.HBox([self._flow_src, self._flow_dst])])

    def show_flows(self, source_group: str = "", destination_group: str = "", report_id: str = "",
                   action: str = "") -> list[dict[str, Any]]:
        """Narrow the Flows tab (group ids, a report id, ALLOW/DROP/REJECT; "" = any) and return
        the records it lists."""
        self._quiet = True
        try:
            self._flow_options()
            for box, value in ((self._flow_src, source_group), (self._flow_dst, destination_group),
                               (self._flow_report, report_id), (self._flow_action, action)):
                if value not in [v for _, v in box.options]:
                    raise ValueError(f"{value!r} is not offered by the Flows tab's {box.description!r} filter; "
                                     f"choose one of {', '.join(repr(v) for _, v in box.options)}")
                box.value = value
        finally:
            self._quiet = False
        self._load_flows()
        return self.tables.get("flows", [])

    def _flow_options(self) -> list[dict[str, Any]]:
        """The reports of this cluster; refreshes the filters' choices (keeping what is chosen)."""
        reports = self.client.list_all(f"{LK}/flow-reports", container_cluster_id=self.cluster_id)
        groups = [g["id"] for g in self.client.list_all(GROUPS) if "ANTREA" in (g.get("group_type") or [])]
        groups += ["UNCATEGORIZED", "UNKNOWN"]
        quiet, self._quiet = self._quiet, True
        try:
            _set_options(self._flow_report, [("all", ""), *((f"{r['report_id']}: {r.get('label') or ''} "
                                                            f"({r.get('record_count', 0)})", r["report_id"])
                                                           for r in reports)])
            for box in (self._flow_src, self._flow_dst):
                _set_options(box, [("any", ""), *((g, g) for g in groups)])
        finally:
            self._quiet = quiet
        return reports

    def _load_flows(self) -> None:
        if not self.cluster_id:
            self.flows_html.value = "<i>no cluster</i>"
            return
        mine = {"container_cluster_id": self.cluster_id}
        reports = self._flow_options()
        self.tables["flow_reports"] = [{"report": r["report_id"], "label": r.get("label", ""),
                                        "records": r.get("record_count", 0)} for r in reports]
        if not reports:
            self.tables.update({k: [] for k in ("flows", "flows_by_group", "flows_by_namespace", "flows_by_service",
                                                "flows_by_rule", "top_talkers")})
            self.tables["flow_totals"] = {}
            self.flows_html.value = ("<i>no flow records yet: report a traffic run with "
                                     "<code>nsx.report_flows(lab.flows(run))</code></i>")
            return
        query = {**mine, **{k: v for k, v in (("report_id", self._flow_report.value),
                                               ("source_group", self._flow_src.value),
                                               ("destination_group", self._flow_dst.value),
                                               ("action", self._flow_action.value)) if v}}
        summary = {by: self.client.flow_summary(by, **query) for by in ("group", "namespace", "service", "rule")}
        talkers = self.client.flow_summary("talker", limit=10, **query)
        records = self.client.get(f"{LK}/flows", page_size=FLOW_ROWS, **query)
        t = self.tables
        t["flows_by_group"] = [{"from group": _short(r["source_group"]), "to group": _short(r["destination_group"]),
                                **_figures(r)} for r in summary["group"]["results"]]
        t["flows_by_namespace"] = [{"from namespace": r["source_namespace"], "to namespace": r["destination_namespace"],
                                    **_figures(r)} for r in summary["namespace"]["results"]]
        t["flows_by_service"] = [{"service": _short(r["service"]), **_figures(r)} for r in summary["service"]["results"]]
        t["flows_by_rule"] = [{"policy": _short(r["policy_path"]) or "—", "rule": _short(r["rule_path"]) or "—",
                               "cluster policy": r["cluster_policy"] or "—", **_figures(r)}
                              for r in summary["rule"]["results"]]
        t["top_talkers"] = [{"from": r["source"], "to": r["destination"], **_figures(r)} for r in talkers["results"]]
        t["flows"] = [flow_row(f) for f in records.get("results", [])]
        rows = summary["namespace"]["results"]
        t["flow_totals"] = {"records": summary["group"]["record_count"],
                            **{k: sum(r[f"{k}_count"] for r in rows) for k in ("allowed", "dropped", "rejected")}}
        figures = ("records", "allowed", "dropped", "rejected", "packets", "bytes")
        totals = t["flow_totals"]
        more = records.get("result_count", 0) - len(t["flows"])
        self.flows_html.value = (
            f"<div><b>{totals['records']}</b> flow record(s): {totals['allowed']} allowed, {totals['dropped']} "
            f"dropped, {totals['rejected']} rejected</div>"
            + "<h4>By group pair</h4>" + _table(t["flows_by_group"], ("from group", "to group", *figures))
            + "<h4>By namespace</h4>" + _table(t["flows_by_namespace"], ("from namespace", "to namespace", *figures))
            + "<h4>By service</h4>" + _table(t["flows_by_service"], ("service", *figures))
            + "<h4>Deciding rules</h4>" + _table(t["flows_by_rule"], ("policy", "rule", "cluster policy", *figures))
            + "<h4>Top talkers</h4>" + _table(t["top_talkers"], ("from", "to", *figures))
            + "<h4>Flow records</h4>" + _table(t["flows"], ("report_id", "source", "destination", "service", "action",
                                                            "flow_type", "policy", "rule", "rule_id", "packets",
                                                            "bytes"), empty="no records match")
            + (f"<i>… and {more} more</i>" if more > 0 else ""))

    # ------------------------------------------------------------------ editors

    def _build_group_editor(self) -> None:
        w = "300px"
        self._group_id = widgets.Text(description="group id", placeholder="web-pods", layout=widgets.Layout(width=w))
        self._group_ns = widgets.Text(description="namespace", placeholder="Namespace Name equals …",
                                      layout=widgets.Layout(width=w))
        self._group_pod_tag = widgets.Text(description="pod tag", placeholder="scope|tag, e.g. app|web",
                                           layout=widgets.Layout(width=w))
        self._group_ns_tag = widgets.Text(description="ns tag", placeholder="scope|tag, e.g. ns|x",
                                          layout=widgets.Layout(width=w))
        self._group_json = widgets.Textarea(placeholder='{"group_type": ["ANTREA"], "expression": [...]}',
                                            layout=widgets.Layout(width="640px", height="140px"))
        self._group_mode = widgets.ToggleButtons(options=("form", "JSON"), value="form")
        save = widgets.Button(description="Save group", icon="save", button_style="primary")
        save.on_click(lambda _: self.save_group())
        form = widgets.VBox([self._group_id, widgets.HBox([self._group_ns, self._group_ns_tag]), self._group_pod_tag])
        self._group_mode.observe(lambda c: self._switch(c, form, self._group_json, self._group_form_body), "value")
        self._group_json.layout.display = "none"
        self.group_editor = widgets.VBox([widgets.HTML("<b>New or changed Antrea group</b> (conditions are ANDed)"),
                                          self._group_mode, form, self._group_json, save])

    def _group_form_body(self) -> dict[str, Any]:
        return group_body(namespace=self._group_ns.value.strip(), pod_tag=self._group_pod_tag.value.strip(),
                          namespace_tag=self._group_ns_tag.value.strip())

    def save_group(self) -> dict[str, Any] | None:
        """PATCH the group the editor describes (form or JSON)."""
        group_id = self._group_id.value.strip()
        body = self._editor_body(self._group_mode.value, self._group_json, self._group_form_body)
        if body is None:
            return None
        if not group_id:
            self._say("give the group an id", ok=False)
            return None
        return self._write(f"{GROUPS}/{group_id}", body, f"group {group_id}")

    def _build_policy_editor(self) -> None:
        w = "300px"
        self._policy_id = widgets.Text(description="policy id", placeholder="protect-x", layout=widgets.Layout(width=w))
        self._policy_category = widgets.Dropdown(options=CATEGORIES, value="Application", description="category",
                                                 layout=widgets.Layout(width=w))
        self._policy_sequence = widgets.BoundedIntText(value=10, min=0, max=10**6, description="sequence",
                                                       layout=widgets.Layout(width="200px"))
        self._policy_cluster = widgets.Dropdown(description="applied to", layout=widgets.Layout(width="640px"))
        self._rule_id = widgets.Text(description="rule id", placeholder="allow-web", layout=widgets.Layout(width=w))
        self._rule_sequence = widgets.BoundedIntText(value=1, min=0, max=10**6, description="rule seq",
                                                     layout=widgets.Layout(width="200px"))
        self._rule_src = widgets.Dropdown(options=["ANY"], description="sources", layout=widgets.Layout(width="640px"))
        self._rule_dst = widgets.Dropdown(options=["ANY"], description="destinations", layout=widgets.Layout(width="640px"))
        self._rule_applied = widgets.Dropdown(options=["ANY"], description="rule applied to",
                                              layout=widgets.Layout(width="640px"))
        self._rule_service = widgets.Dropdown(options=["ANY"], description="service", layout=widgets.Layout(width=w))
        self._rule_action = widgets.Dropdown(options=ACTIONS, description="action", layout=widgets.Layout(width="200px"))
        self._rule_direction = widgets.Dropdown(options=("IN_OUT", "IN", "OUT"), description="direction",
                                                tooltip="used for Any-to-Any rules; sources force IN, destinations OUT",
                                                layout=widgets.Layout(width="200px"))
        self._policy_json = widgets.Textarea(placeholder='{"category": "Application", "scope": [...], "rules": [...]}',
                                             layout=widgets.Layout(width="640px", height="180px"))
        self._policy_mode = widgets.ToggleButtons(options=("form", "JSON"), value="form")
        save = widgets.Button(description="Save policy", icon="save", button_style="primary")
        save.on_click(lambda _: self.save_policy())
        delete = widgets.Button(description="Delete policy", icon="trash", button_style="danger")
        delete.on_click(lambda _: self.delete_policy())
        form = widgets.VBox([widgets.HBox([self._policy_id, self._policy_category, self._policy_sequence]),
                             self._policy_cluster, widgets.HBox([self._rule_id, self._rule_sequence]),
                             self._rule_src, self._rule_dst, self._rule_applied,
                             widgets.HBox([self._rule_service, self._rule_action, self._rule_direction])])
        self._policy_mode.observe(lambda c: self._switch(c, form, self._policy_json, self._policy_form_body), "value")
        self._policy_json.layout.display = "none"
        self.policy_editor = widgets.VBox([
            widgets.HTML("<b>New or changed DFW policy</b> (the form adds or replaces one rule)"),
            self._policy_mode, form, self._policy_json, widgets.HBox([save, delete])])

    def _policy_form_body(self) -> dict[str, Any]:
        rules = None
        if self._rule_id.value.strip():
            rules = [rule_body(self._rule_id.value.strip(), source=self._rule_src.value, destination=self._rule_dst.value,
                               applied_to=self._rule_applied.value, service=self._rule_service.value,
                               action=self._rule_action.value, direction=self._rule_direction.value,
                               sequence_number=self._rule_sequence.value)]
        return policy_body(self._policy_cluster.value or "", self._policy_category.value,
                           self._policy_sequence.value, rules)

    def save_policy(self) -> dict[str, Any] | None:
        """PATCH the policy the editor describes: PATCH upserts the rules it carries."""
        policy_id = self._policy_id.value.strip()
        body = self._editor_body(self._policy_mode.value, self._policy_json, self._policy_form_body)
        if body is None:
            return None
        if not policy_id:
            self._say("give the policy an id", ok=False)
            return None
        return self._write(f"{POLICIES}/{policy_id}", body, f"policy {policy_id}")

    def delete_policy(self) -> None:
        policy_id = self._policy_id.value.strip()
        try:
            self.client.delete(f"{POLICIES}/{policy_id}")
        except NSXError as exc:
            self._say(f"NSX refused to delete policy {policy_id}: {exc}", ok=False)
            return
        self._say(f"deleted policy {policy_id}")
        self.refresh()

    def _editor_body(self, mode: str, box: widgets.Textarea, from_form: Any) -> dict[str, Any] | None:
        if mode == "form":
            return from_form()
        try:
            body = json.loads(box.value)
        except ValueError as exc:
            self._say(f"the JSON body is not valid JSON: {exc}", ok=False)
            return None
        if not isinstance(body, dict):
            self._say("the JSON body must be an object", ok=False)
            return None
        return body

    def _write(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any] | None:
        try:
            answer = self.client.patch(path, body)
        except NSXError as exc:
            self._say(f"NSX refused {what}: {exc}", ok=False)
            return None
        self._say(f"saved {what} (_revision {answer.get('_revision')})")
        self.refresh()
        return answer

    @staticmethod
    def _switch(change: dict, form: widgets.Widget, box: widgets.Textarea, from_form: Any) -> None:
        to_json = change["new"] == "JSON"
        if to_json:
            box.value = json.dumps(from_form(), indent=2)
        form.layout.display = "none" if to_json else None
        box.layout.display = None if to_json else "none"

    # ------------------------------------------------------------------ traceflow and adapter

    def _build_traceflow(self) -> None:
        self._tf_src = widgets.Dropdown(description="source", layout=widgets.Layout(width="300px"))
        self._tf_dst = widgets.Dropdown(description="destination", layout=widgets.Layout(width="360px"))
        self._tf_protocol = widgets.Dropdown(options=tuple(IP_PROTOCOLS), description="protocol",
                                             layout=widgets.Layout(width="180px"))
        self._tf_port = widgets.BoundedIntText(value=80, min=1, max=65535, description="port",
                                               layout=widgets.Layout(width="160px"))
        run = widgets.Button(description="Trace", icon="route", button_style="primary")
        run.on_click(lambda _: self.trace())
        self.traceflow_form = widgets.VBox([widgets.HBox([self._tf_src, self._tf_dst]),
                                            widgets.HBox([self._tf_protocol, self._tf_port, run])])

    def trace(self, source: str | None = None, destination: str | None = None, protocol: str | None = None,
              port: int | None = None) -> dict[str, Any]:
        """Request an Antrea Traceflow in NSX (pods as ``ns/name``; defaults: the form's values)."""
        src = self._option(self._tf_src, source)
        dst = self._option(self._tf_dst, destination)
        proto = (protocol or self._tf_protocol.value).upper()
        packet: dict[str, Any] = {"resource_type": "FIELDS_PACKET_DATA", "transport_type": "UNICAST",
                                  "ip_header": {"protocol": IP_PROTOCOLS[proto], "ttl": 64}}
        dst_port = int(port if port is not None else self._tf_port.value)
        if proto == "TCP":
            packet["transport_header"] = {"tcp_header": {"dst_port": dst_port, "tcp_flags": 2}}
        elif proto == "UDP":
            packet["transport_header"] = {"udp_header": {"dst_port": dst_port}}
        # A new id each time: NSX keeps traceflows, and a PUT onto an old one would need its _revision.
        self.traceflow_id = f"console-{uuid.uuid4().hex[:8]}"
        body = {"container_cluster_id": self.cluster_id, "source_external_id": src,
                "destination_external_id": dst, "is_transient": True, "packet": packet}
        try:
            self.client.put(f"{TRACEFLOWS}/{self.traceflow_id}", body)
            if self.adapter is not None:
                self.adapter.sync()
            return self.show_traceflow()
        except NSXError as exc:
            self._say(f"traceflow: {exc}", ok=False)
            return {}

    def show_traceflow(self, traceflow_id: str | None = None) -> dict[str, Any]:
        """Read a traceflow's status and observations from NSX and draw them."""
        tf = traceflow_id or self.traceflow_id
        status = self.client.get(f"{TRACEFLOWS}/{tf}/status")
        found = self.client.get(f"{TRACEFLOWS}/{tf}/observations").get("results", [])
        rows = [{"node": o.get("node_name", o.get("container_node_id", "")[:8]), "component": o["component_type"],
                 "observation": o["observation_type"].replace("AntreaTraceflowObservation", ""),
                 "policy": o.get("network_policy", ""), "rule": o.get("network_policy_rule", "")} for o in found]
        self.tables["traceflow"] = rows
        phase = status.get("phase", "")
        colour = {"SUCCEEDED": OK, "FAILED": ERROR}.get(phase, "#555")
        waiting = ("<div>waiting for the adapter: run <code>adapter.sync()</code> (or press "
                   "<i>Run adapter sync</i>)</div>" if phase == "RUNNING" else "")
        self.traceflow_html.value = (
            f"<div><b>{esc(tf)}</b>: <span style='color:{colour}'><b>{esc(phase)}</b></span> "
            f"{esc(status.get('reason', ''))}</div>{waiting}"
            + _table(rows, ("node", "component", "observation", "policy", "rule"), empty="no observations"))
        self._say(f"traceflow {tf}: {phase}", ok=phase != "FAILED")
        return {"phase": phase, "reason": status.get("reason", ""), "observations": found}

    def run_adapter(self) -> None:
        """One reconcile pass of the adapter (in the product it runs continuously)."""
        if self.adapter is None:
            return
        try:
            report = self.adapter.sync()
        except NSXError as exc:
            self._say(f"adapter: {exc}", ok=False)
            return
        self._say(str(report))
        self.refresh()

    # ------------------------------------------------------------------ helpers

    def _option(self, box: widgets.Dropdown, key: str | None) -> str:
        if key is None:
            return box.value
        for label, value in box.options:
            if label in (key, f"service {key}") or value == key:
                return value
        raise ValueError(f"{key!r} is not in the NSX inventory of this cluster; choose one of "
                         f"{', '.join(label for label, _ in box.options)}")

    def _say(self, text: str, ok: bool = True) -> None:
        self.ok = ok
        self.message = text
        colour = OK if ok else ERROR
        body = esc(text).replace("\n", "<br>")
        self.status_html.value = f"<div style='border-left:6px solid {colour};padding:2px 8px'>{body}</div>"


def _set_options(box: widgets.Dropdown, options: list[tuple[str, str]]) -> None:
    """Replace a Dropdown's options, keeping its value when it is still offered."""
    current = box.value
    if list(box.options) != options:
        box.options = options
    box.value = current if current in [v for _, v in options] else options[0][1]


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1] if path.startswith("/infra/") else path


def _figures(row: dict[str, Any]) -> dict[str, int]:
    return {"records": row["record_count"], "allowed": row["allowed_count"], "dropped": row["dropped_count"],
            "rejected": row["rejected_count"], "packets": row["packet_count"], "bytes": row["byte_count"]}


def _origin(obj: dict[str, Any], key: str) -> str:
    return next((p.get("value", "") for p in obj.get("origin_properties") or [] if p.get("key") == key), "")


def _tags(obj: dict[str, Any]) -> str:
    return ", ".join(f"{t.get('scope', '').removeprefix('dis:k8s:')}={t.get('tag', '')}" for t in obj.get("tags") or [])


def _criteria(group: dict[str, Any]) -> str:
    parts = []
    for expr in group.get("expression") or []:
        rt = expr.get("resource_type")
        if rt == "ConjunctionOperator":
            parts.append(expr.get("conjunction_operator", "OR"))
        elif rt == "Condition":
            parts.append(_condition(expr))
        elif rt == "NestedExpression":
            parts.append("(" + " AND ".join(_condition(e) for e in expr.get("expressions") or []
                                           if e.get("resource_type") == "Condition") + ")")
        elif rt == "IPAddressExpression":
            parts.append("IP " + ", ".join(expr.get("ip_addresses") or []))
    return " ".join(parts)


def _condition(cond: dict[str, Any]) -> str:
    op = "≠" if cond.get("operator") == "NOTEQUALS" else "="
    return f"{cond.get('member_type')} {cond.get('key')} {op} {cond.get('value')}"


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], empty: str = "none") -> str:
    if not rows:
        return f"<i>{esc(empty)}</i>"
    cell = "style='text-align:left;padding:2px 8px'"
    head = "".join(f"<th {cell}>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td {cell}>{esc(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"


__all__ = ["NSXConsole", "group_body", "policy_body", "rule_body"]
