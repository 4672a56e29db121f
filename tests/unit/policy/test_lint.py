from labkit import Lab


def findings(lab):
    return [str(f) for f in lab.lint()]


def test_nondeterministic_tie_missing_group_shadowed_rule_and_baseline_allow():
    with Lab(profile="workshop") as lab:
        lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: one}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress:
  - {action: Drop, name: drop-y, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  - {action: Allow, name: allow-ya, from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: a}}}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: two}
spec:
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {pod: a}}}]
  ingress:
  - {action: Allow, name: allow-y, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  - {action: Drop, name: from-missing, from: [{group: nobody}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: base}
spec:
  tier: baseline
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: nothing}}}]
  ingress: [{action: Allow}]
""")
        text = "\n".join(findings(lab))
        assert "nondeterministic" in text and "Drop vs Allow" in text
        assert "ClusterGroup 'nobody' does not exist" in text
        assert "allow-ya never matches" in text
        assert "Allow in the baseline tier" in text
        assert "AntreaClusterNetworkPolicy:base: appliedTo selects no pod" in text


def test_clean_policy_has_no_findings():
    with Lab(profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        assert lab.lint() == []


def test_ip_blocks_in_applied_to_and_unrealizable_annp_are_warned():
    """Item 1 and 3 of issue 12: an ipBlocks group in appliedTo is ignored by Antrea (the policy is
    Realized on no Node and has no effect, so only lint can say why); an ANNP whose appliedTo Group
    has Pods in other Namespaces is not realized at all."""
    with Lab(profile="workshop") as lab:
        lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: block}
spec: {ipBlocks: [{cidr: 10.244.1.0/24}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: a-pods}
spec: {podSelector: {matchLabels: {pod: a}}}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: parent}
spec: {childGroups: [block, a-pods]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: on-block}
spec:
  priority: 1
  appliedTo: [{group: block}]
  ingress: [{action: Drop}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: on-parent}
spec:
  priority: 2
  appliedTo: [{group: parent}]
  ingress: [{action: Drop}]
---
apiVersion: crd.antrea.io/v1beta1
kind: Group
metadata: {name: other-ns, namespace: x}
spec: {namespaceSelector: {matchLabels: {ns: y}}}
---
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: elsewhere, namespace: x}
spec:
  priority: 1
  appliedTo: [{group: other-ns}]
  ingress: [{action: Drop}]
""")
        text = "\n".join(findings(lab))
        assert ("warning: AntreaClusterNetworkPolicy:on-block: appliedTo ClusterGroup 'block' is defined by ipBlocks"
                in text and "applies the policy to nothing" in text)
        assert "AntreaClusterNetworkPolicy:on-block: appliedTo selects no pod" in text
        assert "appliedTo ClusterGroup 'parent': its child 'block' is defined by ipBlocks" in text
        assert ("warning: AntreaNetworkPolicy:x/elsewhere: not realized (Realizable=False, "
                "NetworkPolicyAppliedToUnsupportedGroup): Group x/other-ns with Pods in other Namespaces") in text
        assert "AntreaNetworkPolicy:x/elsewhere: appliedTo selects no pod" not in text
        assert lab.policy_status("acnp/on-block").phase == "Realized"  # Antrea's status shows nothing wrong


def test_fqdn_that_cannot_select_a_pod_is_explained():
    with Lab(profile="workshop") as lab:
        lab.apply("""apiVersion: v1
kind: Service
metadata: {name: web, namespace: y}
spec: {selector: {pod: b}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: hl, namespace: y}
spec: {clusterIP: None, selector: {pod: b}, ports: [{port: 80}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: names}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  egress:
  - {action: Drop, name: cip, to: [{fqdn: web.y.svc.cluster.local}]}
  - {action: Drop, name: dot, to: [{fqdn: hl.y.svc.cluster.local.}]}
  - {action: Drop, name: ext, to: [{fqdn: "*.github.com"}]}
  - {action: Drop, name: ok, to: [{fqdn: hl.y.svc.cluster.local}]}
""")
        text = "\n".join(findings(lab))
        assert "egress rule cip fqdn 'web.y.svc.cluster.local' only names ClusterIP Service y/web" in text
        assert "egress rule dot fqdn 'hl.y.svc.cluster.local.' ends with '.'" in text
        assert "egress rule ext fqdn '*.github.com' matches no name of the cluster's DNS" in text
        assert "rule ok" not in text
