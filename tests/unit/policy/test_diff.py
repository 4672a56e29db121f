"""lab.diff is exact: its rows are precisely the cells whose verdict changes when the change is
really applied and the matrices recomputed, the deciding rules are lab.explain's, no port or ICMP
type changes unseen with probes=None, and the lab is left as it was."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import labkit.policy.evaluate as evaluate_module
from labkit import Lab
from labkit.errors import ManifestError, NotFoundError
from labkit.policy.diff import CHANGES, change_of
from labkit.policy.probe import Probe
from labkit.policy.probeset import probe_spans, spanning_probes

# ---------------------------------------------------------------------------- policies as data

POD_SELECTORS = [{}, {"matchLabels": {"pod": "a"}}, {"matchLabels": {"pod": "b"}},
                 {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["a", "c"]}]},
                 {"matchExpressions": [{"key": "pod", "operator": "NotIn", "values": ["b"]}]},
                 {"matchLabels": {"role": "db"}}]
NS_SELECTORS = [{}, {"matchLabels": {"ns": "x"}}, {"matchLabels": {"ns": "y"}},
                {"matchExpressions": [{"key": "ns", "operator": "In", "values": ["y", "z"]}]}]
PORTS = [None, [{"protocol": "TCP", "port": 80}], [{"protocol": "TCP", "port": "serve-81-tcp"}],
         [{"protocol": "UDP", "port": 80, "endPort": 81}], [{"protocol": "TCP", "port": 70, "endPort": 90}],
         [{"protocol": "TCP"}], [{"protocol": "SCTP", "port": 81}], [{"protocol": "TCP", "port": "db"}],
         [{"protocol": "TCP", "port": 5432}, {"protocol": "UDP", "port": 53}]]
ICMP = [[{"icmp": {"icmpType": 8, "icmpCode": 0}}], [{"icmp": {"icmpType": 3}}], [{"icmp": {}}]]
TIERS = ["emergency", "securityops", "application", "baseline"]

pod_selector = st.sampled_from(POD_SELECTORS)
ns_selector = st.sampled_from(NS_SELECTORS)


@st.composite
def k8s_peer(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return {"podSelector": draw(pod_selector)}
    if kind == 1:
        return {"namespaceSelector": draw(ns_selector)}
    if kind == 2:
        return {"podSelector": draw(pod_selector), "namespaceSelector": draw(ns_selector)}
    return {"ipBlock": draw(st.sampled_from([{"cidr": "10.244.1.0/24"},
                                             {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/25"]}]))}


@st.composite
def k8s_policy(draw, name):
    direction = draw(st.sampled_from(["ingress", "egress"]))
    rules = []
    for _ in range(draw(st.integers(0, 2))):
        rule = {}
        if draw(st.booleans()):
            rule["from" if direction == "ingress" else "to"] = [draw(k8s_peer())]
        ports = draw(st.sampled_from(PORTS))
        if ports:
            rule["ports"] = ports
        rules.append(rule)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": draw(st.sampled_from("xyz"))},
            "spec": {"podSelector": draw(pod_selector), "policyTypes": [direction.capitalize()], direction: rules}}


@st.composite
def antrea_peer(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return {"podSelector": draw(pod_selector), "namespaceSelector": draw(ns_selector)}
    if kind == 1:
        return {"namespaceSelector": draw(ns_selector)}
    if kind == 2:
        return {"namespaces": {"match": "Self"}}
    return {"ipBlock": {"cidr": draw(st.sampled_from(["10.244.1.0/24", "10.244.2.0/24"]))}}


@st.composite
def acnp(draw, name):
    tier = draw(st.sampled_from(TIERS))
    actions = ["Allow", "Drop", "Reject"] + ([] if tier == "baseline" else ["Pass"])
    spec = {"tier": tier, "priority": draw(st.sampled_from([1, 2, 3])),
            "appliedTo": [{"podSelector": draw(pod_selector), "namespaceSelector": draw(ns_selector)}]}
    for direction in ("ingress", "egress"):
        rules = []
        for i in range(draw(st.integers(0, 2))):
            rule = {"action": draw(st.sampled_from(actions)), "name": f"{direction}-{i}"}
            if draw(st.booleans()):
                rule["from" if direction == "ingress" else "to"] = [draw(antrea_peer())]
            proto = draw(st.integers(0, 2))
            if proto == 1 and (ports := draw(st.sampled_from(PORTS))):
                rule["ports"] = ports
            elif proto == 2:
                rule["protocols"] = draw(st.sampled_from(ICMP))
            rules.append(rule)
        if rules:
            spec[direction] = rules
    if "ingress" not in spec and "egress" not in spec:
        spec["ingress"] = [{"action": "Drop", "name": "drop-all"}]
    return {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": name},
            "spec": spec}


def policy(name):
    return st.one_of(k8s_policy(name), acnp(name))


# A pod that serves a named port 'db' on 5432 (named ports resolve per pod) and one relabelled pod.
DB_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db", "namespace": "y", "labels": {"role": "db"}},
          "spec": {"containers": [{"name": "pg", "image": "postgres",
                                   "ports": [{"name": "db", "containerPort": 5432, "protocol": "TCP"}]}]}}


@st.composite
def scenario(draw):
    base = [draw(policy(f"p{i}")) for i in range(draw(st.integers(0, 4)))]
    names = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in base]
    changed = [draw(policy(f"p{i}")) for i in range(draw(st.integers(0, len(base))))]  # updates of existing ones
    added = [draw(policy(f"new{i}")) for i in range(draw(st.integers(0 if changed else 1, 2)))]
    # the updates keep their kind's name space: a K8s policy p0 and an ACNP p0 are different objects
    apply = changed + added
    if draw(st.booleans()):
        apply.append(copy.deepcopy(DB_POD))
    deletable = [n for n in names if (n[0], n[2]) not in {(d["kind"], d["metadata"]["name"]) for d in changed}]
    delete = []
    for kind, ns, name in draw(st.lists(st.sampled_from(deletable), unique=True, max_size=2)) if deletable else []:
        delete.append(f"acnp/{name}" if kind == "ClusterNetworkPolicy" else f"netpol/{ns}/{name}")
    return base, apply, delete


def matrices(lab, probes):
    return {p: lab.expected_reachability(port=p.port, protocol=p.protocol, icmp_type=p.icmp_type,
                                         icmp_code=p.icmp_code) for p in probes}


def changed_cells(before, after):
    out = set()
    for probe, m in before.items():
        n = after[probe]
        for s, d, b in m.cells():
            if s in n.sources and d in n.destinations and b != n[s, d]:
                out.add((s, d, probe.protocol, _probe_text(probe), b, n[s, d]))
    return out


def rows(diff):
    frame = diff.to_frame()
    assert all(pd.isna(r.port) if r.protocol == "ICMP" else r.ports == str(r.port) for r in frame.itertuples())
    return {(r.src, r.dst, r.protocol, r.ports, r.before, r.after) for r in frame.itertuples(index=False)}


FIXED_PROBES = [Probe("TCP", 80), Probe("TCP", 81), Probe("UDP", 80), Probe("SCTP", 81), Probe("TCP", 5432),
                Probe("ICMP", None), Probe("ICMP", None, icmp_type=3, icmp_code=1)]
RANDOM_PROBES = [Probe("TCP", 1), Probe("TCP", 75), Probe("TCP", 8080), Probe("UDP", 53), Probe("UDP", 65535),
                 Probe("SCTP", 80), Probe("ICMP", None, icmp_type=0, icmp_code=0),
                 Probe("ICMP", None, icmp_type=3, icmp_code=7), Probe("ICMP", None, icmp_type=11, icmp_code=0)]


def apply_change(lab, apply, delete):
    if delete:
        lab.delete(delete)
    if apply:
        lab.apply(apply)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=scenario(), merge=st.booleans())
def test_diff_is_exactly_apply_and_recompute(case, merge, monkeypatch):
    # merge: also merge classes per probe and per stage, which the engine skips for small labs
    monkeypatch.setattr(evaluate_module, "_SMALL", 0 if merge else 4096)
    base, apply, delete = case
    with Lab(profile="workshop") as lab:
        if base:
            lab.apply(base)
        generation, objects, manifests = lab.state.generation, dict(lab.state.objects), copy.deepcopy(lab.manifests())
        before = matrices(lab, FIXED_PROBES + RANDOM_PROBES)
        explicit = lab.diff(apply=apply or None, delete=delete or None,
                            probes=[(p.protocol, p.port if p.protocol != "ICMP" else (p.icmp_type, p.icmp_code))
                                    for p in FIXED_PROBES])
        spanning = lab.diff(apply=apply or None, delete=delete or None)
        # the lab is untouched
        assert lab.state.generation == generation and lab.state.objects == objects
        assert lab.manifests() == manifests
        # the deciding rules are lab.explain's, before ...
        sample = []
        for row in explicit.to_frame(limit=8).itertuples(index=False):
            probe = next(p for p in FIXED_PROBES if p.protocol == row.protocol
                         and _probe_text(p) == row.ports)
            assert row.before_rule == _reason(lab, row.src, row.dst, probe)
            sample.append((row.src, row.dst, probe, row.after_rule))
        apply_change(lab, apply, delete)
        after = matrices(lab, FIXED_PROBES + RANDOM_PROBES)
        for src, dst, probe, after_rule in sample:  # ... and after
            assert after_rule == _reason(lab, src, dst, probe)
    event(f"explicit probes: {'some' if explicit else 'no'} change; spans: {len(spanning.spans)}; "
          f"kinds: {'+'.join(k for k, n in spanning.counts().items() if n) or 'none'}")
    fixed = {p: before[p] for p in FIXED_PROBES}
    assert rows(explicit) == changed_cells(fixed, {p: after[p] for p in FIXED_PROBES})
    assert len(explicit) == len(rows(explicit))
    # probes=None: every probe lies in exactly one span, and changes exactly as that span's probe does
    by_span = {}
    for row in spanning.to_frame().itertuples(index=False):
        by_span.setdefault((row.protocol, row.ports), set()).add((row.src, row.dst, row.before, row.after))
    assert sum(len(v) for v in by_span.values()) == len(spanning)
    for probe in FIXED_PROBES + RANDOM_PROBES:
        holding = [s for s in spanning.spans if s.contains(probe)]
        assert len(holding) == 1, (str(probe), [str(s) for s in spanning.spans])
        want = {(s, d, b, a) for s, d, _, _, b, a in changed_cells({probe: before[probe]}, {probe: after[probe]})}
        assert by_span.get((holding[0].protocol, holding[0].traffic), set()) == want, (str(probe), str(holding[0]))


def _probe_text(probe):
    return f"type {probe.icmp_type} code {probe.icmp_code}" if probe.protocol == "ICMP" else str(probe.port)


def _reason(lab, src, dst, probe):
    exp = lab.expected_reachability(port=probe.port, protocol=probe.protocol, icmp_type=probe.icmp_type,
                                    icmp_code=probe.icmp_code, sources=[src], destinations=[dst]).explain(src, dst)
    return exp.deciding.reason


# ---------------------------------------------------------------------------- spans


def test_spans_split_ports_at_every_rule_bound_named_port_and_icmp_type():
    with Lab(profile="workshop") as lab:
        lab.apply([DB_POD, {
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "c"},
            "spec": {"priority": 1, "appliedTo": [{"podSelector": {}}], "ingress": [
                {"action": "Drop", "ports": [{"protocol": "TCP", "port": 8000, "endPort": 9100}]},
                {"action": "Drop", "ports": [{"protocol": "TCP", "port": "db"}]},
                {"action": "Reject", "protocols": [{"icmp": {"icmpType": 3, "icmpCode": 1}}]}]}}])
        spans = spanning_probes([lab.policy_set], lab.state.pods)
    tcp = [s.traffic for s in spans if s.protocol == "TCP"]
    assert tcp == ["1-5431", "5432", "5433-7999", "8000-9100", "9101-65535"]
    # the representative of a span is a port some pod serves there when there is one
    assert [s.port for s in spans if s.protocol == "TCP"][0] == 80
    assert [s.traffic for s in spans if s.protocol == "UDP"] == ["1-65535"]
    icmp = [(s.traffic, s.probe.icmp_type, s.probe.icmp_code) for s in spans if s.protocol == "ICMP"]
    assert icmp == [("type 3 code 1", 3, 1), ("type 3, codes other than 1", 3, 0),
                    ("types other than 3", 8, 0)]


def test_explicit_probes_accept_tuples_and_probes():
    spans = probe_spans([("tcp", 80), ("ICMP", None), ("ICMP", (3, 1)), Probe("UDP", 53)])
    assert [str(s) for s in spans] == ["TCP 80", "ICMP type 8 code 0", "ICMP type 3 code 1", "UDP 53"]
    with pytest.raises(ValueError, match="protocol"):
        probe_spans([("TCP",)])


# ---------------------------------------------------------------------------- results


def test_summary_counts_and_limited_rows_agree_with_the_full_frame():
    with Lab(profile="workshop") as lab:
        lab.apply({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                   "metadata": {"name": "reject-y"},
                   "spec": {"priority": 1, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                            "ingress": [{"action": "Reject", "from": [{"namespaceSelector": {}}]}]}})
        d = lab.diff(apply="policies/deny-all.yaml", delete=["acnp/reject-y"])
    frame = d.to_frame()
    assert len(frame) == len(d) > 0
    kinds = [change_of(["allow", "drop", "reject"].index(b), ["allow", "drop", "reject"].index(a))
             for b, a in zip(frame.before, frame.after)]
    assert d.counts() == {k: kinds.count(k) for k in CHANGES}
    assert d.counts()["reject->drop"] > 0 and d.counts()["opened"] > 0 and d.counts()["closed"] > 0
    frame["change"] = kinds
    frame["src_namespace"] = frame.src.astype(str).str.split("/").str[0]
    frame["dst_namespace"] = frame.dst.astype(str).str.split("/").str[0]
    grouped = frame.groupby(["src_namespace", "dst_namespace", "change"]).size()
    summary = d.summary()
    for (a, b, kind), n in grouped.items():
        assert summary.loc[(a, b), kind] == n
    assert summary["total"].sum() == len(d)
    for limit in (1, 7, 40, 10_000):
        head = d.to_frame(limit=limit)
        assert head.reset_index(drop=True).equals(frame[head.columns].head(limit).reset_index(drop=True))
    assert (frame.before == "reject").any() and frame.src.dtype == "category"
    assert not ((frame.src == frame.dst).any())  # a pod towards itself never changes


def test_pods_only_in_one_state_are_listed_not_compared():
    with Lab(profile="workshop") as lab:
        d = lab.diff(apply=DB_POD, delete=["pod/x/a"], probes=[("TCP", 80)])
    assert d.pods_added == ["y/db"] and d.pods_removed == ["x/a"]
    assert "x/a" not in d.pods and not d


def test_a_bad_change_raises_like_apply_and_delete_and_changes_nothing():
    with Lab(profile="workshop") as lab:
        generation = lab.state.generation
        with pytest.raises(ManifestError, match="endPort"):
            lab.diff(apply={"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                            "metadata": {"name": "bad", "namespace": "x"},
                            "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}})
        with pytest.raises(NotFoundError, match="not found"):
            lab.diff(delete=["acnp/nope"])
        assert lab.state.generation == generation


def test_markdown_escapes_cells_and_reports_counts():
    with Lab(profile="workshop") as lab:
        d = lab.diff(apply="policies/deny-all.yaml", probes=[("TCP", 80)])
    md = d.to_markdown(max_rows=5, title="a|b")
    assert md.startswith("### labkit policy diff: a\\|b\n")
    assert f"**{len(d)} connections change: {len(d)} closed" in md
    table = [line for line in md.splitlines() if line.startswith("| `")]
    assert len(table) == len(d.summary()) + 5
    assert "<details><summary>Changed connections (42; the first 5)</summary>" in md
    assert md.count("<details>") == md.count("</details>") == 1
