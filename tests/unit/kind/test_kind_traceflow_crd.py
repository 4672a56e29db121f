"""traceflow.py: the CR we create (golden), parsing real-format `kubectl get traceflow -o json`,
and the create/poll/delete sequence against recorded responses (no cluster here)."""

import json

import pytest

from labkit.backends.kind.traceflow_crd import parse_traceflow, render_traceflow, run_traceflow
from labkit.policy.traceflow import Observation
from labkit.errors import CommandError, UnsupportedOperation
from labkit.policy.probe import Probe



def test_render_traceflow_cr():
    assert render_traceflow("labkit-lab-1", "x/a", "y/b", Probe("TCP", 80)) == {
        "apiVersion": "crd.antrea.io/v1beta1", "kind": "Traceflow",
        "metadata": {"name": "labkit-lab-1", "labels": {"app.kubernetes.io/managed-by": "labkit"}},
        "spec": {"source": {"namespace": "x", "pod": "a"}, "destination": {"namespace": "y", "pod": "b"},
                 "packet": {"ipHeader": {"protocol": 6}, "transportHeader": {"tcp": {"dstPort": 80, "flags": 2}}},
                 "timeout": 20}}
    udp = render_traceflow("t", "x/a", "y/b", Probe("UDP", 53, src_port=5353))["spec"]["packet"]
    assert udp == {"ipHeader": {"protocol": 17}, "transportHeader": {"udp": {"dstPort": 53, "srcPort": 5353}}}
    assert render_traceflow("t", "x/a", "y/b", Probe("ICMP", None))["spec"]["packet"] == {"ipHeader": {"protocol": 1}}
    with pytest.raises(UnsupportedOperation, match="SCTP"):
        render_traceflow("t", "x/a", "y/b", Probe("SCTP", 80))


def test_parse_inter_node_drop(fixture_json):
    tf = parse_traceflow(fixture_json("traceflow-dropped-ingress.json"))
    assert (tf.phase, tf.dataplane_tag, tf.source) == ("Succeeded", 7, "yelb/yelb-ui-6df49457d6-m5clv")
    assert [(r.role, len(r.observations)) for r in tf.results] == [("Sender", 2), ("Receiver", 2)]
    assert tf.results[0].observations[1] == Observation("Forwarding", "Forwarded", component_info="Output",
                                                        tunnel_dst_ip="10.13.82.39")
    last_node, last = tf.observations[-1]
    assert last_node.endswith("5r8gj") and tf.final_action == "Dropped"
    assert (last.component, last.component_info) == ("NetworkPolicy", "IngressMetric")
    assert last.network_policy == "AntreaClusterNetworkPolicy:9ae2599a-3bd3-4413-849e-06f53f467559"
    assert last.to_dict() == {"component": "NetworkPolicy", "componentInfo": "IngressMetric", "action": "Dropped",
                              "networkPolicy": "AntreaClusterNetworkPolicy:9ae2599a-3bd3-4413-849e-06f53f467559"}


def test_parse_intra_node_delivered_and_failed(fixture_json):
    tf = parse_traceflow(fixture_json("traceflow-delivered-intranode.json"))
    obs = [o for _, o in tf.observations]
    assert obs[0].src_pod_ip == "10.244.1.2" and obs[1].network_policy_rule == "allow-intra-x"
    assert obs[2].network_policy == "K8sNetworkPolicy:x/allow-from-x" and tf.final_action == "Delivered"
    failed = parse_traceflow(fixture_json("traceflow-failed.json"))
    assert (failed.phase, failed.reason, failed.results, failed.final_action) == (
        "Failed", "Traceflow timeout", (), "")


def test_run_traceflow_watches_and_always_deletes(fixture_json, apiserver):
    done = fixture_json("traceflow-delivered-intranode.json")
    running = json.loads(json.dumps(done))
    running["status"] = {"phase": "Running", "dataplaneTag": 11}
    cr = render_traceflow("labkit-lab-0b7d44aa", "x/a", "x/c", Probe("TCP", 80))
    # The API server sends the created CR, then the controller's updates (ADDED, MODIFIED ...).
    apiserver.watch_script = lambda obj: [obj, {**obj, "status": running["status"]}, {**obj, "status": done["status"]}]
    tf = run_traceflow(apiserver.kube, cr)
    assert tf.final_action == "Delivered" and tf.phase == "Succeeded"
    path = "/apis/crd.antrea.io/v1beta1/traceflows"
    assert [(m, p) for m, p, *_ in apiserver.requests if p.startswith(path)] == [
        ("POST", path), ("GET", path), ("DELETE", f"{path}/labkit-lab-0b7d44aa")]
    watch = apiserver.made("GET", path)[0][2]
    assert watch["watch"].lower() == "true" and watch["fieldSelector"] == "metadata.name=labkit-lab-0b7d44aa"
    assert int(watch["timeoutSeconds"]) == 30  # spec.timeout 20 + 10
    assert apiserver.made("POST", path)[0][3] == cr


def test_run_traceflow_gives_up_and_still_deletes(apiserver):
    apiserver.watch_script = lambda obj: [obj, {**obj, "status": {"phase": "Running"}}]  # then the watch ends
    with pytest.raises(CommandError, match="still Running after 30 s"):
        run_traceflow(apiserver.kube, render_traceflow("t", "x/a", "x/b", Probe("TCP", 80)))
    assert apiserver.requests[-1][:2] == ("DELETE", "/apis/crd.antrea.io/v1beta1/traceflows/t")
    assert "/apis/crd.antrea.io/v1beta1/traceflows/t" not in apiserver.objects
