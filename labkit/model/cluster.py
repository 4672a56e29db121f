"""The cluster store: every object a lab holds, and the rules for changing it atomically.

:class:`ClusterState` plays the API server, the scheduler, node IPAM and the Deployment controller
of a small kind-like cluster:

* apply = create or update by (kind, namespace, name), all or nothing: a batch with any problem
  changes nothing (``ManifestError`` lists every problem);
* admission checks that need other objects (namespace exists, Tier exists / priority unique /
  reserved, group nesting) as kube-apiserver and Antrea's webhook make them;
* pods are scheduled on schedulable nodes (fewest pods first) and get an IP from their node's
  pod CIDR (``.1`` is the node's ``antrea-gw0``), Deployments become Pods with Kubernetes-style
  names, Services get a ClusterIP from kind's default service range 10.96.0.0/16.
"""

from __future__ import annotations

import hashlib
import heapq
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

from ..errors import ConflictError, ManifestError, NotFoundError, Problem
from .objects import (
    ANTREA_GROUP,
    BASELINE_TIER_NAME,
    DEFAULT_TIERS,
    AnyObject,
    AntreaPolicy,
    Deployment,
    Group,
    K8sNetworkPolicy,
    Namespace,
    Node,
    ObjectRef,
    Pod,
    Service,
    Tier,
)
from .yamlsrc import Document

# Antrea webhook (validate.go): priorities reserved for internal use; at most 20 Tiers.
RESERVED_TIER_PRIORITIES = (251, 252, 254, 255)
MAX_TIERS = 20
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")  # kind's default; 10.96.0.1 is `kubernetes`
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand SafeEncodeString


def default_nodes(workers: int = 2) -> list[Node]:
    """Nodes as ``kind create cluster`` with one control-plane and ``workers`` workers names them."""
    nodes = [Node("kind-control-plane", {"node-role.kubernetes.io/control-plane": "",
                                         "kubernetes.io/hostname": "kind-control-plane"},
                  "10.244.0.0/24", "172.18.0.2", schedulable=False)]
    for i in range(workers):
        name = "kind-worker" if i == 0 else f"kind-worker{i + 1}"
        nodes.append(Node(name, {"kubernetes.io/hostname": name}, f"10.244.{i + 1}.0/24", f"172.18.0.{i + 3}"))
    return nodes


def _safe_encode(data: bytes, length: int) -> str:
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in data[:length])


def deployment_pod_names(dep: Deployment) -> list[str]:
    """Pod names as a ReplicaSet creates them: ``<deployment>-<pod-template-hash>-<5 chars>``.

    The hash is derived from the template (as the Deployment controller does) and the suffix from
    the replica index, so names are stable across runs of the same lab.
    """
    template_hash = _safe_encode(hashlib.sha1(repr(sorted(dep.template_labels.items())).encode()
                                              + repr(dep.ports).encode()).digest(), 10)
    names = []
    for i in range(dep.replicas):
        suffix = _safe_encode(hashlib.sha1(f"{dep.namespace}/{dep.name}/{template_hash}/{i}".encode()).digest(), 5)
        names.append(f"{dep.name}-{template_hash}-{suffix}")
    return names


@dataclass
class ApplyResult:
    """What one apply did, per object: ``created``, ``configured`` or ``unchanged`` (kubectl's words)."""

    changes: list[tuple[ObjectRef, str]] = field(default_factory=list)
    # What the API server (or Antrea's webhook) answers with "Warning:": applied all the same.
    warnings: list[Problem] = field(default_factory=list)

    def changes_text(self) -> str:
        return "\n".join(f"{ref} {what}" for ref, what in self.changes)

    def __str__(self) -> str:
        return "\n".join([self.changes_text()] + [f"Warning: {w}" for w in self.warnings])


class ClusterState:
    """All objects of one lab's cluster. Mutated only through :meth:`apply` and :meth:`delete`."""

    def __init__(self, nodes: Iterable[Node] | None = None) -> None:
        self.objects: dict[ObjectRef, AnyObject] = {}
        self.generation = 0
        # pod key -> (node, ip) to reuse when the pod is (re)created, so a lab restored from its
        # state directory keeps every pod where it was.
        self.allocation_hints: dict[str, tuple[str, str]] = {}
        # metadata.generation of every object: 1 when created, +1 per change of its spec (the API
        # server's rule for objects with a status subresource; label changes keep it). Antrea
        # reports it back as status.observedGeneration. Hints (by str(ref)) restore it on resume.
        self.object_generations: dict[ObjectRef, int] = {}
        self.generation_hints: dict[str, int] = {}
        for node in nodes if nodes is not None else default_nodes():
            self.objects[node.ref] = node
        for tier in DEFAULT_TIERS:
            self.objects[tier.ref] = tier

    # ------------------------------------------------------------------ views

    def _of(self, cls: type) -> list:
        return [o for o in self.objects.values() if isinstance(o, cls)]

    @property
    def nodes(self) -> list[Node]:
        return sorted(self._of(Node), key=lambda n: n.name)

    @property
    def namespaces(self) -> list[Namespace]:
        return sorted(self._of(Namespace), key=lambda n: n.name)

    @property
    def pods(self) -> list[Pod]:
        return sorted(self._of(Pod), key=lambda p: (p.namespace, p.name))

    @property
    def services(self) -> list[Service]:
        return sorted(self._of(Service), key=lambda s: (s.namespace, s.name))

    @property
    def deployments(self) -> list[Deployment]:
        return sorted(self._of(Deployment), key=lambda d: (d.namespace, d.name))

    @property
    def k8s_policies(self) -> list[K8sNetworkPolicy]:
        return sorted(self._of(K8sNetworkPolicy), key=lambda p: (p.namespace, p.name))

    @property
    def antrea_policies(self) -> list[AntreaPolicy]:
        return sorted(self._of(AntreaPolicy), key=lambda p: (p.kind, p.namespace, p.name))

    @property
    def tiers(self) -> list[Tier]:
        return sorted(self._of(Tier), key=lambda t: t.priority)

    @property
    def groups(self) -> list[Group]:
        return sorted(self._of(Group), key=lambda g: (g.kind, g.namespace, g.name))

    def tier(self, name: str) -> Tier | None:
        obj = self.objects.get(ObjectRef(ANTREA_GROUP, "Tier", "", name))
        return obj if isinstance(obj, Tier) else None

    def namespace(self, name: str) -> Namespace | None:
        obj = self.objects.get(ObjectRef("", "Namespace", "", name))
        return obj if isinstance(obj, Namespace) else None

    def pod(self, key: str) -> Pod:
        """A pod by ``namespace/name`` (``name`` alone means namespace ``default``)."""
        ns, _, name = key.rpartition("/")
        obj = self.objects.get(ObjectRef("", "Pod", ns or "default", name))
        if not isinstance(obj, Pod):
            known = ", ".join(p.key for p in self.pods[:12])
            raise NotFoundError(f"no pod {key!r} in the lab (pods are named namespace/name; known: {known})")
        return obj

    def __iter__(self) -> Iterator[AnyObject]:
        return iter(self.objects.values())

    def copy(self) -> "ClusterState":
        new = ClusterState.__new__(ClusterState)
        new.objects = dict(self.objects)
        new.generation = self.generation
        new.allocation_hints = self.allocation_hints
        new.object_generations = dict(self.object_generations)
        new.generation_hints = self.generation_hints
        return new

    def object_generation(self, ref: ObjectRef) -> int:
        """``metadata.generation`` of an object (1 for objects the lab created itself)."""
        return self.object_generations.get(ref, 1)

    # ------------------------------------------------------------------ apply

    def apply(self, items: list[tuple[AnyObject, Document]], problems: list[Problem] | None = None) -> ApplyResult:
        """Create or update every object, or raise ManifestError and change nothing.

        ``problems`` already found (by parsing) are reported together with admission problems.
        """
        staged = self.copy()
        problems = list(problems or [])
        result = ApplyResult()
        # Namespaces, Nodes and Tiers first: objects of the same manifest may refer to them
        # (kubectl apply sends in file order, but users expect one file to work in any order).
        order = {"Namespace": 0, "Node": 0, "Tier": 1}
        for obj, doc in sorted(items, key=lambda it: order.get(it[0].ref.kind, 2)):
            ref = obj.ref
            old = staged.objects.get(ref)
            problems += staged._admit(obj, old, doc)
            if isinstance(obj, Deployment):
                staged._remove_deployment_pods(obj)
            staged.objects[ref] = obj
            what = "created" if old is None else ("unchanged" if old == obj else "configured")
            if what == "created":
                staged.object_generations[ref] = self.generation_hints.get(str(ref), 1)
            elif what == "configured":
                staged.object_generations[ref] = staged.object_generation(ref) + 1
            result.changes.append((ref, what))
        problems += staged._check_groups(items)
        if problems:
            raise ManifestError(problems)
        result.warnings = [w for _, doc in items for w in doc.warnings]
        staged._expand_deployments()
        staged._schedule_and_allocate()
        self.objects = staged.objects
        self.object_generations = staged.object_generations
        for ref, what in result.changes:
            if what == "created":
                self.generation_hints.pop(str(ref), None)  # a hint restores an object once
        self.generation += 1
        return result

    def _problem(self, obj: AnyObject, doc: Document, path: str, message: str, hint: str = "") -> Problem:
        ref = obj.ref
        return Problem(message, path, ref.kind, ref.name, ref.namespace, doc.source, doc.line_of(path),
                       doc.index, hint)

    def _admit(self, obj: AnyObject, old: AnyObject | None, doc: Document) -> list[Problem]:
        problems: list[Problem] = []
        ref = obj.ref
        if ref.namespace and self.namespace(ref.namespace) is None:
            problems.append(self._problem(obj, doc, "metadata.namespace", f'namespaces "{ref.namespace}" not found',
                                          f"create Namespace {ref.namespace!r} first (or in the same manifest)"))
        if isinstance(obj, Pod) and obj.node_name and not isinstance(
                self.objects.get(ObjectRef("", "Node", "", obj.node_name)), Node):
            problems.append(self._problem(obj, doc, "spec.nodeName", f"node {obj.node_name!r} does not exist",
                                          f"use one of: {', '.join(n.name for n in self.nodes)}"))
        if isinstance(obj, Pod) and isinstance(old, Pod) and old.node_name and obj.node_name \
                and old.node_name != obj.node_name:
            problems.append(self._problem(obj, doc, "spec.nodeName", "pod updates may not change nodeName",
                                          "delete the pod and create it again"))
        if isinstance(obj, AntreaPolicy) and self.tier(obj.tier) is None:
            problems.append(self._problem(obj, doc, "spec.tier", f"tier {obj.tier!r} does not exist",
                                          "create the Tier first, or use one of: "
                                          + ", ".join(t.name for t in self.tiers)))
        if isinstance(obj, Tier):
            problems += self._admit_tier(obj, old, doc)
        return problems

    def _admit_tier(self, tier: Tier, old: AnyObject | None, doc: Document) -> list[Problem]:
        problems = []
        static = {t.name for t in DEFAULT_TIERS}
        if tier.name in static:
            if old != tier:
                problems.append(self._problem(tier, doc, "metadata.name",
                                              f"tier {tier.name!r} is a static Antrea tier and is read-only",
                                              "create a custom Tier with another name"))
            return problems
        if isinstance(old, Tier) and old.priority != tier.priority:
            problems.append(self._problem(tier, doc, "spec.priority",
                                          f"the priority of an existing Tier cannot be changed ({old.priority} -> "
                                          f"{tier.priority})", "delete the Tier and create it again"))
        if tier.priority in RESERVED_TIER_PRIORITIES:
            problems.append(self._problem(tier, doc, "spec.priority",
                                          f"priority {tier.priority} is reserved by Antrea",
                                          f"avoid {', '.join(map(str, RESERVED_TIER_PRIORITIES))}; custom tiers "
                                          "usually sit below 250 (application)"))
        for other in self.tiers:
            if other.name != tier.name and other.priority == tier.priority:
                problems.append(self._problem(tier, doc, "spec.priority",
                                              f"priority {tier.priority} is already used by tier {other.name!r}",
                                              "Tier priorities must be unique"))
        if old is None and len(self.tiers) >= MAX_TIERS:
            problems.append(self._problem(tier, doc, "", f"at most {MAX_TIERS} Tiers can exist",
                                          "delete an unused Tier"))
        return problems

    def _check_groups(self, items: list[tuple[AnyObject, Document]]) -> list[Problem]:
        """Antrea's group nesting rule: one level only (a parent cannot be a child)."""
        problems = []
        doc_of = {obj.ref: doc for obj, doc in items}
        groups = {g.ref: g for g in self.groups}
        for g in groups.values():
            if not g.child_groups or g.ref not in doc_of:
                continue
            for child_name in g.child_groups:
                child = groups.get(ObjectRef(ANTREA_GROUP, g.kind, g.namespace, child_name))
                if child is not None and child.child_groups:
                    problems.append(self._problem(g, doc_of[g.ref], "spec.childGroups",
                                                  f"child {g.kind} {child_name!r} has childGroups itself; "
                                                  "Antrea allows one level of nesting",
                                                  "reference the grandchildren directly"))
            for parent in groups.values():
                if g.name in parent.child_groups and parent.kind == g.kind and parent.namespace == g.namespace:
                    problems.append(self._problem(g, doc_of[g.ref], "spec.childGroups",
                                                  f"{g.kind} {g.name!r} is a child of {parent.name!r} and "
                                                  "cannot have childGroups (one level of nesting)"))
        return problems

    # ------------------------------------------------------------------ controllers

    def _remove_deployment_pods(self, dep: Deployment) -> None:
        owner = f"Deployment/{dep.name}"
        for ref, obj in list(self.objects.items()):
            if isinstance(obj, Pod) and obj.namespace == dep.namespace and obj.owner == owner:
                del self.objects[ref]

    def _expand_deployments(self) -> None:
        for dep in self.deployments:
            owner = f"Deployment/{dep.name}"
            if any(isinstance(o, Pod) and o.owner == owner and o.namespace == dep.namespace
                   for o in self.objects.values()):
                continue
            for name in deployment_pod_names(dep):
                labels = {**dep.template_labels, "pod-template-hash": name.split("-")[-2]}
                pod = Pod(dep.namespace, name, labels, dep.node_name, dep.ports, dep.service_account, owner=owner)
                self.objects[pod.ref] = pod

    def _schedule_and_allocate(self) -> None:
        nodes = {n.name: n for n in self.nodes}
        used: dict[str, set[str]] = {name: set() for name in nodes}
        counts = {name: 0 for name in nodes}
        for pod in self.pods:
            if pod.node_name in nodes:
                counts[pod.node_name] += 1
                if pod.pod_ip:
                    used[pod.node_name].add(pod.pod_ip)
        schedulable = [n.name for n in nodes.values() if n.schedulable] or list(nodes)
        # A hint (node, IP) says where a pod lives: a lab restored from its state directory, or a
        # snapshot of a real cluster (whose IPAM may hand out addresses outside the node's
        # podCIDR). A pod its hint places is kept exactly there.
        pinned: set[str] = set()
        for pod in self.pods:  # hinted pods first, so nobody takes their addresses
            hint = self.allocation_hints.get(pod.key)
            if not hint or hint[0] not in nodes or pod.node_name not in ("", hint[0]) \
                    or pod.pod_ip not in ("", hint[1]):
                continue
            if (pod.node_name, pod.pod_ip) == hint:
                pinned.add(pod.key)
            elif hint[1] not in used[hint[0]]:
                used[hint[0]].add(hint[1])
                counts[hint[0]] += 1 if not pod.node_name else 0
                pinned.add(pod.key)
                self.objects[pod.ref] = replace(pod, node_name=hint[0], pod_ip=hint[1])
        free: dict[str, Iterator[str]] = {}  # per node: its pod CIDR's free addresses, in order
        networks = {name: ipaddress.ip_network(n.pod_cidr) if n.pod_cidr else None for name, n in nodes.items()}
        least_busy = [(counts[n], n) for n in schedulable]  # the node with the fewest pods (then by name) next
        heapq.heapify(least_busy)
        for pod in self.pods:
            if pod.key in pinned:
                continue
            node_name = pod.node_name
            if node_name not in nodes:
                if not least_busy:
                    continue
                count, node_name = heapq.heapreplace(least_busy, (least_busy[0][0] + 1, least_busy[0][1]))
                counts[node_name] = count + 1
            ip = pod.pod_ip
            newly_placed = node_name != pod.node_name
            net = networks[node_name]
            if not ip or net is None or ipaddress.ip_address(ip) not in net or (newly_placed and ip in used[node_name]):
                addresses = free.setdefault(node_name, self._free_ips(nodes[node_name], used[node_name]))
                ip = next(addresses, "")
                if not ip:
                    node = nodes[node_name]
                    raise ConflictError(f"node {node.name}: pod CIDR {node.pod_cidr} is full; add a node or use a "
                                        "larger podCIDR")
            used[node_name].add(ip)
            if (node_name, ip) != (pod.node_name, pod.pod_ip):
                self.objects[pod.ref] = replace(pod, node_name=node_name, pod_ip=ip)
        used_svc = {s.cluster_ip for s in self.services if s.cluster_ip}
        hosts = SERVICE_CIDR.hosts()
        next(hosts)  # 10.96.0.1 belongs to the `kubernetes` Service
        for svc in self.services:
            if not svc.cluster_ip and svc.type != "ExternalName":
                for candidate in hosts:
                    if str(candidate) not in used_svc and str(candidate) != "10.96.0.10":  # kube-dns
                        used_svc.add(str(candidate))
                        self.objects[svc.ref] = replace(svc, cluster_ip=str(candidate))
                        break

    @staticmethod
    def _free_ips(node: Node, used: set[str]) -> Iterator[str]:
        """The node's pod CIDR addresses not in ``used`` (read as the iteration goes), in order."""
        net = ipaddress.ip_network(node.pod_cidr or "10.244.0.0/24")
        for i, host in enumerate(net.hosts()):
            if i == 0:
                continue  # .1 is antrea-gw0, the node's gateway
            text = str(host)
            if text not in used:
                yield text

    # ------------------------------------------------------------------ delete

    def delete(self, refs: list[ObjectRef], ignore_not_found: bool = False) -> list[ObjectRef]:
        """Delete objects (all or nothing). Namespaces cascade; Deployments take their pods."""
        staged = self.copy()
        deleted = []
        static = {t.name for t in DEFAULT_TIERS}
        for ref in refs:
            obj = staged.objects.get(ref)
            if obj is None:
                if ignore_not_found:
                    continue
                raise NotFoundError(f"{ref} not found")
            if isinstance(obj, Tier):
                if obj.name in static:
                    raise ConflictError(f"tier {obj.name!r} is a static Antrea tier and cannot be deleted")
                users = [p for p in staged.antrea_policies if p.tier == obj.name and p.ref not in refs]
                if users:
                    raise ConflictError(f"tier {obj.name!r} is referenced by {', '.join(str(p.ref) for p in users)}; "
                                        "delete or move those policies first")
            if isinstance(obj, Node) and any(p.node_name == obj.name for p in staged.pods):
                raise ConflictError(f"node {obj.name!r} still runs pods; delete them first")
            if isinstance(obj, Namespace):
                for other in list(staged.objects):
                    if other.namespace == obj.name:
                        del staged.objects[other]
            if isinstance(obj, Deployment):
                staged._remove_deployment_pods(obj)
            staged.objects.pop(ref, None)
            deleted.append(ref)
        self.objects = staged.objects
        self.object_generations = {r: g for r, g in staged.object_generations.items() if r in self.objects}
        self.generation += 1
        return deleted

    def relabel(self, ref: ObjectRef, labels: dict[str, str]) -> None:
        """Replace the labels of a Pod or Namespace (``kubectl label --overwrite``)."""
        obj = self.objects.get(ref)
        if not isinstance(obj, (Pod, Namespace)):
            raise NotFoundError(f"{ref} not found (only pods and namespaces can be relabelled)")
        if isinstance(obj, Namespace):
            labels = {**labels, "kubernetes.io/metadata.name": obj.name}
        self.objects[ref] = replace(obj, labels=dict(labels))
        self.generation += 1


__all__ = ["ClusterState", "ApplyResult", "default_nodes", "deployment_pod_names", "BASELINE_TIER_NAME"]
