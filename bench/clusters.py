"""Synthetic clusters and policy sets for the benchmarks (deterministic for a given seed)."""

from __future__ import annotations

import random

APPS = [f"app{i}" for i in range(20)]
TIERS = ["web", "api", "db", "cache"]
ANTREA_TIERS = ["emergency", "securityops", "networkops", "platform", "application", "baseline"]


def cluster_docs(n_pods: int, n_namespaces: int = 10, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    docs: list[dict] = []
    # A /24 pod CIDR per node holds 253 pods: add workers until they all fit (kind-worker, -worker2 exist).
    for i in range(max(0, (n_pods - 1) // 253 + 1 - 2)):
        name = f"kind-worker{i + 3}"
        docs.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                     "spec": {"podCIDR": f"10.244.{i + 3}.0/24"},
                     "status": {"addresses": [{"type": "InternalIP", "address": f"172.18.0.{i + 5}"}]}})
    for i in range(n_namespaces):
        docs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": f"ns{i}", "labels": {"team": f"t{i % 4}", "env": ["prod", "dev"][i % 2]}}})
    for j in range(n_pods):
        ns = f"ns{j % n_namespaces}"
        labels = {"app": rng.choice(APPS), "tier": rng.choice(TIERS), "version": f"v{rng.randrange(3)}"}
        docs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{j}", "namespace": ns, "labels": labels},
                     "spec": {"containers": [{"name": "c", "image": "agnhost", "ports": [
                         {"name": "http", "containerPort": 80, "protocol": "TCP"},
                         {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]}]}})
    return docs


def _selector(rng: random.Random) -> dict:
    choice = rng.randrange(4)
    if choice == 0:
        return {"matchLabels": {"app": rng.choice(APPS)}}
    if choice == 1:
        return {"matchLabels": {"tier": rng.choice(TIERS)}}
    if choice == 2:
        return {"matchExpressions": [{"key": "app", "operator": "In", "values": rng.sample(APPS, 3)}]}
    return {"matchLabels": {"tier": rng.choice(TIERS), "version": f"v{rng.randrange(3)}"}}


def _ns_selector(rng: random.Random, n_namespaces: int) -> dict:
    if rng.random() < 0.5:
        return {"matchLabels": {"team": f"t{rng.randrange(4)}"}}
    return {"matchLabels": {"kubernetes.io/metadata.name": f"ns{rng.randrange(n_namespaces)}"}}


def _ports(rng: random.Random) -> list[dict] | None:
    return rng.choice([None, [{"protocol": "TCP", "port": 80}], [{"protocol": "TCP", "port": "http"}],
                       [{"protocol": "TCP", "port": 8000, "endPort": 9100}]])


def k8s_policies(n: int, n_namespaces: int = 10, seed: int = 2) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ns = f"ns{rng.randrange(n_namespaces)}"
        peer_kind = rng.randrange(3)
        if peer_kind == 0:
            peer = {"podSelector": _selector(rng)}
        elif peer_kind == 1:
            peer = {"namespaceSelector": _ns_selector(rng, n_namespaces)}
        else:
            peer = {"podSelector": _selector(rng), "namespaceSelector": _ns_selector(rng, n_namespaces)}
        rule: dict = {"from": [peer]}
        ports = _ports(rng)
        if ports:
            rule["ports"] = ports
        spec: dict = {"podSelector": _selector(rng), "policyTypes": ["Ingress"], "ingress": [rule]}
        if rng.random() < 0.3:
            spec["policyTypes"] = ["Ingress", "Egress"]
            spec["egress"] = [{"to": [{"namespaceSelector": _ns_selector(rng, n_namespaces)}]}]
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": f"np{i}", "namespace": ns}, "spec": spec})
    return out


def antrea_policies(n: int, n_namespaces: int = 10, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cluster = rng.random() < 0.6
        tier = rng.choice(ANTREA_TIERS)
        actions = ["Allow", "Drop", "Reject"] + ([] if tier == "baseline" else ["Pass"])
        rules = {"ingress": [], "egress": []}
        for _ in range(rng.randrange(1, 4)):
            direction = rng.choice(["ingress", "egress"])
            key = "from" if direction == "ingress" else "to"
            if cluster and rng.random() < 0.15:
                peer = {"namespaces": {"match": "Self"}}
            elif rng.random() < 0.5:
                peer = {"podSelector": _selector(rng), "namespaceSelector": _ns_selector(rng, n_namespaces)}
            else:
                peer = {"namespaceSelector": _ns_selector(rng, n_namespaces)}
            rule = {"action": rng.choice(actions), key: [peer]}
            ports = _ports(rng)
            if ports:
                rule["ports"] = ports
            rules[direction].append(rule)
        applied = {"podSelector": _selector(rng)}
        if cluster:
            applied["namespaceSelector"] = _ns_selector(rng, n_namespaces)
        spec = {"tier": tier, "priority": rng.randrange(1, 50), "appliedTo": [applied],
                **{k: v for k, v in rules.items() if v}}
        meta = {"name": f"{'acnp' if cluster else 'annp'}{i}"}
        if not cluster:
            meta["namespace"] = f"ns{rng.randrange(n_namespaces)}"
        out.append({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy" if cluster else "NetworkPolicy",
                    "metadata": meta, "spec": spec})
    return out
