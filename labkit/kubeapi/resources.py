"""The resources the lab's API server serves, as data: one :class:`Resource` per kind.

Names, short names, scopes and verbs are those a real cluster running Antrea serves
(kube-apiserver's built-ins; Antrea's CRDs in ``build/charts/antrea/crds/*.yaml``:
``spec.names``, ``spec.scope``, ``additionalPrinterColumns``), gathered in
/work/shared/reference/kubectl-api.md §1.7 and §8.1. Discovery (``/api``, ``/apis``, aggregated
and legacy), the OpenAPI documents, the Table printer and the request router all read this
one list, so a kind is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

ANTREA = "crd.antrea.io"
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class Column:
    """A printer column: ``additionalPrinterColumns`` of a CRD, or a built-in printer's column."""

    name: str
    type: str  # string | integer | number | boolean | date
    json_path: str = ""  # CRD columns: the JSONPath the cell is read from
    description: str = ""
    priority: int = 0  # 1 (built-ins) / 10 (CRDs): only with -o wide
    format: str = ""


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status_subresource: bool = False
    # Where objects live: "model" (the Lab's ClusterState), "derived" (computed from the model,
    # read-only: Endpoints, EndpointSlices), "face" (kept by the API face: Traceflow), "empty"
    # (served so that clients that list them succeed, always empty: Events).
    origin: str = "model"
    columns: tuple[Column, ...] = ()  # CRD printer columns (after Name); built-ins print in .printers

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def qualified(self) -> str:
        """``pods``, ``deployments.apps``, ``clusternetworkpolicies.crd.antrea.io`` (Status messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def is_crd(self) -> bool:
        return self.group == ANTREA

    def base_path(self, namespace: str = "") -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        return f"{root}/{self.plural}"


def _policy_columns(what: str) -> tuple[Column, ...]:
    # build/charts/antrea/crds/clusternetworkpolicy.yaml and networkpolicy.yaml, additionalPrinterColumns.
    return (
        Column("Tier", "string", ".spec.tier", f"The Tier to which this {what} belongs to."),
        Column("Priority", "number", ".spec.priority", f"The Priority of this {what} relative to other policies.",
               format="float"),
        Column("Desired Nodes", "number", ".status.desiredNodesRealized",
               "The total number of Nodes that should realize the NetworkPolicy.", format="int32"),
        Column("Current Nodes", "number", ".status.currentNodesRealized",
               "The number of Nodes that have realized the NetworkPolicy.", format="int32"),
        Column("Age", "date", ".metadata.creationTimestamp"),
    )


_AGE = (Column("Age", "date", ".metadata.creationTimestamp"),)

RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",),
             verbs=("create", "delete", "get", "list", "patch", "update", "watch"), status_subresource=True),
    Resource("", "v1", "Node", "nodes", "node", False, ("no",), status_subresource=True),
    Resource("", "v1", "Pod", "pods", "pod", True, ("po",), ("all",), status_subresource=True),
    Resource("", "v1", "Service", "services", "service", True, ("svc",), ("all",), status_subresource=True),
    Resource("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",), verbs=READ_VERBS, origin="derived"),
    Resource("", "v1", "Event", "events", "event", True, ("ev",), verbs=READ_VERBS, origin="empty"),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True,
             verbs=READ_VERBS, origin="derived"),
    Resource("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), ("all",),
             status_subresource=True),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", True, ("netpol",)),
    Resource(ANTREA, "v1beta1", "ClusterNetworkPolicy", "clusternetworkpolicies", "clusternetworkpolicy", False,
             ("acnp",), status_subresource=True, columns=_policy_columns("ClusterNetworkPolicy")),
    Resource(ANTREA, "v1beta1", "NetworkPolicy", "networkpolicies", "networkpolicy", True, ("annp", "anp"),
             status_subresource=True, columns=_policy_columns("Antrea NetworkPolicy")),
    Resource(ANTREA, "v1beta1", "Tier", "tiers", "tier", False, ("tr",),
             columns=(Column("Priority", "integer", ".spec.priority",
                             "The Priority of this Tier relative to other Tiers."),) + _AGE),
    # No additionalPrinterColumns: the apiserver serves the default Age column.
    Resource(ANTREA, "v1beta1", "ClusterGroup", "clustergroups", "clustergroup", False, ("cg",),
             status_subresource=True, columns=_AGE),
    Resource(ANTREA, "v1beta1", "Group", "groups", "group", True, ("grp",), status_subresource=True, columns=_AGE),
    Resource(ANTREA, "v1beta1", "Traceflow", "traceflows", "traceflow", False, ("tf",), status_subresource=True,
             origin="face", columns=(
                 Column("Phase", "string", ".status.phase", "The phase of the Traceflow."),
                 Column("Source-Pod", "string", ".spec.source.pod", "The name of the source Pod.", 10),
                 Column("Destination-Pod", "string", ".spec.destination.pod", "The name of the destination Pod.", 10),
                 Column("Destination-IP", "string", ".spec.destination.ip", "The IP address of the destination.", 10),
                 Column("Live-Traffic", "boolean", ".spec.liveTraffic", "Trace live traffic.", 10),
                 Column("Dropped-Only", "boolean", ".spec.droppedOnly", "Capture only the dropped packet.", 10),
                 Column("Timeout", "integer", ".spec.timeout", "Timeout in seconds.", 10),
             ) + _AGE),
)

BY_PATH: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND: dict[tuple[str, str], Resource] = {(r.group, r.kind): r for r in RESOURCES}


def group_versions() -> dict[str, list[str]]:
    """Every served group (``""`` = core) and its versions, in the order discovery lists them."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out


def resources_of(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return BY_PATH.get((group, version, plural))


def for_kind(group: str, kind: str) -> Resource | None:
    return BY_KIND.get((group, kind))

