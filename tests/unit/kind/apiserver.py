"""A small HTTP server on 127.0.0.1 that answers like the Kubernetes API for the calls labkit makes.

No kube-apiserver can run on the development machine (no Docker, no etcd), so the kind backend's
client layer is tested against this. It is not a simulation of Kubernetes: it stores the objects
it is sent and answers with the shapes the real API server uses (apiserver conventions: a ``List``
with ``metadata.resourceVersion`` and ``items``; a ``Status`` object for errors and deletes, with
``reason``/``code``/``message``; watch events as one JSON object per line ``{"type", "object"}``;
exec over WebSocket with the ``v4.channel.k8s.io`` subprotocol: each binary frame is one channel
byte (1 stdout, 2 stderr, 3 error = a ``Status``) followed by data, and the error channel's Status
carries the exit code as ``details.causes[{reason: ExitCode, message: "<code>"}]``).

What stands in for controllers is explicit and small (``on_apply`` hooks): a test decides, for
instance, that an applied Pod gets ``status.podIP`` and ``Ready=True`` (the kubelet's job) or that
an Antrea policy gets ``status.phase: Realized`` (antrea-controller's).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlparse

import yaml

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

PLURALS = frozenset({"namespaces", "pods", "services", "serviceaccounts", "configmaps", "secrets", "nodes",
                     "deployments", "daemonsets", "networkpolicies", "clusternetworkpolicies", "tiers",
                     "clustergroups", "groups", "traceflows"})

ExecHandler = Callable[[str, str, str, list], "tuple[int, str, str]"]


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _matches(labels: dict, selector: str) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeApiServer:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}  # object path -> object
        self.requests: list[tuple[str, str, dict, object, str]] = []  # method, path, query, body, content-type
        self.on_apply: list[Callable[[dict], None]] = []
        self.admission: list[Callable[[dict], "dict | None"]] = []  # a returned Status denies the request
        self.exec_handler: ExecHandler = lambda ns, pod, c, cmd: (0, "", "")
        self.watch_script: Callable[[dict], list[dict]] | None = None  # object -> its successive versions
        self._rv = itertools.count(1000)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> "FakeApiServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def kubeconfig(self, path: Path, context: str = "kind-labkit-lab") -> Path:
        """A kubeconfig (the shape ``kind create cluster`` writes) pointing at this server."""
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "users": [{"name": context, "user": {"token": "test-token"}}]}))
        return path

    # -- the store ---------------------------------------------------------------------------

    def put(self, path: str, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        old = self.objects.get(path)
        meta.setdefault("uid", (old or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2026-11-26T21:00:00Z")
        meta["resourceVersion"] = str(next(self._rv))
        meta.setdefault("generation", 1)
        self.objects[path] = obj
        return obj

    def made(self, method: str = "", prefix: str = "") -> list[tuple[str, str, dict, object, str]]:
        return [r for r in self.requests if (not method or r[0] == method) and r[1].startswith(prefix)]

    # -- HTTP --------------------------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                return json.loads(raw) if raw else None

            def _record(self, body=None):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with server._lock:
                    server.requests.append((self.command, url.path, query, body,
                                            self.headers.get("Content-Type", "")))
                return url.path, query

            def do_GET(self) -> None:
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    return self._exec()
                path, query = self._record()
                if query.get("watch", "").lower() in ("true", "1"):
                    return self._watch(path, query)
                if path in server.objects:
                    return self._send(200, server.objects[path])
                items = self._collection(path, query)
                if items is None:
                    name = path.rsplit("/", 1)[-1]
                    return self._send(404, status(404, "NotFound", f'"{name}" not found'))
                self._send(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "999"},
                                 "items": items})

            def _collection(self, path: str, query: dict):
                # /api/v1/pods (all namespaces) or /api/v1/namespaces/x/pods: a collection if any
                # stored object lives below it, or if it names a plural (empty list).
                parts = path.strip("/").split("/")
                plural = parts[-1]
                if plural not in PLURALS or (len(parts) >= 2 and parts[-2] == "namespaces"):
                    return None
                out = []
                for p, obj in sorted(server.objects.items()):
                    segs = p.strip("/").split("/")
                    if segs[-2] != plural or segs[:2] != parts[:2] or (segs[1] if segs[0] == "api" else segs[2]) \
                            != (parts[1] if parts[0] == "api" else parts[2]):
                        continue
                    if "namespaces" in parts and "/".join(parts[:-1]) not in p:
                        continue
                    labels = (obj.get("metadata") or {}).get("labels") or {}
                    if not _matches(labels, query.get("labelSelector", "")):
                        continue
                    fs = query.get("fieldSelector", "")
                    if fs.startswith("metadata.name=") and obj["metadata"]["name"] != fs.split("=", 1)[1]:
                        continue
                    out.append(obj)
                return out

            def do_PATCH(self) -> None:
                body = self._body()
                path, query = self._record(body)
                ctype = self.headers.get("Content-Type", "")
                if ctype == "application/strategic-merge-patch+json" and path in server.objects:
                    merged = _merge(copy.deepcopy(server.objects[path]), body)  # maps merge, like SMP for maps
                    return self._send(200, server.put(path, merged))
                if ctype != "application/apply-patch+yaml" or query.get("fieldManager") != "labkit":
                    return self._send(415, status(415, "UnsupportedMediaType", f"unsupported patch type {ctype}"))
                for review in server.admission:
                    denied = review(body)
                    if denied is not None:
                        return self._send(denied["code"], denied)
                old = server.objects.get(path)
                obj = copy.deepcopy(body)
                if old is not None and "status" in old:
                    obj.setdefault("status", old["status"])
                stored = server.put(path, obj)
                for hook in server.on_apply:
                    hook(stored)
                self._send(200 if old else 201, server.objects[path])

            def do_POST(self) -> None:
                body = self._body()
                path, _ = self._record(body)
                target = f"{path}/{body['metadata']['name']}"
                if target in server.objects:
                    return self._send(409, status(409, "AlreadyExists", f'"{body["metadata"]["name"]}" already exists'))
                self._send(201, server.put(target, body))

            def do_DELETE(self) -> None:
                body = self._body()
                path, _ = self._record(body)
                obj = server.objects.pop(path, None)
                if obj is None:
                    return self._send(404, status(404, "NotFound", f'"{path.rsplit("/", 1)[-1]}" not found'))
                self._send(200, obj)

            def do_PUT(self) -> None:
                body = self._body()
                path, _ = self._record(body)
                if path not in server.objects:
                    return self._send(404, status(404, "NotFound", "not found"))
                self._send(200, server.put(path, body))

            def _watch(self, path: str, query: dict) -> None:
                items = self._collection(path, query) or []
                events = []
                for obj in items:
                    versions = server.watch_script(obj) if server.watch_script else [obj]
                    for i, version in enumerate(versions):
                        events.append({"type": "ADDED" if i == 0 else "MODIFIED", "object": version})
                data = b"".join(json.dumps(e).encode() + b"\n" for e in events)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _exec(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                path = url.path
                with server._lock:
                    server.requests.append(("EXEC", path, {k: v for k, v in query.items()}, None, ""))
                parts = path.strip("/").split("/")  # api v1 namespaces ns pods name exec
                ns, pod = parts[3], parts[5]
                code, out, err = server.exec_handler(ns, pod, query.get("container", [""])[0], query.get("command", []))
                accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode())
                                          .digest()).decode()
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
                self.end_headers()
                frames = []
                if out:
                    frames.append(b"\x01" + out.encode())
                if err:
                    frames.append(b"\x02" + err.encode())
                st = {"metadata": {}, "status": "Success"} if code == 0 else {
                    "metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: "
                    f"error executing command [{' '.join(query.get('command', []))}], exit code {code}",
                    "reason": "NonZeroExitCode",
                    "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
                frames.append(b"\x03" + json.dumps(st).encode())
                for payload in frames:
                    self.wfile.write(_ws_frame(0x2, payload))
                self.wfile.write(_ws_frame(0x8, b"\x03\xe8"))  # close, 1000 normal
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _merge(into: dict, patch: dict) -> dict:
    for k, v in patch.items():
        into[k] = _merge(into.get(k) or {}, v) if isinstance(v, dict) else v
    return into


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server-to-client WebSocket frame (RFC 6455 §5.2)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


# ---------------------------------------------------------------------------- controller stand-ins


def kubelet(ips: dict[str, str]) -> Callable[[dict], None]:
    """Pods become Running and Ready with the given IPs (``ns/name -> ip``): the kubelet's part."""
    def hook(obj: dict) -> None:
        if obj.get("kind") != "Pod":
            return
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        obj["status"] = {"phase": "Running", "podIP": ips.get(key, ""), "podIPs": [{"ip": ips.get(key, "")}],
                         "conditions": [{"type": "Initialized", "status": "True"},
                                        {"type": "Ready", "status": "True"},
                                        {"type": "ContainersReady", "status": "True"},
                                        {"type": "PodScheduled", "status": "True"}]}
    return hook


def antrea_controller(obj: dict) -> None:
    """Antrea-native policies report ``status.phase: Realized`` (antrea-controller's NetworkPolicyStatus)."""
    if obj.get("apiVersion", "").startswith("crd.antrea.io/") and obj["kind"] in ("ClusterNetworkPolicy",
                                                                                  "NetworkPolicy"):
        obj["status"] = {"phase": "Realized", "observedGeneration": 1, "currentNodesRealized": 3,
                         "desiredNodesRealized": 3}


def antrea_workloads(server: FakeApiServer, agents: int = 3) -> None:
    """antrea.yml's controller Deployment and agent DaemonSet, rolled out (status as the apps
    controllers report it), and the controller Pod (labels as antrea.yml sets them)."""
    server.put("/apis/apps/v1/namespaces/kube-system/deployments/antrea-controller", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "antrea-controller", "namespace": "kube-system", "generation": 1,
                     "labels": {"app": "antrea", "component": "antrea-controller"}},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                   "availableReplicas": 1}})
    server.put("/apis/apps/v1/namespaces/kube-system/daemonsets/antrea-agent", {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "antrea-agent", "namespace": "kube-system", "generation": 1,
                     "labels": {"app": "antrea", "component": "antrea-agent"}},
        "spec": {"template": {"metadata": {"labels": {"app": "antrea", "component": "antrea-agent"}},
                              "spec": {"containers": [{"name": "antrea-agent",
                                                       "image": "antrea/antrea-agent-ubuntu:v2.7.0"},
                                                      {"name": "antrea-ovs",
                                                       "image": "antrea/antrea-agent-ubuntu:v2.7.0"}]}}},
        "status": {"observedGeneration": 1, "desiredNumberScheduled": agents, "currentNumberScheduled": agents,
                   "updatedNumberScheduled": agents, "numberReady": agents, "numberAvailable": agents}})
    server.put("/api/v1/namespaces/kube-system/pods/antrea-controller-6b5c9d7f4-x2x8q", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "antrea-controller-6b5c9d7f4-x2x8q", "namespace": "kube-system",
                     "labels": {"app": "antrea", "component": "antrea-controller"}},
        "spec": {"containers": [{"name": "antrea-controller"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
