"""``/version`` and API discovery, legacy and aggregated (``apidiscovery.k8s.io/v2``).

kubectl 1.37 asks ``/api`` and ``/apis`` with an Accept header that prefers
``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``; the answer must say so in
its Content-Type (client-go ``discovery/discovery_client.go`` ``ContentTypeIsGVK``), else clients
fall back to one request per group-version, which the Python client always does
(reference kubectl-api.md §1).
"""

from __future__ import annotations

from .resources import RESOURCES, Resource, group_versions, resources_of

SERVER_VERSION = {"major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37",
                  "minCompatibilityMajor": "1", "minCompatibilityMinor": "36", "gitVersion": "v1.37.0",
                  "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                  "buildDate": "2026-08-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
                  "platform": "linux/amd64"}
AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False


def legacy_api(host: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def legacy_groups() -> dict:
    groups = []
    for group, versions in group_versions().items():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def legacy_group(group: str) -> dict | None:
    versions = group_versions().get(group)
    if not group or versions is None:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
            "preferredVersion": entries[0]}


def _api_resource(r: Resource) -> list[dict]:
    entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
             "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    out = [entry]
    if r.status_subresource:
        out.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced, "kind": r.kind,
                    "verbs": ["get", "patch", "update"]})
    if r.kind == "Pod":
        out.append({"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions",
                    "verbs": ["create", "get"]})
    return out


def resource_list(group: str, version: str) -> dict | None:
    resources = resources_of(group, version)
    if not resources:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": [e for r in resources for e in _api_resource(r)]}


def _discovery_resource(r: Resource) -> dict:
    kind = {"group": r.group, "version": r.version, "kind": r.kind}
    out = {"resource": r.plural, "responseKind": kind, "scope": "Namespaced" if r.namespaced else "Cluster",
           "singularResource": r.singular, "verbs": list(r.verbs)}
    if r.short_names:
        out["shortNames"] = list(r.short_names)
    if r.categories:
        out["categories"] = list(r.categories)
    subs = []
    if r.status_subresource:
        subs.append({"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]})
    if subs:
        out["subresources"] = subs
    return out


def aggregated(core: bool) -> dict:
    items = []
    for group, versions in group_versions().items():
        if bool(group) == core:
            continue
        items.append({"metadata": {"name": group} if group else {},
                      "versions": [{"version": v, "freshness": "Current",
                                    "resources": [_discovery_resource(r) for r in RESOURCES
                                                  if r.group == group and r.version == v]} for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
