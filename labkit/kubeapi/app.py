"""The ASGI application: Kubernetes REST paths -> :class:`.store.KubeStore`, answers in Kubernetes' shapes.

A thin translator (Starlette): it parses the request as kube-apiserver's ``RequestInfoFactory``
does (``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``: ``/api/v1`` or
``/apis/<group>/<version>``, then ``[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]``, with
``namespaces/<name>/status`` a subresource of the Namespace), authenticates, reads a bounded body,
calls the store off the event loop, and renders objects, Lists, Tables, watch streams and
``Status`` errors. Hostile input costs one error answer: bodies over 3 MiB (kube-apiserver's
request size limit for resources), nesting deeper than :data:`MAX_DEPTH`, bodies that arrive
slower than :data:`BODY_TIMEOUT_S` or YAML with anchors/aliases are refused before any work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from ..errors import LabkitError
from . import discovery, openapi, printers
from . import errors as E
from .resources import Resource, lookup
from .selectors import parse_field_selector, parse_label_selector
from .store import KubeStore, Watcher

log = logging.getLogger("labkit.kubeapi")

MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_DEPTH = 100
BODY_TIMEOUT_S = 30.0
TABLE_MARK = "as=Table"
BOOL_TRUE = ("1", "t", "T", "TRUE", "true", "True")


@dataclass
class RequestInfo:
    resource: Resource
    namespace: str
    name: str
    subresource: str


def _json(data: Any, status: int = 200, headers: dict | None = None, media_type: str = "application/json"
          ) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, headers=headers,
                    media_type=media_type)


def status_response(exc: E.StatusError) -> Response:
    return _json(exc.status(), exc.code)


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def decode_body(raw: bytes, content_type: str) -> Any:
    """JSON (or, for apply patches and YAML bodies, YAML without anchors/aliases), depth-checked."""
    text_type = content_type.split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise E.bad_request(f"the request body is not UTF-8: {exc}") from exc
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise E.bad_request(f"the request body nests deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        if text_type not in ("application/apply-patch+yaml", "application/yaml"):
            raise E.bad_request(f"the request body is not valid JSON: {exc}") from exc
        data = _safe_yaml(text)
    if not _depth_ok(data):
        raise E.bad_request(f"the request body nests deeper than {MAX_DEPTH} levels")
    return data


def _safe_yaml(text: str) -> Any:
    import yaml

    class _NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
            if self.check_event(yaml.AliasEvent):
                raise yaml.constructor.ConstructorError(None, None, "YAML aliases are not accepted",
                                                        self.peek_event().start_mark)
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader subclass
    except RecursionError as exc:
        raise E.bad_request(f"the request body nests deeper than {MAX_DEPTH} levels") from exc
    except yaml.YAMLError as exc:
        raise E.bad_request(f"the request body is not valid YAML: {exc}") from exc


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise E.too_large(MAX_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + BODY_TIMEOUT_S
    stream = request.stream().__aiter__()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise E.StatusError(408, "Timeout", f"the request body did not arrive within {BODY_TIMEOUT_S:g} s")
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), remaining)
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise E.StatusError(408, "Timeout", f"the request body did not arrive within {BODY_TIMEOUT_S:g} s") \
                from None
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise E.too_large(MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_path(path: str) -> tuple[str, Any]:
    """('resource', RequestInfo) | ('other', (kind, args))."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "other", ("root", ())
    if parts[0] == "version":
        return "other", ("version", ())
    if parts[0] in ("healthz", "livez", "readyz"):
        return "other", ("health", ())
    if parts[0] == "openapi":
        return "other", ("openapi", tuple(parts[1:]))
    if parts[0] == "api":
        if len(parts) == 1:
            return "other", ("api", ())
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis":
        if len(parts) == 1:
            return "other", ("apis", ())
        if len(parts) == 2:
            return "other", ("group", (parts[1],))
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise E.not_found_path()
    if not rest:
        return "other", ("resources", (group, version))
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 2 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    resource = lookup(group, version, rest[0])
    if resource is None or len(rest) > 3:
        raise E.not_found_path()
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and not (sub == "status" and resource.status_subresource) and not (sub == "exec" and resource.kind == "Pod"):
        raise E.not_found_path()
    if resource.namespaced and namespace == "" and name:
        raise E.not_found_path()  # a namespaced object needs /namespaces/<ns>/
    return "resource", RequestInfo(resource, namespace, name, sub)


class KubeApp:
    """The request handlers of one lab's endpoint."""

    def __init__(self, store: KubeStore, token: str, host: str) -> None:
        self.store = store
        self.token = token
        self.host = host

    def authenticated(self, headers: Any) -> bool:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), self.token.encode())

    async def handle(self, request: Request) -> Response:
        try:
            if not self.authenticated(request.headers):
                raise E.unauthorized()
            kind, info = parse_path(request.url.path)
            if kind == "other":
                return await self.other(request, *info)
            return await self.resource(request, info)
        except E.StatusError as exc:
            return status_response(exc)
        except LabkitError as exc:
            return status_response(E.StatusError(500, "InternalError", f"Internal error occurred: {exc}"))
        except Exception as exc:  # noqa: BLE001 - one bad request never stops the server
            log.exception("kube-apiserver: %s %s", request.method, request.url.path)
            return status_response(E.StatusError(500, "InternalError",
                                                 f"Internal error occurred: {type(exc).__name__}: {exc}"))

    # ------------------------------------------------------------------ discovery, version, openapi

    async def other(self, request: Request, kind: str, args: tuple) -> Response:
        if request.method != "GET":
            raise E.method_not_allowed()
        accept = request.headers.get("accept", "")
        if kind == "version":
            return _json(discovery.SERVER_VERSION)
        if kind == "health":
            return Response("ok", media_type="text/plain")
        if kind == "root":
            return _json({"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]})
        if kind in ("api", "apis"):
            if discovery.wants_aggregated(accept):
                return _json(discovery.aggregated(core=kind == "api"), media_type=discovery.AGGREGATED_TYPE)
            return _json(discovery.legacy_api(self.host) if kind == "api" else discovery.legacy_groups())
        if kind == "group":
            found = discovery.legacy_group(args[0])
            if found is None:
                raise E.not_found_path()
            return _json(found)
        if kind == "resources":
            found = discovery.resource_list(*args)
            if found is None:
                raise E.not_found_path()
            return _json(found)
        if kind == "openapi":
            if args[:1] != ("v3",):
                raise E.not_found_path()
            if len(args) == 1:
                return _json(openapi.discovery())
            gv = openapi.lookup("/".join(args[1:]))
            if gv is None:
                raise E.not_found_path()
            return Response(openapi.document_bytes(*gv), media_type="application/json",
                            headers={"Cache-Control": "public, immutable", "ETag": f'"{openapi.doc_hash(*gv)}"'})
        raise E.not_found_path()

    # ------------------------------------------------------------------ resources

    async def resource(self, request: Request, info: RequestInfo) -> Response:
        method, q = request.method, request.query_params
        r, ns, name = info.resource, info.namespace, info.name
        if info.subresource == "exec":
            raise E.StatusError(400, "BadRequest", "exec needs a WebSocket upgrade (v5.channel.k8s.io)")
        dry_run = q.get("dryRun") == "All"
        validation = q.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise E.bad_request(f'fieldValidation: Unsupported value: "{validation}": supported values: "Ignore", '
                                '"Strict", "Warn"')
        warnings: list[str] = []
        if method == "GET":
            if q.get("watch") in BOOL_TRUE:
                return await self.watch(request, info)
            if name:
                obj = await run_in_threadpool(self.store.get, r, ns, name)
                return self.render_objects(request, r, [obj], single=True)
            labels = parse_label_selector(q.get("labelSelector", ""))
            fields = parse_field_selector(q.get("fieldSelector", ""), r)
            items, rv = await run_in_threadpool(self.store.list, r, ns, labels, fields)
            return self.render_objects(request, r, items, rv=rv)
        if method == "POST":
            if name:
                raise E.method_not_allowed()
            self._allowed(r, "create")
            body = decode_body(await read_body(request), request.headers.get("content-type", ""))
            obj = await run_in_threadpool(self.store.create, r, ns, body, validation, dry_run, warnings)
            return _json(obj, 201, _warning_headers(warnings))
        if method == "PUT":
            if not name:
                raise E.method_not_allowed()
            self._allowed(r, "update")
            body = decode_body(await read_body(request), request.headers.get("content-type", ""))
            obj = await run_in_threadpool(self.store.update, r, ns, name, body, validation, dry_run, warnings,
                                          info.subresource)
            return _json(obj, 200, _warning_headers(warnings))
        if method == "PATCH":
            if not name:
                raise E.method_not_allowed()
            self._allowed(r, "patch")
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            body = decode_body(await read_body(request), content_type)
            force = q.get("force") in BOOL_TRUE
            obj, created = await run_in_threadpool(self.store.patch, r, ns, name, content_type, body,
                                                   q.get("fieldManager", ""), force, validation, dry_run, warnings,
                                                   info.subresource)
            return _json(obj, 201 if created else 200, _warning_headers(warnings))
        if method == "DELETE":
            self._allowed(r, "delete")
            raw = await read_body(request)
            options = decode_body(raw, "application/json") if raw.strip() else {}
            options = options if isinstance(options, dict) else {}
            dry_run = dry_run or options.get("dryRun") == ["All"]
            if not name:
                return await self.delete_collection(request, r, ns, dry_run)
            obj = await run_in_threadpool(self.store.delete, r, ns, name, options.get("preconditions"), dry_run)
            return _json(obj)
        raise E.method_not_allowed()

    @staticmethod
    def _allowed(r: Resource, verb: str) -> None:
        if verb not in r.verbs:
            raise E.method_not_allowed(f"{r.qualified} are computed by the lab and cannot be written (verbs: "
                                       f"{', '.join(r.verbs)})")

    async def delete_collection(self, request: Request, r: Resource, ns: str, dry_run: bool) -> Response:
        if "deletecollection" not in r.verbs:
            raise E.method_not_allowed()
        q = request.query_params
        labels = parse_label_selector(q.get("labelSelector", ""))
        fields = parse_field_selector(q.get("fieldSelector", ""), r)
        items, rv = await run_in_threadpool(self.store.list, r, ns, labels, fields)
        deleted = []
        for item in items:
            meta = item["metadata"]
            try:
                deleted.append(await run_in_threadpool(self.store.delete, r, meta.get("namespace", ""),
                                                       meta["name"], None, dry_run))
            except E.StatusError as exc:
                if exc.code != 404:
                    raise
        return _json(self.as_list(r, deleted, self.store.current_rv()))

    # ------------------------------------------------------------------ rendering

    @staticmethod
    def as_list(r: Resource, items: list[dict], rv: int) -> dict:
        return {"apiVersion": r.api_version, "kind": f"{r.kind}List", "metadata": {"resourceVersion": str(rv)},
                "items": items}

    def render_objects(self, request: Request, r: Resource, items: list[dict], single: bool = False,
                       rv: int | None = None) -> Response:
        rv = rv if rv is not None else self.store.current_rv()
        if TABLE_MARK in request.headers.get("accept", ""):
            include = request.query_params.get("includeObject", "Metadata")
            return _json(printers.table(r, items, rv, include),
                         media_type="application/json;as=Table;v=v1;g=meta.k8s.io")
        if single:
            return _json(items[0])
        return _json(self.as_list(r, items, rv))

    # ------------------------------------------------------------------ watch

    async def watch(self, request: Request, info: RequestInfo) -> Response:
        q = request.query_params
        r = info.resource
        labels = parse_label_selector(q.get("labelSelector", ""))
        fields = parse_field_selector(q.get("fieldSelector", ""), r)
        name = info.name or next((f.value for f in fields if f.field == "metadata.name" and f.equal), "")
        send_initial = q.get("sendInitialEvents") in BOOL_TRUE
        timeout = q.get("timeoutSeconds", "")
        timeout_s = float(timeout) if timeout.isdigit() else None
        loop = asyncio.get_running_loop()
        from .store import WATCH_QUEUE

        watcher = Watcher(r, info.namespace, name, labels, fields, loop, asyncio.Queue(maxsize=WATCH_QUEUE))
        first = await run_in_threadpool(self.store.watch, watcher, q.get("resourceVersion", ""), send_initial)
        as_table = TABLE_MARK in request.headers.get("accept", "")
        include = q.get("includeObject", "Metadata")
        store = self.store

        def encode(event: dict, headers: bool) -> bytes:
            obj = event["object"]
            if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                obj = printers.table(r, [obj], int(obj["metadata"].get("resourceVersion", "0") or 0), include,
                                     headers)
            return json.dumps({"type": event["type"], "object": obj}, separators=(",", ":")).encode() + b"\n"

        async def stream():
            headers = True
            deadline = loop.time() + timeout_s if timeout_s else None
            try:
                for event in first:
                    yield encode(event, headers)
                    headers = headers and event["type"] not in ("ADDED", "MODIFIED", "DELETED")
                    if event["type"] == "ERROR":
                        return
                while True:
                    wait = None if deadline is None else deadline - loop.time()
                    if wait is not None and wait <= 0:
                        return
                    try:
                        event = await asyncio.wait_for(watcher.queue.get(), wait)
                    except asyncio.TimeoutError:
                        return
                    if event is None:
                        return
                    yield encode(event, headers)
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        headers = False
                    if event["type"] == "ERROR":
                        return
            finally:
                store.unwatch(watcher)

        return StreamingResponse(stream(), media_type="application/json",
                                 headers={"Cache-Control": "no-cache, private"})


def _warning_headers(warnings: list[str]) -> dict | None:
    if not warnings:
        return None
    # One header per warning in the real server; Starlette joins duplicates, so send them comma-joined,
    # which RFC 7234 permits and client-go's ParseWarningHeaders reads.
    return {"Warning": ", ".join('299 - ' + json.dumps(w) for w in warnings)}


def build_app(store: KubeStore, token: str, host: str,
              exec_handler: Callable | None = None) -> Starlette:
    handler = KubeApp(store, token, host)
    routes: list = []
    if exec_handler is not None:
        routes.append(WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec",
                                     lambda ws: exec_handler(ws, handler)))
    routes.append(Route("/{path:path}", handler.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                                          "OPTIONS"]))
    return Starlette(routes=routes)


__all__ = ["build_app", "KubeApp", "parse_path", "decode_body", "MAX_BODY_BYTES", "MAX_DEPTH"]
