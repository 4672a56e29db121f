"""OpenAPI v3 for the served kinds: what ``kubectl explain`` reads and what makes kubectl leave
field validation to the server.

``GET /openapi/v3`` lists one document per group-version (kube-openapi ``pkg/handler3``); each
document has, per resource, the REST paths with operations tagged
``x-kubernetes-group-version-kind`` (PATCH with the ``fieldValidation`` query parameter: kubectl
then sends ``fieldValidation=Strict`` instead of validating itself, cli-runtime
``query_param_verifier_v3.go``) and a schema per kind tagged with its GVK, which ``kubectl explain``
renders (reference kubectl-api.md §5). PATCH request bodies do not list strategic merge, so kubectl
computes client-side-apply patches from its built-in types, as it does for a cluster whose
schemas it cannot use. The schemas describe the fields labkit models; the descriptions are ours.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from .resources import RESOURCES, Resource, group_versions, resources_of

META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
SELECTOR = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"


def _ref(name: str, description: str = "") -> dict:
    out: dict = {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}
    if description:
        out["description"] = description
    return out


def s(description: str, enum: tuple[str, ...] = ()) -> dict:
    out: dict = {"type": "string", "description": description}
    if enum:
        out["enum"] = list(enum)
    return out


def i(description: str, fmt: str = "int32") -> dict:
    return {"type": "integer", "format": fmt, "description": description}


def n(description: str) -> dict:
    return {"type": "number", "format": "double", "description": description}


def b(description: str) -> dict:
    return {"type": "boolean", "description": description}


def arr(description: str, items: dict) -> dict:
    return {"type": "array", "description": description, "items": items}


def obj(description: str, properties: dict | None = None, required: tuple[str, ...] = (),
        additional: dict | None = None) -> dict:
    out: dict = {"type": "object", "description": description}
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = list(required)
    if additional is not None:
        out["additionalProperties"] = additional
    return out


def int_or_string(description: str) -> dict:
    return {"x-kubernetes-int-or-string": True, "description": description,
            "anyOf": [{"type": "integer"}, {"type": "string"}]}


STRING_MAP = {"type": "string", "default": ""}

COMMON: dict[str, dict] = {
    META: obj("Metadata every persisted object has: name, namespace, labels, annotations, and the fields the server "
              "sets.", {
                  "name": s("The object's name, unique per kind (and namespace). Cannot be updated."),
                  "namespace": s("The namespace of a namespaced object. Empty for cluster-scoped kinds."),
                  "labels": obj("Key/value pairs that selectors (podSelector, namespaceSelector ...) match.",
                                additional=STRING_MAP),
                  "annotations": obj("Unstructured key/value data; kubectl keeps the last applied configuration "
                                     "here.", additional=STRING_MAP),
                  "uid": s("Set by the server: unique for the lifetime of the object."),
                  "resourceVersion": s("Set by the server: changes on every modification; send it back to update "
                                       "only the version you read (optimistic concurrency)."),
                  "generation": i("Set by the server: incremented when the desired state (spec) changes.", "int64"),
                  "creationTimestamp": s("Set by the server: when the object was created (RFC 3339)."),
                  "generateName": s("A prefix the server completes into a unique name when name is empty."),
                  "ownerReferences": arr("Objects this one depends on (a ReplicaSet owns its Pods).", obj(
                      "An owner.", {"apiVersion": s("API version of the owner."), "kind": s("Kind of the owner."),
                                    "name": s("Name of the owner."), "uid": s("UID of the owner."),
                                    "controller": b("True if the owner is the managing controller.")})),
                  "finalizers": arr("Must be empty before the object is deleted.", {"type": "string"}),
              }),
    SELECTOR: obj("A label query: matchLabels and matchExpressions are ANDed; an empty selector selects everything.", {
        "matchLabels": obj("Labels that must all be present with these values.", additional=STRING_MAP),
        "matchExpressions": arr("Set-based requirements, ANDed.", obj("A requirement.", {
            "key": s("The label key."),
            "operator": s("How the key relates to the values.", ("In", "NotIn", "Exists", "DoesNotExist")),
            "values": arr("Values for In and NotIn; empty for Exists and DoesNotExist.", {"type": "string"}),
        }, ("key", "operator")))}),
}


def _top(kind: str, description: str, spec: dict | None, status: dict | None = None) -> dict:
    props = {"apiVersion": s("The versioned schema of this representation of an object."),
             "kind": s("The REST resource this object represents."),
             "metadata": _ref(META, "Standard object's metadata.")}
    if spec is not None:
        props["spec"] = spec
    if status is not None:
        props["status"] = status
    return obj(description, props)


IP_BLOCK = obj("A CIDR and the addresses inside it to leave out.", {
    "cidr": s("An IPv4 or IPv6 CIDR, e.g. 10.244.0.0/16."),
    "except": arr("CIDRs inside cidr that do not match.", {"type": "string"})}, ("cidr",))
K8S_PORT = obj("A port (number or named container port) and protocol; endPort makes a range.", {
    "protocol": s("TCP (default), UDP or SCTP.", ("TCP", "UDP", "SCTP")),
    "port": int_or_string("A port number or the name of a container port; absent = every port."),
    "endPort": i("The last port of a range starting at port (port must be a number).")})
K8S_PEER = obj("Who may connect: pods (podSelector, in the policy's namespace unless namespaceSelector says "
               "otherwise), namespaces, or addresses (ipBlock, alone).", {
                   "podSelector": _ref(SELECTOR, "Pods selected by label."),
                   "namespaceSelector": _ref(SELECTOR, "Namespaces selected by label; with podSelector both must "
                                                       "match (AND)."),
                   "ipBlock": IP_BLOCK})
SERVICE_PORT = obj("A port the Service exposes.", {
    "name": s("Required when the Service has more than one port."), "protocol": s("TCP (default), UDP or SCTP."),
    "port": i("The port of the Service's cluster IP."),
    "targetPort": int_or_string("The container port (number or name) traffic goes to; default = port."),
    "nodePort": i("For NodePort and LoadBalancer Services.")}, ("port",))
CONTAINER = obj("A container of a Pod.", {
    "name": s("The container's name, unique in the Pod."), "image": s("The image to run."),
    "command": arr("Entrypoint.", {"type": "string"}), "args": arr("Arguments.", {"type": "string"}),
    "ports": arr("Ports the container serves; a named port can be used by NetworkPolicies and Services.", obj(
        "A container port.", {"name": s("A port name (IANA_SVC_NAME), e.g. serve-80-tcp."),
                              "containerPort": i("The port number."),
                              "protocol": s("TCP (default), UDP or SCTP.")}, ("containerPort",)))}, ("name",))
POD_SPEC = obj("The desired state of a Pod.", {
    "containers": arr("The Pod's containers (at least one).", CONTAINER),
    "nodeName": s("The Node the Pod runs on; set by the scheduler when empty."),
    "serviceAccountName": s("The ServiceAccount the Pod runs as (Antrea policies can select by it)."),
    "restartPolicy": s("Always, OnFailure or Never."), "dnsPolicy": s("How the Pod resolves names."),
    "schedulerName": s("The scheduler that places the Pod."),
    "terminationGracePeriodSeconds": i("Seconds given to stop gracefully.", "int64")}, ("containers",))
CONDITION = obj("A condition.", {"type": s("The condition's type."), "status": s("True, False or Unknown."),
                                 "reason": s("Why, in CamelCase."), "message": s("Why, for humans."),
                                 "lastTransitionTime": s("When the status last changed.")}, ("type", "status"))
CONDITIONS = arr("The latest observations of the object's state.", CONDITION)

ANTREA_PEER = obj("A source (ingress) or destination (egress) of an Antrea-native rule.", {
    "podSelector": _ref(SELECTOR, "Pods selected by label (all namespaces for a ClusterNetworkPolicy unless "
                                  "namespaceSelector or namespaces narrows it)."),
    "namespaceSelector": _ref(SELECTOR, "Namespaces selected by label."),
    "namespaces": obj("Namespaces relative to the appliedTo Pod (ClusterNetworkPolicy only).", {
        "match": s("Self: the namespace of the Pod the rule applies to.", ("Self",)),
        "sameLabels": arr("Namespaces that share these label values with the appliedTo Pod's namespace.",
                          {"type": "string"})}),
    "ipBlock": IP_BLOCK, "group": s("The name of a ClusterGroup (or Group for an Antrea NetworkPolicy)."),
    "serviceAccount": obj("Pods running as this ServiceAccount.", {"name": s("Name."), "namespace": s("Namespace.")}),
    "fqdn": s("A domain name or wildcard (egress only)."),
    "nodeSelector": _ref(SELECTOR, "Nodes selected by label.")})
APPLIED_TO = obj("The Pods a policy or rule is enforced on.", {
    "podSelector": _ref(SELECTOR, "Pods selected by label."),
    "namespaceSelector": _ref(SELECTOR, "Namespaces selected by label (ClusterNetworkPolicy only)."),
    "group": s("A ClusterGroup (or Group) name."),
    "serviceAccount": obj("Pods running as this ServiceAccount.", {"name": s("Name."), "namespace": s("Namespace.")})})
ANTREA_PORT = obj("A port or range, optionally with a source port range.", {
    "protocol": s("TCP (default), UDP or SCTP.", ("TCP", "UDP", "SCTP")),
    "port": int_or_string("A port number or a named container port."), "endPort": i("The end of a port range."),
    "sourcePort": i("The first source port."), "sourceEndPort": i("The last source port.")})


def _antrea_rule(peer_key: str) -> dict:
    return obj("A rule: evaluated in order within the policy; the first rule that matches decides.", {
        "action": s("What happens to matching traffic.", ("Allow", "Drop", "Reject", "Pass")),
        "name": s("The rule's name, unique in the policy; generated when empty."),
        peer_key: arr("Peers; empty = any address.", ANTREA_PEER),
        "ports": arr("Ports; empty = every port.", ANTREA_PORT),
        "protocols": arr("ICMP types and codes.", obj("A protocol.", {"icmp": obj("ICMP.", {
            "icmpType": i("ICMP type."), "icmpCode": i("ICMP code.")})})),
        "toServices": arr("Services this egress rule allows or denies (by ClusterIP).",
                          obj("A Service.", {"name": s("Name."), "namespace": s("Namespace.")})),
        "appliedTo": arr("Pods this rule applies to (when spec.appliedTo is empty).", APPLIED_TO),
        "enableLogging": b("Log traffic matching this rule (audit logging)."),
        "logLabel": s("A label that prefixes this rule's log lines.")}, ("action",))


def _antrea_policy(kind: str) -> dict:
    return _top(kind, f"Antrea {kind}: ordered rules with Allow, Drop, Reject and Pass, evaluated by tier priority, "
                      "then policy priority, then rule order.", obj("The policy.", {
                          "tier": s("The Tier the policy belongs to (default application)."),
                          "priority": n("The order inside the tier, 1 to 10000; lower is evaluated first."),
                          "appliedTo": arr("Pods the policy is enforced on (or set appliedTo in every rule).",
                                           APPLIED_TO),
                          "ingress": arr("Rules for incoming traffic.", _antrea_rule("from")),
                          "egress": arr("Rules for outgoing traffic.", _antrea_rule("to"))}, ("priority",)),
                obj("Realization status written by antrea-controller.", {
                    "phase": s("Pending, Realizing, Realized or Failed."),
                    "observedGeneration": i("The metadata.generation this status describes.", "int64"),
                    "currentNodesRealized": i("Nodes that realized the policy."),
                    "desiredNodesRealized": i("Nodes that should realize the policy."),
                    "conditions": CONDITIONS}))


GROUP_SPEC = {"podSelector": _ref(SELECTOR, "Pods selected by label."),
              "namespaceSelector": _ref(SELECTOR, "Namespaces selected by label."),
              "ipBlocks": arr("Addresses.", IP_BLOCK),
              "serviceReference": obj("The endpoints of a Service.", {"name": s("Name."),
                                                                       "namespace": s("Namespace.")}),
              "childGroups": arr("Other groups whose members this group includes (one level).", {"type": "string"})}

SCHEMAS: dict[str, dict] = {
    "Namespace": _top("Namespace", "A scope for names; policies select namespaces by label.",
                      obj("Finalizers.", {"finalizers": arr("Finalizers.", {"type": "string"})}),
                      obj("Status.", {"phase": s("Active or Terminating.")})),
    "Node": _top("Node", "A worker (or control-plane) machine of the cluster.", obj("Node spec.", {
        "podCIDR": s("The range Pod IPs on this Node come from."),
        "podCIDRs": arr("Pod ranges.", {"type": "string"}),
        "taints": arr("Taints (the control plane is NoSchedule).", obj("A taint.", {
            "key": s("Key."), "value": s("Value."), "effect": s("NoSchedule, PreferNoSchedule or NoExecute.")})),
        "unschedulable": b("Cordoned.")}), obj("Node status.", {
            "addresses": arr("Addresses.", obj("An address.", {"type": s("InternalIP, ExternalIP, Hostname."),
                                                              "address": s("The address.")})),
            "conditions": CONDITIONS, "nodeInfo": obj("Versions.", additional=STRING_MAP)})),
    "Pod": _top("Pod", "Pod is a collection of containers that share a network namespace (one IP).", POD_SPEC,
                obj("The observed state.", {
                    "phase": s("Pending, Running, Succeeded, Failed or Unknown."), "podIP": s("The Pod's IP."),
                    "podIPs": arr("The Pod's IPs.", obj("An IP.", {"ip": s("IP.")})), "hostIP": s("The Node's IP."),
                    "conditions": CONDITIONS, "startTime": s("When the kubelet started the Pod."),
                    "containerStatuses": arr("One per container.", obj("A container status.", {
                        "name": s("Name."), "ready": b("Ready."), "restartCount": i("Restarts."),
                        "image": s("Image.")}))})),
    "Service": _top("Service", "A stable virtual IP (ClusterIP) in front of the Pods its selector selects.",
                    obj("Service spec.", {"selector": obj("Pods with these labels are the endpoints.",
                                                          additional=STRING_MAP),
                                          "ports": arr("Ports.", SERVICE_PORT),
                                          "clusterIP": s("The virtual IP (allocated when empty)."),
                                          "type": s("ClusterIP, NodePort, LoadBalancer or ExternalName.")}),
                    obj("Status.", {"loadBalancer": obj("Load balancer status.")})),
    "Endpoints": _top("Endpoints", "The addresses behind a Service (computed from its selector).", None) | {
        "properties": {**_top("Endpoints", "", None)["properties"], "subsets": arr("Address sets.", obj(
            "Addresses and ports.", {"addresses": arr("Ready addresses.", obj("An address.", {"ip": s("IP.")})),
                                     "ports": arr("Ports.", obj("A port.", {"port": i("Port."),
                                                                           "protocol": s("Protocol.")}))}))}},
    "Event": _top("Event", "A report of something that happened (the lab records none).", None),
    "EndpointSlice": _top("EndpointSlice", "A slice of a Service's endpoints.", None) | {
        "properties": {**_top("EndpointSlice", "", None)["properties"], "addressType": s("IPv4 or IPv6."),
                       "endpoints": arr("Endpoints.", obj("An endpoint.", {
                           "addresses": arr("Addresses.", {"type": "string"}),
                           "nodeName": s("The Node."), "conditions": obj("ready, serving, terminating.")})),
                       "ports": arr("Ports.", obj("A port.", {"name": s("Name."), "port": i("Port."),
                                                              "protocol": s("Protocol.")}))}},
    "Deployment": _top("Deployment", "Runs replicas of a Pod template (through a ReplicaSet).", obj(
        "Deployment spec.", {"replicas": i("How many Pods."), "selector": _ref(SELECTOR, "Must match the template's "
                                                                                         "labels."),
                             "template": obj("The Pod template.", {"metadata": _ref(META, "Labels of the Pods."),
                                                                   "spec": POD_SPEC}),
                             "strategy": obj("How Pods are replaced.", {"type": s("RollingUpdate or Recreate.")})},
        ("selector", "template")), obj("Status.", {"replicas": i("Pods."), "readyReplicas": i("Ready Pods."),
                                                   "availableReplicas": i("Available Pods."),
                                                   "updatedReplicas": i("Up-to-date Pods."),
                                                   "observedGeneration": i("Generation observed.", "int64"),
                                                   "conditions": CONDITIONS})),
    "NetworkPolicy": _top("NetworkPolicy", "Kubernetes NetworkPolicy: allow-lists that isolate the selected Pods "
                                           "for the listed policyTypes.", obj("The policy.", {
                                               "podSelector": _ref(SELECTOR, "The Pods of the namespace this policy "
                                                                             "isolates; {} = all."),
                                               "policyTypes": arr("Ingress and/or Egress.", {"type": "string"}),
                                               "ingress": arr("Allowed incoming traffic.", obj("A rule.", {
                                                   "from": arr("Sources; empty = all.", K8S_PEER),
                                                   "ports": arr("Ports; empty = all.", K8S_PORT)})),
                                               "egress": arr("Allowed outgoing traffic.", obj("A rule.", {
                                                   "to": arr("Destinations; empty = all.", K8S_PEER),
                                                   "ports": arr("Ports; empty = all.", K8S_PORT)}))},
                                               ("podSelector",))),
    "ClusterNetworkPolicy": _antrea_policy("ClusterNetworkPolicy"),
    "AntreaNetworkPolicy": _antrea_policy("NetworkPolicy"),
    "Tier": _top("Tier", "A group of Antrea-native policies; tiers are evaluated by priority.", obj(
        "The tier.", {"priority": i("Lower is evaluated first (0-255); must be unique."),
                      "description": s("What the tier is for.")}, ("priority",))),
    "ClusterGroup": _top("ClusterGroup", "A named set of Pods or addresses that policies refer to.",
                         obj("Membership.", GROUP_SPEC), obj("Status.", {"conditions": CONDITIONS})),
    "Group": _top("Group", "A namespaced set of Pods or addresses for Antrea NetworkPolicies.",
                  obj("Membership.", GROUP_SPEC), obj("Status.", {"conditions": CONDITIONS})),
    "Traceflow": _top("Traceflow", "Injects one packet and reports what each Node's datapath did with it.", obj(
        "The packet to trace.", {
            "source": obj("The sender.", {"namespace": s("Namespace."), "pod": s("Pod."), "ip": s("IP (live).")}),
            "destination": obj("Exactly one of pod (with namespace), service (with namespace) or ip.", {
                "namespace": s("Namespace."), "pod": s("Pod."), "service": s("Service."), "ip": s("IP.")}),
            "packet": obj("Packet headers.", {
                "ipHeader": obj("IP header.", {"protocol": i("1 ICMP (default), 6 TCP, 17 UDP."),
                                               "ttl": i("TTL."), "flags": i("Flags.")}),
                "transportHeader": obj("Transport header.", {
                    "icmp": obj("ICMP echo.", {"id": i("Id."), "sequence": i("Sequence.")}),
                    "udp": obj("UDP.", {"srcPort": i("Source port."), "dstPort": i("Destination port.")}),
                    "tcp": obj("TCP.", {"srcPort": i("Source port."), "dstPort": i("Destination port."),
                                        "flags": i("TCP flags (default 2, SYN).")})})}),
            "liveTraffic": b("Trace live traffic (not modelled by labkit)."),
            "droppedOnly": b("Only dropped packets (live traffic)."),
            "timeout": i("Seconds before the trace fails (default 20).")}),
        obj("What the trace found.", {
            "phase": s("Running, Succeeded or Failed."), "reason": s("Why it failed."),
            "startTime": s("When the trace started."), "dataplaneTag": i("The tag carried by the packet."),
            "results": arr("One per Node that saw the packet.", obj("A Node's observations.", {
                "node": s("Node."), "role": s("Sender or Receiver."), "timestamp": i("Unix time.", "int64"),
                "observations": arr("In pipeline order.", obj("An observation.", {
                    "component": s("SpoofGuard, LB, Routing, NetworkPolicy, Forwarding or Egress."),
                    "componentInfo": s("The table or stage."), "action": s("Forwarded, Delivered, Dropped ..."),
                    "networkPolicy": s("The policy that decided."), "networkPolicyRule": s("Its rule."),
                    "tunnelDstIP": s("The remote Node."), "pod": s("The destination Pod.")}))}))})),
}


def _schema_name(r: Resource) -> str:
    group = ".".join(reversed(r.group.split("."))) if r.group else "core"
    return f"io.k8s.api.{group}.{r.version}.{r.kind}" if not r.is_crd else f"io.antrea.crd.{r.version}.{r.kind}"


def _schema_for(r: Resource) -> dict:
    key = "AntreaNetworkPolicy" if (r.is_crd and r.kind == "NetworkPolicy") else r.kind
    schema = json.loads(json.dumps(SCHEMAS[key]))
    schema["x-kubernetes-group-version-kind"] = [{"group": r.group, "kind": r.kind, "version": r.version}]
    return schema


def _operation(r: Resource, verb: str, action: str) -> dict:
    gvk = {"group": r.group, "version": r.version, "kind": r.kind}
    op: dict[str, Any] = {"operationId": f"{verb}{r.kind}", "x-kubernetes-action": action,
                          "x-kubernetes-group-version-kind": gvk,
                          "responses": {"200": {"description": "OK", "content": {"application/json": {
                              "schema": {"$ref": f"#/components/schemas/{_schema_name(r)}"}}}}}}
    if verb in ("patch", "create", "replace"):
        op["parameters"] = [{"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                            {"name": "fieldValidation", "in": "query", "schema": {"type": "string",
                                                                                  "uniqueItems": True}},
                            {"name": "dryRun", "in": "query", "schema": {"type": "string"}}]
    if verb == "patch":
        op["parameters"].append({"name": "force", "in": "query", "schema": {"type": "boolean"}})
        op["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in (
            "application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")}}
    return op


def document(group: str, version: str) -> dict:
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = dict(COMMON)
    for r in resources_of(group, version):
        schemas[_schema_name(r)] = _schema_for(r)
        item_ops = {"get": _operation(r, "read", "get")}
        collection_ops = {"get": _operation(r, "list", "list")}
        if "create" in r.verbs:
            collection_ops["post"] = _operation(r, "create", "post")
            item_ops.update({"put": _operation(r, "replace", "put"), "patch": _operation(r, "patch", "patch"),
                             "delete": _operation(r, "delete", "delete")})
        base = r.base_path("{namespace}" if r.namespaced else "")
        paths[base] = collection_ops
        paths[f"{base}/{{name}}"] = item_ops
        if r.namespaced:
            paths[r.base_path()] = {"get": _operation(r, "list", "list")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (labkit)", "version": "v1.37.0"}, "paths": paths,
            "components": {"schemas": schemas}}


@lru_cache(maxsize=None)
def document_bytes(group: str, version: str) -> bytes:
    return json.dumps(document(group, version), separators=(",", ":")).encode()


def doc_hash(group: str, version: str) -> str:
    return hashlib.sha512(document_bytes(group, version)).hexdigest()[:128].upper()


def discovery() -> dict:
    paths = {}
    for group, versions in group_versions().items():
        for version in versions:
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc_hash(group, version)}"}
    return {"paths": paths}


def lookup(path: str) -> tuple[str, str] | None:
    """``api/v1`` -> ("", "v1"); ``apis/apps/v1`` -> ("apps", "v1"); None if not served."""
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    return (group, version) if any(r.group == group and r.version == version for r in RESOURCES) else None
