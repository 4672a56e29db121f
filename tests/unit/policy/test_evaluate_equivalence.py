"""The vectorized evaluator (pod classes + numpy) must agree with a plain per-pair evaluation.

The plain evaluator below re-states the first-match semantics with loops over CompiledRules; any
disagreement is a bug in the class compression or the vectorized stage logic.
"""

import random

import pytest

from labkit import Lab
import labkit.policy.evaluate as evaluate_module
from labkit.policy.evaluate import evaluate
from labkit.policy.probe import Probe, service_match

TIERS = ["emergency", "securityops", "application", "baseline"]
ACTIONS = ["Allow", "Drop", "Reject", "Pass"]


def plain_side(policy_set, direction, src, dst, pods_by_key, probe):
    """(code 0/1/2) for one side, by explicit loops."""
    here = src if direction == "Egress" else dst

    def matches(rule):
        if direction == "Egress":
            ok = src in rule.applied_to and dst in rule.peers.pods
        else:
            ok = src in rule.peers.pods and dst in rule.applied_to
        return ok and service_match(rule, probe, pods_by_key[dst]) is True

    code = {"Allow": 0, "Drop": 1, "Reject": 2}
    for rule in policy_set.ordered("antrea", direction):
        if matches(rule):
            if rule.action == "Pass":
                break
            return code[rule.action]
    if here in policy_set.isolation[direction]:
        return 0 if any(matches(r) for r in policy_set.ordered("k8s", direction)) else 1
    for rule in policy_set.ordered("baseline", direction):
        if matches(rule):
            return code[rule.action]
    return 0


def random_selector(rng):
    return rng.choice(["{}", "{matchLabels: {pod: a}}", "{matchLabels: {pod: b}}",
                       "{matchExpressions: [{key: pod, operator: In, values: [a, c]}]}",
                       "{matchExpressions: [{key: pod, operator: NotIn, values: [b]}]}"])


def random_ns_selector(rng):
    return rng.choice(["{}", "{matchLabels: {ns: x}}", "{matchLabels: {ns: y}}",
                       "{matchExpressions: [{key: ns, operator: In, values: [y, z]}]}"])


def random_peer(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return f"{{podSelector: {random_selector(rng)}}}"
    if kind == 1:
        return f"{{namespaceSelector: {random_ns_selector(rng)}}}"
    if kind == 2:
        return f"{{podSelector: {random_selector(rng)}, namespaceSelector: {random_ns_selector(rng)}}}"
    if kind == 3:
        return rng.choice(["{ipBlock: {cidr: 10.244.1.0/24}}", "{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.2.0/25]}}"])
    return "{namespaces: {match: Self}}"


def random_ports(rng):
    return rng.choice(["", "    ports: [{protocol: TCP, port: 80}]\n", "    ports: [{protocol: TCP, port: serve-81-tcp}]\n",
                       "    ports: [{protocol: UDP, port: 80, endPort: 81}]\n"])


def random_manifest(rng, n_policies):
    docs = []
    for i in range(n_policies):
        if rng.random() < 0.3:
            ns = rng.choice("xyz")
            direction = rng.choice(["ingress", "egress"])
            key = "from" if direction == "ingress" else "to"
            peer = random_peer(rng).replace("{namespaces: {match: Self}}", "{podSelector: {}}")
            docs.append(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: np{i}, namespace: {ns}}}
spec:
  podSelector: {random_selector(rng)}
  policyTypes: [{direction.capitalize()}]
  {direction}:
  - {key}: [{peer}]
{random_ports(rng).replace('    ', '    ', 1)}""")
            continue
        tier = rng.choice(TIERS)
        rules = []
        for direction in ("ingress", "egress"):
            key = "from" if direction == "ingress" else "to"
            for _ in range(rng.randrange(3)):
                action = rng.choice(ACTIONS if tier != "baseline" else ACTIONS[:3])
                rules.append((direction, f"  - action: {action}\n    {key}: [{random_peer(rng)}]\n{random_ports(rng)}"))
        body = ""
        for direction in ("ingress", "egress"):
            chunk = "".join(r for d, r in rules if d == direction)
            if chunk:
                body += f"  {direction}:\n{chunk}"
        if not body:
            body = "  ingress:\n  - action: Drop\n"
        docs.append(f"""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: acnp{i}}}
spec:
  tier: {tier}
  priority: {rng.choice([1, 2, 2, 3])}
  appliedTo: [{{podSelector: {random_selector(rng)}, namespaceSelector: {random_ns_selector(rng)}}}]
{body}""")
    return "\n---\n".join(docs)


@pytest.mark.parametrize("seed", range(60))
def test_vectorized_equals_plain(seed, monkeypatch):
    # Odd seeds also merge classes per probe and per stage, which the engine skips for small labs.
    monkeypatch.setattr(evaluate_module, "_SMALL", 0 if seed % 2 else evaluate_module._SMALL)
    rng = random.Random(seed)
    with Lab(profile="workshop") as lab:
        lab.apply(random_manifest(rng, rng.randrange(1, 7)))
        pods = lab.state.pods
        by_key = {p.key: p for p in pods}
        for probe in (Probe("TCP", 80), Probe("TCP", 81), Probe("UDP", 81), Probe("ICMP", None)):
            ev = evaluate(lab.policy_set, pods, probe)
            for i, s in enumerate(ev.sources):
                for j, d in enumerate(ev.destinations):
                    if s == d:
                        assert ev.verdict[i, j] == 0
                        continue
                    egress = plain_side(lab.policy_set, "Egress", s, d, by_key, probe)
                    ingress = plain_side(lab.policy_set, "Ingress", s, d, by_key, probe)
                    want = egress if egress != 0 else ingress
                    assert ev.verdict[i, j] == want, (seed, str(probe), s, d, lab.manifests())
