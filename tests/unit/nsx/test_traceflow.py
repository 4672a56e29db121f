"""Antrea traceflow requested through NSX and answered by the adapter."""

from __future__ import annotations

import pytest

from labkit.nsx.manager import NSXApiError

TF = "/policy/api/v1/infra/antrea/traceflows"


def _config(cluster, **overrides):
    body = {
        "container_cluster_id": cluster.node_id, "source_external_id": "pod-web-1",
        "destination_external_id": "pod-db-1", "is_transient": True,
        "packet": {"resource_type": "FIELDS_PACKET_DATA", "transport_type": "UNICAST",
                   "frame_size": 128, "ip_header": {"protocol": 6, "ttl": 64},
                   "transport_header": {"tcp_header": {"src_port": 0, "dst_port": 5432, "tcp_flags": 2}}},
    }
    body.update(overrides)
    return body


def test_traceflow_round_trip(shop, admin):
    tf = admin.put(f"{TF}/tf1", _config(shop))
    assert tf["resource_type"] == "AntreaTraceflowConfig" and tf["path"] == "/infra/antrea/traceflows/tf1"
    assert admin.get(f"{TF}/tf1/status")["phase"] == "RUNNING"
    shop.client.report_traceflow("tf1", "SUCCEEDED", [
        {"component_type": "ANTREA_SPOOFGUARD", "observation_type": "AntreaTraceflowObservationForwarded",
         "container_node_id": "node-1", "timestamp": 1},
        {"component_type": "ANTREA_DFW", "observation_type": "AntreaTraceflowObservationDropped",
         "container_node_id": "node-1", "timestamp": 2},
    ])
    assert admin.get(f"{TF}/tf1/status") == {"phase": "SUCCEEDED", "reason": ""}
    observations = admin.get(f"{TF}/tf1/observations")["results"]
    assert [o["component_type"] for o in observations] == ["ANTREA_SPOOFGUARD", "ANTREA_DFW"]
    assert admin.post(f"{TF}/tf1", action="rerun")["id"] == "tf1"
    assert admin.get(f"{TF}/tf1/status")["phase"] == "RUNNING"
    admin.delete(f"{TF}/tf1")
    assert admin.get(TF)["result_count"] == 0


def test_traceflow_validation(shop, admin):
    with pytest.raises(NSXApiError) as exc:
        admin.put(f"{TF}/bad", _config(
            shop, source_external_id="svc-web", destination_external_id="nothing",
            packet={"transport_type": "BROADCAST",
                    "transport_header": {"tcp_header": {"dst_port": 80, "tcp_flags": 16}}}))
    messages = "\n".join(e.error_message for e in exc.value.related_errors)
    assert "source_external_id 'svc-web' is not a pod" in messages
    assert "destination_external_id 'nothing'" in messages
    assert "UNICAST only" in messages and "must include SYN" in messages
    ok = _config(shop, destination_external_id=None)
    ok["packet"]["ip_header"]["dst_ip"] = "10.0.0.1"
    admin.put(f"{TF}/by-ip", ok)
    with pytest.raises(NSXApiError):
        admin.put(f"{TF}/x", _config(shop, container_cluster_id="unknown"))


def test_only_the_cluster_pi_reports_results(shop, register, admin):
    other = register("lab-cluster-2")
    admin.put(f"{TF}/tf1", _config(shop))
    with pytest.raises(NSXApiError) as exc:
        other.client.report_traceflow("tf1", "FAILED", [])
    assert exc.value.status == 403
