"""Flows on kind: the Flow Exporter / Flow Aggregator configs labkit writes, the collector path with
real IPFIX in the Flow Aggregator's format, and generate_traffic through the backend.

No cluster here (no Docker engine): the configs are checked against the pinned release's
documented fields (fixtures/antrea-agent.conf, fixtures/flow-aggregator.conf: excerpts of what
antrea.yml and flow-aggregator.yml ship); the Flow Aggregator's IPFIX is produced by labkit's own
Flow Aggregator exporter (templates 256/257 with the aggregator IEs 120-152, as Antrea's); the
Kubernetes API is the FakeApiServer (apiserver.py). The real path runs in the kind-e2e workflow.
"""

import json
import threading

import pytest
import yaml

from labkit import Lab
from labkit.backends.kind import KindBackend
from labkit.backends.kind.flows import (AGGREGATOR_MANIFEST, FLOW_AGGREGATOR_ADDR, AggregatedFlows, FlowCollector,
                                        FlowSettings, configure_aggregator, enable_flow_exporter, gateway_command,
                                        parse_collector, pick_gateway)
from labkit.flows.aggregator import FlowAggregator, ManualClock, pods_by_ip
from labkit.flows.records import AggregatedFlowRecord, FlowType, flow_record_template
from labkit.flows.transport import IPFIXExporter
from labkit.errors import UnsupportedOperation

from .apiserver import antrea_controller, kubelet
from .conftest import FIXTURES
from .test_kind_backend import IPS, cluster_runner, probe_answers

AGENT_CONF = (FIXTURES / "antrea-agent.conf").read_text()
AGGREGATOR_CONF = (FIXTURES / "flow-aggregator.conf").read_text()


def test_flow_exporter_is_enabled_as_antrea_documents():
    out = yaml.safe_load(enable_flow_exporter(AGENT_CONF, FlowSettings("172.18.0.1")))
    assert out["featureGates"] == {"FlowExporter": True}  # the gate (default off in the pinned release)
    assert out["flowExporter"] == {"enable": True, "flowCollectorAddr": "flow-aggregator/flow-aggregator:4739:tls",
                                   "flowPollInterval": "1s", "activeFlowExportTimeout": "2s",
                                   "idleFlowExportTimeout": "2s"}
    before = yaml.safe_load(AGENT_CONF)
    assert {k: v for k, v in out.items() if k not in ("featureGates", "flowExporter")} == {
        k: v for k, v in before.items() if k not in ("featureGates", "flowExporter")}  # nothing else changes
    assert FLOW_AGGREGATOR_ADDR == before["flowExporter"]["flowCollectorAddr"]  # the documented default target


def test_flow_aggregator_exports_ipfix_to_labkits_collector():
    out = yaml.safe_load(configure_aggregator(AGGREGATOR_CONF, FlowSettings("172.18.0.1", 4740)))
    assert out["flowCollector"] == {"enable": True, "address": "172.18.0.1:4740:udp", "recordFormat": "IPFIX",
                                    "templateRefreshTimeout": "600s"}
    assert (out["mode"], out["aggregatorTransportProtocol"]) == ("Aggregate", "tls")  # agents -> FA unchanged
    assert (out["activeFlowRecordTimeout"], out["inactiveFlowRecordTimeout"]) == ("5s", "4s")
    assert FlowSettings("fd00::1", 4739, "tcp").collector_address == "[fd00::1]:4739:tcp"
    assert AGGREGATOR_MANIFEST.format(version="v2.7.0") == (
        "https://github.com/antrea-io/antrea/releases/download/v2.7.0/flow-aggregator.yml")


def test_the_collector_address_is_an_explicit_opt_in():
    gateway = lambda: pick_gateway("172.18.0.1 fc00:f853:ccd:e793::1 ")  # noqa: E731 - kind's dual-stack network
    assert parse_collector("kind-gateway", gateway) == ("172.18.0.1", 4739)
    assert parse_collector("kind-gateway:4740", gateway) == ("172.18.0.1", 4740)
    assert parse_collector("10.0.0.5:9995", gateway) == ("10.0.0.5", 9995)
    assert parse_collector("[fd00::1]:4739", gateway) == ("fd00::1", 4739)
    with pytest.raises(ValueError, match="kind-gateway"):
        parse_collector("host:port", gateway)
    assert gateway_command() == ["docker", "network", "inspect", "kind", "--format",
                                 "{{range .IPAM.Config}}{{.Gateway}} {{end}}"]
    backend = KindBackend("lab", "/tmp/unused", flow_collector=None)
    backend.flow_collector = None
    with pytest.raises(UnsupportedOperation, match="flow_collector.*kind-gateway"):
        backend.flow_settings()


def test_collector_reads_the_flow_aggregators_ipfix(tmp_path):
    """Sim agents' records -> labkit's Flow Aggregator (Aggregate mode) exporting IPFIX over UDP, as
    Antrea's does to its flowCollector -> the kind backend's collector: same records, same flows."""
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "s")
    lab.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "deny-y", "namespace": "y"}, "spec": {"podSelector": {}, "ingress": []}})
    run = lab.generate_traffic(_profile(), duration_s=30, seed=3)
    with FlowCollector("127.0.0.1", 0, "udp") as collector:
        aggregator = FlowAggregator(clock=ManualClock(), collector=(*collector.address, "udp"),
                                    pods=pods_by_ip(lab.state.pods))
        aggregator.replay(run.exports)
        aggregator.close()
        sent = list(aggregator.exported)
        assert collector.wait_quiet(quiet_s=0.3, timeout_s=5) == len(sent) > 0
        got = AggregatedFlows([e.record for e in collector.take()])
    assert collector.errors == [] and got.exported == sent  # every IE round-trips
    assert all(isinstance(r, AggregatedFlowRecord) for r in got.exported)
    assert got.flows().equals(aggregator.flows())
    assert {r.verdict for r in got.exported} >= {"allow", "drop"}


def _profile():
    from labkit.flows.traffic import TrafficProfile, TrafficRule

    return TrafficProfile("t", (TrafficRule("x-to-y", "x/*", "y/*", 80, connections_per_minute=2),
                                TrafficRule("y-to-x", "y/*", "x/*", 80, connections_per_minute=2)))


# ---------------------------------------------------------------------------- through the backend


def _configmaps(api):
    api.put("/api/v1/namespaces/kube-system/configmaps/antrea-config", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "antrea-config", "namespace": "kube-system"},
        "data": {"antrea-agent.conf": AGENT_CONF, "antrea-controller.conf": "featureGates: {}\n"}})

    def flow_aggregator_yml(argv, _):  # what `kubectl apply -f flow-aggregator.yml` creates (the parts used)
        api.put("/api/v1/namespaces/flow-aggregator/configmaps/flow-aggregator-configmap", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "flow-aggregator-configmap", "namespace": "flow-aggregator"},
            "data": {"flow-aggregator.conf": AGGREGATOR_CONF}})
        api.put("/apis/apps/v1/namespaces/flow-aggregator/deployments/flow-aggregator", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "flow-aggregator", "namespace": "flow-aggregator", "generation": 1},
            "spec": {"replicas": 1}, "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                                                "availableReplicas": 1}})
        from labkit.backends.kind.tools import RawResult
        return RawResult(0, "namespace/flow-aggregator created\n")
    return flow_aggregator_yml


def test_generate_traffic_on_kind_returns_the_aggregators_records(tmp_path, sys_root, tools_on_path, apiserver,
                                                                 monkeypatch):
    monkeypatch.delenv("LABKIT_ANTREA_VERSION", raising=False)
    api = apiserver
    api.on_apply += [kubelet(IPS), antrea_controller]
    runner = cluster_runner()
    runner.on("flow-aggregator.yml", _configmaps(api))
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "state")
    backend = KindBackend("lab", lab.state_dir, runner=runner, sys_root=sys_root, kube=api.kube,
                          prefetch_dir=tmp_path / "none", flow_collector="127.0.0.1:0")
    backend.start(lab.state, lab.policy_set)
    settings = FlowSettings("127.0.0.1", 0, quiet_s=0.3)
    monkeypatch.setattr(backend, "flow_settings", lambda: settings)

    # Stand-in for Antrea: every connection the pods open is exported by "the Flow Aggregator"
    # (labkit's IPFIX exporter, Antrea's aggregated template) to wherever labkit's collector listens.
    template = flow_record_template(256, aggregated=True)
    lock = threading.Lock()

    def answer(ns, pod, container, command):
        verdict = probe_answers(ns, pod, container, command)
        dst_ip, port = command[2].split(":")
        rec = AggregatedFlowRecord(IPS[f"{ns}/{pod}"], dst_ip, 40000, int(port), 6, source_pod_name=pod,
                                   source_pod_namespace=ns, flow_type=int(FlowType.INTER_NODE),
                                   packet_total_count=3 if verdict[0] else 10,
                                   ingress_network_policy_rule_action=2 if verdict[0] else 0)
        with lock:
            collector = backend._test_collector_address  # noqa: SLF001 - set below
            with IPFIXExporter(*collector, protocol="udp", templates=[template]) as exporter:
                exporter.export([(template, rec.to_ipfix())])
        return verdict

    api.exec_handler = answer
    real_collector = __import__("labkit.backends.kind.backend", fromlist=["FlowCollector"]).FlowCollector

    class SpyCollector(real_collector):
        def start(self):
            super().start()
            backend._test_collector_address = self.address
            return self

    monkeypatch.setattr("labkit.backends.kind.backend.FlowCollector", SpyCollector)
    lab.backend, lab.running = backend, True  # the Lab facade dispatches to the backend's hook
    run = lab.generate_traffic(_profile(), duration_s=30, seed=1)
    assert run.connections and len(run.exports) == len(run.connections)
    assert {e.exporter for e in run.exports} == {"flow-aggregator"}
    flows = run.aggregate().flows()
    assert len(flows) == len(run.connections) and set(flows["sourcePodNamespace"]) == {"x", "y"}
    assert set(run.frame().columns) >= {"exporter", "sourceIP", "destinationIP", "verdict"}
    # The configs went out through the API, the Flow Aggregator manifest through kubectl apply.
    agent_conf = yaml.safe_load(api.objects["/api/v1/namespaces/kube-system/configmaps/antrea-config"]["data"][
        "antrea-agent.conf"])
    assert agent_conf["flowExporter"]["enable"] is True and agent_conf["featureGates"]["FlowExporter"] is True
    fa = yaml.safe_load(api.objects["/api/v1/namespaces/flow-aggregator/configmaps/flow-aggregator-configmap"][
        "data"]["flow-aggregator.conf"])
    assert fa["flowCollector"]["enable"] is True and fa["flowCollector"]["address"] == "127.0.0.1:0:udp"
    restarts = [b for m, p, _, b, ct in api.requests if ct == "application/strategic-merge-patch+json"]
    assert len(restarts) == 2 and all("kubectl.kubernetes.io/restartedAt" in json.dumps(b) for b in restarts)
    assert any(c.endswith("apply -f https://github.com/antrea-io/antrea/releases/download/v2.7.0/flow-aggregator.yml")
               for c in runner.commands)
