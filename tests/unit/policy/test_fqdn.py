"""fqdn peers over the lab's cluster DNS names (issue 12, item 4).

References: docs/antrea-network-policy.md "FQDN based filtering"; v2.7.0
pkg/agent/controller/networkpolicy/fqdn.go (fqdnToSelectorItem, toRegex); e2e
testFQDNPolicyInClusterService; Kubernetes "DNS for Services and Pods" (CoreDNS, pods insecure).
"""

from __future__ import annotations

import fnmatch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import Lab
from labkit.policy.dns import cluster_dns, fqdn_members, fqdn_regex

SERVICES = """apiVersion: v1
kind: Service
metadata: {name: hl, namespace: x}
spec: {clusterIP: None, selector: {pod: a}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: cip, namespace: y}
spec: {selector: {pod: b}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: y}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: v1
kind: Service
metadata: {name: sub, namespace: z}
spec: {clusterIP: None, selector: {role: named}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: named, namespace: z, labels: {role: named}}
spec:
  hostname: web-0
  subdomain: sub
  containers: [{name: c, image: agnhost}]
"""


def test_cluster_dns_names():
    with Lab(profile="workshop") as lab:
        lab.apply(SERVICES)
        records = cluster_dns(lab.state)
        named_ip = lab.state.pod("z/named").pod_ip
        assert records["hl.x.svc.cluster.local"].pods == {"x/a"}
        assert records["10-244-1-2.hl.x.svc.cluster.local"].pods == {"x/a"}  # dashed endpoint name
        cip = records["cip.y.svc.cluster.local"]
        cip_service = next(s for s in lab.state.services if s.name == "cip")
        assert cip.pods == frozenset() and cip.addresses == (cip_service.cluster_ip,)
        assert cip_service.cluster_ip.startswith("10.96.")
        assert not any(name.startswith("ext.") for name in records)  # ExternalName: outside the lab
        assert records["web-0.sub.z.svc.cluster.local"].pods == {"z/named"}  # hostname + subdomain
        assert records[f"{named_ip.replace('.', '-')}.z.pod.cluster.local"].pods == {"z/named"}


def test_fqdn_members():
    with Lab(profile="workshop") as lab:
        lab.apply(SERVICES)
        records = cluster_dns(lab.state)
        state = lab.state
        assert fqdn_members("HL.x.svc.cluster.local", records, state).pods == {"x/a"}
        clusterip = fqdn_members("cip.y.svc.cluster.local", records, state)
        assert clusterip.pods == frozenset() and [b.cidr for b in clusterip.ip_blocks] == \
            [f"{records['cip.y.svc.cluster.local'].addresses[0]}/32"]
        assert fqdn_members("hl.x.svc.cluster.local.", records, state).pods == frozenset()  # final dot
        assert fqdn_members("hl.x.svc", records, state).pods == frozenset()  # search path is the client's
        assert fqdn_members("*.svc.cluster.local", records, state).pods == {"x/a", "z/named"}
        assert fqdn_members("*sub*", records, state).pods == {"z/named"}
        # pods insecure: a dashed IP resolves in any existing Namespace, Pod or not
        assert fqdn_members("10-244-1-2.y.pod.cluster.local", records, state).pods == {"x/a"}
        assert fqdn_members("10-244-1-2.nosuchns.pod.cluster.local", records, state).pods == frozenset()
        outside = fqdn_members("8-8-8-8.x.pod.cluster.local", records, state)
        assert outside.pods == frozenset() and [b.cidr for b in outside.ip_blocks] == ["8.8.8.8/32"]
        assert fqdn_members("*.github.com", records, state).pods == frozenset()


LABEL = st.text(alphabet="abcxyz019-", min_size=1, max_size=6)
NAME = st.lists(LABEL, min_size=1, max_size=5).map(".".join)
PATTERN = st.lists(st.one_of(LABEL, st.just("*"), st.text(alphabet="abcXYZ*", min_size=1, max_size=4)),
                   min_size=1, max_size=5).map(".".join)


@given(pattern=PATTERN, name=NAME)
def test_wildcard_is_a_case_insensitive_glob_across_dots(pattern, name):
    """toRegex: '*' matches any run of characters (dots included), '.' is literal, anchored."""
    assert bool(fqdn_regex(pattern).match(name)) == fnmatch.fnmatchcase(name, pattern.lower())


@st.composite
def services(draw):
    docs = []
    for i in range(draw(st.integers(1, 4))):
        ns = draw(st.sampled_from("xyz"))
        headless = draw(st.booleans())
        selector = draw(st.sampled_from(["{pod: a}", "{pod: b}", "{pod: c}"]))
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: {ns}}}\n"
                    f"spec: {{{'clusterIP: None, ' if headless else ''}selector: {selector}, ports: [{{port: 80}}]}}\n")
    return docs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=services(), pick=st.data())
def test_fqdn_rule_drops_exactly_the_headless_endpoints(docs, pick):
    """An fqdn Drop rule drops, from the Pods it applies to, exactly the traffic to the endpoints
    of the headless Services whose name it matches; ClusterIP Services never add a Pod."""
    with Lab(profile="workshop") as lab:
        lab.apply("---\n".join(docs))
        services_ = lab.state.services
        target = pick.draw(st.sampled_from(services_))
        form = pick.draw(st.sampled_from(["exact", "namespace-wildcard", "all"]))
        fqdn = {"exact": f"{target.name}.{target.namespace}.svc.cluster.local",
                "namespace-wildcard": f"*.{target.namespace}.svc.cluster.local",
                "all": "*.svc.cluster.local"}[form]
        matched = [s for s in services_ if fnmatch.fnmatchcase(f"{s.name}.{s.namespace}.svc.cluster.local", fqdn)]
        expected = set()
        for svc in matched:
            if svc.cluster_ip == "None":
                label = dict(svc.selector)
                expected |= {p.key for p in lab.state.pods if p.namespace == svc.namespace
                             and all(p.labels.get(k) == v for k, v in label.items())}
        lab.apply(f"""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: fqdn}}
spec:
  priority: 1
  appliedTo: [{{podSelector: {{}}, namespaceSelector: {{matchLabels: {{ns: x}}}}}}]
  egress: [{{action: Drop, to: [{{fqdn: "{fqdn}"}}]}}]
""")
        m = lab.reachability()
        for src, dst, verdict in m.cells():
            want = "drop" if src.startswith("x/") and dst in expected and src != dst else "allow"
            assert verdict == want, (fqdn, src, dst, docs)
