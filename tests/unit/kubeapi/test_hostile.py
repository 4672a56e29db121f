"""Hostile input answers with an error, and the endpoint keeps serving with bounded memory."""

import asyncio
import json
import resource
import socket
import ssl
import time

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.kubeapi import app as kubeapp
from labkit.kubeapi.store import WATCH_QUEUE, Watcher
from labkit.kubeapi.resources import for_kind

ACNP_PATH = "/apis/crd.antrea.io/v1beta1/clusternetworkpolicies"


class Endpoint:
    def __init__(self, lab):
        config = yaml.safe_load(lab.kubeconfig.read_text())
        self.url = config["clusters"][0]["cluster"]["server"]
        self.port = lab.kube_api.port
        self.token = config["users"][0]["user"]["token"]
        self.ca = str(lab.kube_api.directory / "ca.crt")
        self.session = requests.Session()
        self.session.verify = self.ca
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def __call__(self, method, path, **kwargs):
        return self.session.request(method, self.url + path, timeout=30, verify=self.ca, **kwargs)

    def healthy(self):
        return self("GET", "/api/v1/namespaces/x/pods/a").json()["metadata"]["name"] == "a"


@pytest.fixture()
def endpoint(lab):
    return Endpoint(lab)


def test_unauthenticated_is_401_status(endpoint):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {endpoint.token}"}):
        r = requests.get(endpoint.url + "/api/v1/pods", headers=headers, verify=endpoint.ca, timeout=10)
        assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
    assert endpoint.healthy()


def test_huge_body_is_413_and_nothing_is_stored(lab, endpoint):
    body = b'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"big","labels":{"a":"' + b"x" * (4 << 20) + b'"}}}'
    r = endpoint("POST", "/api/v1/namespaces", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["reason"] == "RequestEntityTooLarge"

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(5):
            yield b" " * (1 << 20)

    r = endpoint("POST", "/api/v1/namespaces", data=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert lab.state.namespace("big") is None and endpoint.healthy()


def test_deep_json_and_yaml_aliases_are_refused(endpoint):
    r = endpoint("POST", "/api/v1/namespaces", data="[" * 100000 + "]" * 100000,
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "deeper than" in r.json()["message"]
    nested = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "deep"}}
    inner = nested
    for _ in range(150):
        inner["x"] = {}
        inner = inner["x"]
    r = endpoint("POST", "/api/v1/namespaces", json=nested)
    assert r.status_code == 400
    bomb = "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20))
    r = endpoint("PATCH", ACNP_PATH + "/bomb?fieldManager=x", data=bomb,
                 headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 400 and "aliases" in r.json()["message"]
    assert endpoint.healthy()


def test_bad_patches(lab, endpoint):
    path = "/api/v1/namespaces/x/pods/a"
    cases = [("application/json-patch+json", {"op": "add"}, 400),
             ("application/json-patch+json", [{"op": "remove", "path": "/spec/nothing/here"}], 422),
             ("application/json-patch+json", [{"op": "frobnicate", "path": "/a"}], 400),
             ("application/json-patch+json", [{"op": "test", "path": "/a", "value": 1}] * 10001, 422),
             ("application/strategic-merge-patch+json", {"spec": {"$patch": "explode"}}, 400),
             ("application/strategic-merge-patch+json", [1, 2], 400),
             ("application/strategic-merge-patch+json", {"spec": {"containers": [{"image": "x"}]}}, 400),
             ("application/merge-patch+json", {"spec": {"containers": None}}, 422),
             ("application/merge-patch+json", "a string", 400),
             ("text/plain", {"a": 1}, 415)]
    for content_type, body, status in cases:
        r = endpoint("PATCH", path, data=json.dumps(body), headers={"Content-Type": content_type})
        assert r.status_code == status, (content_type, body, r.status_code, r.text[:300])
        assert r.json()["kind"] == "Status"
    r = endpoint("PATCH", ACNP_PATH + "/x", data="{}", headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code in (404, 415)
    assert lab.pod("x/a").labels == {"pod": "a"} and endpoint.healthy()


def test_slow_body_times_out_and_others_are_served(lab, endpoint, monkeypatch):
    monkeypatch.setattr(kubeapp, "BODY_TIMEOUT_S", 1.0)
    context = ssl.create_default_context(cafile=endpoint.ca)
    raw = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    slow = context.wrap_socket(raw, server_hostname="127.0.0.1")
    slow.sendall(f"POST /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {endpoint.token}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"apiVersion\"".encode())
    idle = [socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) for _ in range(10)]  # never talk
    assert endpoint.healthy()
    answer = b""
    while b'"code":408' not in answer:
        chunk = slow.recv(65536)
        if not chunk:
            break
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 408") and b'"reason":"Timeout"' in answer
    for s in idle + [slow]:
        s.close()
    assert endpoint.healthy()


def test_a_watch_that_is_not_read_is_cut_off():
    async def scenario():
        w = Watcher(for_kind("", "Pod"), "", "", [], [], asyncio.get_running_loop(), asyncio.Queue(WATCH_QUEUE))
        for i in range(WATCH_QUEUE * 3):
            w.offer({"type": "MODIFIED", "object": {"metadata": {"resourceVersion": str(i)}}})
        items = []
        while not w.queue.empty():
            items.append(w.queue.get_nowait())
        return w, items

    w, items = asyncio.run(scenario())
    assert w.closed and len(items) <= WATCH_QUEUE
    assert items[-2]["type"] == "ERROR" and items[-1] is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patch=st.recursive(st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=8),
                          lambda children: st.lists(children, max_size=4)
                          | st.dictionaries(st.sampled_from(["spec", "metadata", "priority", "ingress", "tier",
                                                             "action", "name", "labels", "$patch", "from", "x"]),
                                            children, max_size=4), max_leaves=20),
       content_type=st.sampled_from(["application/merge-patch+json", "application/json-patch+json",
                                     "application/apply-patch+yaml", "application/strategic-merge-patch+json"]))
def test_fuzzed_patches_never_break_the_server(lab, endpoint, patch, content_type):
    """Any patch: a 2xx or a 4xx Status, never a 5xx; the lab stays consistent with what is served."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = endpoint("PATCH", ACNP_PATH + "/fuzz?fieldManager=fuzz", data=json.dumps(patch),
                 headers={"Content-Type": content_type})
    assert r.status_code < 500, r.text[:500]
    assert r.json()["kind"] in ("Status", "ClusterNetworkPolicy")
    served = endpoint("GET", ACNP_PATH).json()["items"]
    assert [i["metadata"]["name"] for i in served] == [p.name for p in lab.state.antrea_policies]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_many_hostile_requests_keep_memory_bounded(endpoint):
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(200):
        endpoint("POST", "/api/v1/namespaces", data=b"{" * 5000, headers={"Content-Type": "application/json"})
        endpoint("GET", f"/api/v1/namespaces/x/pods?labelSelector=a%20in%20(b{i}")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100_000 and endpoint.healthy() and time.monotonic() - start < 120
