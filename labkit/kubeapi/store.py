"""The API face's view of one Lab: resourceVersions, watch history, and writes that go to the Lab.

The Lab is the one source of truth. :class:`KubeStore` renders the Lab's objects (:mod:`.render`)
and keeps only what the API adds: each object's uid, creationTimestamp, generation and
resourceVersion, a bounded history of changes for watches, the Traceflow requests, and the
configurations each server-side-apply manager applied. After every change of the Lab, whoever
made it (this API, ``Lab.apply`` in a notebook, a ``labkit`` command through the lab's owner),
the Lab calls :meth:`KubeStore.refresh`, which diffs the rendered objects against the previous
rendering and stamps every difference with the next resourceVersion, as etcd revisions do
(the minimal model of kubectl-api.md §3.3). Writes hold ``lab.lock`` from the
resourceVersion check to the Lab's change, so two clients can never both update from the same
version (optimistic concurrency: one gets 409 Conflict, nothing is lost).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConflictError, LabkitError, ManifestError, NotFoundError
from ..model.objects import ObjectRef
from ..model.traceflow import parse_traceflow
from ..model.yamlsrc import documents_from_data
from . import errors as E
from .patch import apply_merge, json_merge_patch, json_patch, strategic_merge_patch
from .render import Key, RenderContext, add_status, render_all
from .resources import RESOURCES, Resource, for_kind
from .selectors import FieldRequirement, matches

HISTORY = 2000  # watch events kept for "start at exact" watches; older ones answer 410 Expired
WATCH_QUEUE = 1000  # events buffered per watch; a client that falls this far behind is cut off
MAX_TRACEFLOWS = 100
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Meta:
    uid: str
    created: str
    rv: int = 0
    generation: int = 1


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: Key
    obj: dict
    prev: dict | None = None


@dataclass(eq=False)  # identity: each open watch is its own
class Watcher:
    """One open watch: what it selects and where its events go (an asyncio queue on the server's loop)."""

    resource: Resource
    namespace: str
    name: str
    labels: list
    fields: list[FieldRequirement]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    closed: bool = False

    def selects(self, key: Key, obj: dict | None) -> bool:
        if obj is None or key[0] != self.resource.group or key[1] != self.resource.kind:
            return False
        if self.namespace and key[2] != self.namespace:
            return False
        if self.name and key[3] != self.name:
            return False
        return matches(obj, self.labels, self.fields)

    def offer(self, event: dict | None) -> None:
        """Called on the loop: enqueue, or cut a client that stopped reading (None ends the stream)."""
        if self.closed:
            return
        if event is not None and self.queue.qsize() >= WATCH_QUEUE - 2:  # room for the ERROR and the end
            self.closed = True
            event = {"type": "ERROR", "object": E.StatusError(
                410, "Expired", "the watch fell too far behind; list again and watch from the new "
                                "resourceVersion").status()}
        try:
            self.queue.put_nowait(event)
            if self.closed:
                self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.closed = True


def new_uid() -> str:
    return str(uuid.uuid4())


def key_of(resource: Resource, namespace: str, name: str) -> Key:
    return (resource.group, resource.kind, namespace if resource.namespaced else "", name)


class KubeStore:
    """What the API server reads and writes. ``lab`` is a :class:`labkit.Lab` (its ``lock``,
    ``state``, ``policy_set``, ``apply``, ``delete``, ``traceflow``, change listeners)."""

    def __init__(self, lab: Any, run_traceflow: Callable[["KubeStore", Key, Any], Any] | None = None) -> None:
        self.lab = lab
        # The Traceflow controller (labkit.kubeapi.traceflow.run_in_background), handed in by the
        # server so that the store never imports the controllers that write into it.
        self.run_traceflow = run_traceflow
        self.lock: threading.RLock = lab.lock
        self.rv = 1
        self.meta: dict[Key, Meta] = {}
        self.content: dict[Key, dict] = {}
        self.objects: dict[Key, dict] = {}  # full objects as served (with server metadata)
        self.face: dict[Key, dict] = {}  # Traceflows
        self.history: deque[Event] = deque(maxlen=HISTORY)
        self.watchers: set[Watcher] = set()
        self.applied: dict[Key, dict[str, dict]] = {}  # server-side apply: manager -> last applied config
        self.listeners: list[Callable[[], None]] = []
        self.refresh()

    # ------------------------------------------------------------------ reading

    def current_rv(self) -> int:
        return self.rv

    def oldest_rv(self) -> int:
        return self.history[0].rv if self.history else self.rv

    def get(self, resource: Resource, namespace: str, name: str) -> dict:
        with self.lock:
            obj = self._all().get(key_of(resource, namespace, name))
            if obj is None:
                raise E.not_found(resource, name)
            return copy.deepcopy(obj)

    def list(self, resource: Resource, namespace: str, labels: list, fields: list[FieldRequirement]
             ) -> tuple[list[dict], int]:
        with self.lock:
            items = [copy.deepcopy(o) for k, o in sorted(self._all().items())
                     if k[0] == resource.group and k[1] == resource.kind and (not namespace or k[2] == namespace)
                     and matches(o, labels, fields)]
            return items, self.rv

    def _all(self) -> dict[Key, dict]:
        return {**self.objects, **self.face}

    # ------------------------------------------------------------------ the diff

    def refresh(self) -> None:
        """Bring the served objects up to date with the Lab (called after every change of it)."""
        with self.lock:
            ctx = RenderContext(self.lab.state, self.lab.policy_set)
            stamp = now()

            def since(key: Key) -> str:
                m = self.meta.get(key)
                return m.created if m else stamp

            rendered = render_all(ctx, since)
            events: list[Event] = []
            for key, (obj, content) in rendered.items():
                m = self.meta.get(key)
                old = self.content.get(key)
                if m is None:
                    m = self.meta[key] = Meta(new_uid(), stamp)
                elif old is not None and _spec_of(old) != _spec_of(content):
                    m.generation += 1
                ref = getattr(obj, "ref", None)
                if ref is not None and ref in ctx.state.objects:  # the model counts spec changes itself
                    m.generation = ctx.state.object_generation(ref)
                if obj is not None:
                    content = add_status(ctx, obj, content, m.generation, m.created)
                if old == content and m.rv:
                    continue
                self.rv += 1
                m.rv = self.rv
                self.content[key] = content
                full = self._with_meta(content, m)
                prev = self.objects.get(key)
                self.objects[key] = full
                events.append(Event(self.rv, "ADDED" if prev is None else "MODIFIED", key, full, prev))
            for key in [k for k in self.objects if k not in rendered]:
                self.rv += 1
                last = copy.deepcopy(self.objects.pop(key))
                last["metadata"]["resourceVersion"] = str(self.rv)
                self.content.pop(key, None)
                self.meta.pop(key, None)
                self.applied.pop(key, None)
                events.append(Event(self.rv, "DELETED", key, last, None))
            self._publish(events)
        for listener in list(self.listeners):
            listener()

    @staticmethod
    def _with_meta(content: dict, m: Meta) -> dict:
        full = copy.deepcopy(content)
        meta = full.setdefault("metadata", {})
        meta.update({"uid": m.uid, "resourceVersion": str(m.rv), "creationTimestamp": m.created})
        resource = for_kind(full.get("apiVersion", "").rpartition("/")[0], full.get("kind", ""))
        if resource is not None and (resource.is_crd or resource.kind == "Deployment"):
            meta["generation"] = m.generation
        return full

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            self.history.append(event)
        if not events:
            return
        for w in list(self.watchers):
            for event in events:
                now_in = w.selects(event.key, event.obj) and event.type != "DELETED"
                was_in = w.selects(event.key, event.prev) if event.prev is not None else False
                if event.type == "DELETED":
                    kind = "DELETED" if w.selects(event.key, event.obj) else None
                elif now_in and not was_in:
                    kind = "ADDED"  # started matching the selector (cacher convertToWatchEvent)
                elif was_in and not now_in:
                    kind = "DELETED"
                elif now_in:
                    kind = event.type
                else:
                    kind = None
                if kind is not None:
                    w.loop.call_soon_threadsafe(w.offer, {"type": kind, "object": event.obj})

    # ------------------------------------------------------------------ watch

    def watch(self, watcher: Watcher, resource_version: str, send_initial: bool) -> list[dict]:
        """Register ``watcher`` and return the events it starts with (kubectl-api.md §3.3, §3.5)."""
        with self.lock:
            first: list[dict] = []
            if resource_version in ("", "0") or send_initial:
                for key, obj in sorted(self._all().items()):
                    if watcher.selects(key, obj):
                        first.append({"type": "ADDED", "object": copy.deepcopy(obj)})
                if send_initial:
                    first.append({"type": "BOOKMARK", "object": {
                        "kind": watcher.resource.kind, "apiVersion": watcher.resource.api_version,
                        "metadata": {"resourceVersion": str(self.rv),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}})
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise E.bad_request(f"invalid resourceVersion {resource_version!r}: must be a number") from None
                if since < self.oldest_rv() - 1:
                    return [{"type": "ERROR", "object": E.StatusError(
                        410, "Expired", f"too old resource version: {since} ({self.oldest_rv() - 1})").status()}]
                for event in self.history:
                    if event.rv > since and (watcher.selects(event.key, event.obj)
                                             or (event.prev is not None and watcher.selects(event.key, event.prev))):
                        first.append({"type": event.type if watcher.selects(event.key, event.obj) else "DELETED",
                                      "object": event.obj})
            self.watchers.add(watcher)
            return first

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            self.watchers.discard(watcher)

    def close_watchers(self) -> None:
        with self.lock:
            for w in list(self.watchers):
                w.loop.call_soon_threadsafe(w.offer, None)
            self.watchers.clear()

    # ------------------------------------------------------------------ writes

    def create(self, resource: Resource, namespace: str, body: Any, validation: str = "Strict",
               dry_run: bool = False, warnings: list[str] | None = None) -> dict:
        body = _object_body(body)
        meta = body.setdefault("metadata", {}) if isinstance(body.get("metadata", {}), dict) else {}
        name = meta.get("name") if isinstance(meta.get("name"), str) else ""
        if not name and isinstance(meta.get("generateName"), str) and meta["generateName"]:
            name = meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        self._check_identity(resource, namespace, body, name)
        if resource.namespaced:
            meta["namespace"] = namespace
        with self.lock:
            if key_of(resource, namespace, name) in self._all():
                raise E.already_exists(resource, name)
            if resource.origin == "face":
                return self._create_traceflow(resource, body, dry_run)
            self._require_writable(resource)
            clean = _clean(body, keep_status=resource.kind == "Node")
            self._submit(resource, name, clean, validation, dry_run, warnings)
            return self._result(resource, namespace, name, clean, dry_run)

    def update(self, resource: Resource, namespace: str, name: str, body: Any, validation: str = "Strict",
               dry_run: bool = False, warnings: list[str] | None = None, subresource: str = "") -> dict:
        body = _object_body(body)
        self._check_identity(resource, namespace, body, name)
        with self.lock:
            key = key_of(resource, namespace, name)
            live = self._all().get(key)
            if live is None:
                raise E.not_found(resource, name)
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted not in (None, "") and str(wanted) != live["metadata"]["resourceVersion"]:
                raise E.conflict(resource, name)
            if subresource == "status":  # controllers own the status of the lab's objects
                return copy.deepcopy(live)
            if resource.origin == "face":
                return self._update_face(resource, key, live, body, dry_run)
            self._require_writable(resource)
            clean = self._carry_server_fields(resource, live, _clean(body, keep_status=resource.kind == "Node"))
            self._submit(resource, name, clean, validation, dry_run, warnings)
            return self._result(resource, namespace, name, clean, dry_run)

    def patch(self, resource: Resource, namespace: str, name: str, content_type: str, patch: Any,
              manager: str = "", force: bool = False, validation: str = "Strict", dry_run: bool = False,
              warnings: list[str] | None = None, subresource: str = "") -> tuple[dict, bool]:
        """Apply a patch; returns (object, created) (server-side apply creates missing objects)."""
        with self.lock:
            key = key_of(resource, namespace, name)
            live = self._all().get(key)
            if content_type == "application/apply-patch+yaml":
                if not manager:
                    raise E.invalid(resource, name, [("FieldValueRequired", "fieldManager",
                                                      "Required value: is required for apply patch")])
                if not isinstance(patch, dict):
                    raise E.bad_request("an apply patch must be one object (apiVersion, kind, metadata, ...)")
                self._check_identity(resource, namespace, patch, name)
                if live is None:
                    created = self.create(resource, namespace, patch, validation, dry_run, warnings)
                    if not dry_run:
                        self.applied.setdefault(key, {})[manager] = copy.deepcopy(patch)
                    return created, True
                managers = self.applied.setdefault(key, {})
                merged = apply_merge(resource.kind, live, patch, managers.get(manager),
                                     [c for m, c in managers.items() if m != manager])
                result = self.update(resource, namespace, name, _without_rv(merged), validation, dry_run, warnings,
                                     subresource)
                if not dry_run:
                    managers[manager] = copy.deepcopy(patch)
                return result, False
            if force:
                raise E.invalid(resource, name, [("FieldValueForbidden", "force",
                                                  "Forbidden: may not be specified for non-apply patch")])
            if live is None:
                raise E.not_found(resource, name)
            if content_type == "application/merge-patch+json":
                merged = json_merge_patch(live, patch)
            elif content_type == "application/json-patch+json":
                merged = json_patch(copy.deepcopy(live), patch)
            elif content_type == "application/strategic-merge-patch+json":
                if resource.is_crd:  # the CRD apiserver has no strategy for custom resources
                    raise E.unsupported_media_type(content_type, PATCH_TYPES_CRD)
                merged = strategic_merge_patch(resource.kind, live, patch)
            else:
                raise E.unsupported_media_type(content_type, PATCH_TYPES)
            if not isinstance(merged, dict):
                raise E.bad_request("the patched object is not a JSON object")
            rv = (merged.get("metadata") or {}).get("resourceVersion")
            if rv != live["metadata"]["resourceVersion"]:  # a patch that names a resourceVersion is a precondition
                if rv not in (None, ""):
                    raise E.conflict(resource, name)
            return self.update(resource, namespace, name, merged, validation, dry_run, warnings, subresource), False

    def delete(self, resource: Resource, namespace: str, name: str, preconditions: dict | None = None,
               dry_run: bool = False) -> dict:
        with self.lock:
            key = key_of(resource, namespace, name)
            live = self._all().get(key)
            if live is None:
                raise E.not_found(resource, name)
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != live["metadata"]["uid"]:
                raise E.conflict(resource, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                                 f"UID in object meta: {live['metadata']['uid']}")
            if pre.get("resourceVersion") and str(pre["resourceVersion"]) != live["metadata"]["resourceVersion"]:
                raise E.conflict(resource, name)
            if dry_run:
                return copy.deepcopy(live)
            if resource.origin == "face":
                self.rv += 1
                last = copy.deepcopy(self.face.pop(key))
                last["metadata"]["resourceVersion"] = str(self.rv)
                self._publish([Event(self.rv, "DELETED", key, last)])
                return last
            self._require_writable(resource)
            try:
                self.lab.delete(ObjectRef(resource.group, resource.kind, namespace if resource.namespaced else "",
                                          name))
            except ConflictError as exc:
                raise _webhook_denial(exc) from exc
            except NotFoundError as exc:
                raise E.not_found(resource, name) from exc
            return copy.deepcopy(live)

    # ------------------------------------------------------------------ helpers

    def _require_writable(self, resource: Resource) -> None:
        if resource.origin != "model":
            raise E.method_not_allowed(f"{resource.qualified} are computed by the lab from Services and Pods and "
                                       "cannot be written; change the Service or the Pods instead")

    @staticmethod
    def _check_identity(resource: Resource, namespace: str, body: dict, name: str) -> None:
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if kind not in (None, resource.kind) or api_version not in (None, resource.api_version):
            raise E.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                f"version ({resource.api_version}) and kind ({resource.kind})"
                                if api_version != resource.api_version else
                                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
        meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        if not name:
            raise E.invalid(resource, "", [("FieldValueRequired", "metadata.name",
                                            "Required value: name or generateName is required")])
        if meta.get("name") not in (None, name):
            raise E.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                                f"({name})")
        if resource.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise E.bad_request(f"the namespace of the provided object does not match the namespace sent on the "
                                f"request ({meta.get('namespace')} vs {namespace})")
        body.setdefault("apiVersion", resource.api_version)
        body.setdefault("kind", resource.kind)

    def _carry_server_fields(self, resource: Resource, live: dict, clean: dict) -> dict:
        """What the user cannot change through the main resource: a Pod keeps its Node and IP
        (pod updates may not change nodeName; status belongs to the kubelet)."""
        if resource.kind == "Pod":
            node = (live.get("spec") or {}).get("nodeName")
            spec = clean.get("spec") if isinstance(clean.get("spec"), dict) else None
            if node and spec is not None and not spec.get("nodeName"):
                spec["nodeName"] = node
            ip = (live.get("status") or {}).get("podIP")
            if ip:
                clean["status"] = {"podIP": ip}
        return clean

    def _submit(self, resource: Resource, name: str, clean: dict, validation: str, dry_run: bool,
                warnings: list[str] | None) -> None:
        """Hand one object to the Lab (``Lab.apply``: the model's validation and admission)."""
        for _ in range(2):
            try:
                if dry_run:
                    from ..model.manifest import load_manifest

                    self.lab.state.copy().apply(load_manifest(copy.deepcopy(clean)))
                else:
                    self.lab.apply(copy.deepcopy(clean))
                return
            except ManifestError as exc:
                unknown = [p for p in exc.problems if p.message.startswith("unknown field")]
                if validation in ("Ignore", "Warn") and unknown and len(unknown) == len(exc.problems):
                    for p in unknown:  # fieldValidation=Ignore|Warn: drop unknown fields, as the decoder does
                        _drop_path(clean, p.path)
                        if validation == "Warn" and warnings is not None:
                            warnings.append(f'unknown field "{p.path}"')
                    continue
                if unknown and validation == "Strict" and len(unknown) == len(exc.problems):
                    raise E.bad_request(
                        f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
                        "strict decoding error: " + ", ".join(
                            f'unknown field "{p.path}"' + (f" ({p.hint})" if p.hint else "") for p in unknown)) from exc
                raise E.from_manifest_error(resource, name, exc) from exc
            except ConflictError as exc:
                raise _webhook_denial(exc) from exc
            except LabkitError as exc:
                raise E.bad_request(str(exc)) from exc

    def _result(self, resource: Resource, namespace: str, name: str, clean: dict, dry_run: bool) -> dict:
        if dry_run:
            return clean
        self.refresh()
        return self.get(resource, namespace, name)

    # ------------------------------------------------------------------ Traceflow

    def _create_traceflow(self, resource: Resource, body: dict, dry_run: bool) -> dict:
        spec, problems = parse_traceflow(documents_from_data(body)[0])
        name = body["metadata"]["name"]
        if problems:
            raise E.from_manifest_error(resource, name, ManifestError(problems))
        if len(self.face) >= MAX_TRACEFLOWS:
            raise E.StatusError(429, "TooManyRequests", f"{len(self.face)} Traceflows exist; delete finished ones "
                                                        "('kubectl delete tf --all') before creating more")
        clean = _clean(body, keep_status=False)
        spec_body = clean.setdefault("spec", {})
        spec_body.setdefault("timeout", spec.timeout_s)
        if dry_run:
            return clean
        key = key_of(resource, "", name)
        self.rv += 1
        m = Meta(new_uid(), now(), self.rv)
        obj = self._with_meta(clean, m)
        self.face[key] = obj
        self.meta[key] = m
        self._publish([Event(self.rv, "ADDED", key, obj)])
        if self.run_traceflow is not None:
            self.run_traceflow(self, key, spec)
        return copy.deepcopy(obj)

    def _update_face(self, resource: Resource, key: Key, live: dict, body: dict, dry_run: bool) -> dict:
        clean = _clean(body, keep_status=False)
        if _spec_of(clean) != _spec_of(live):
            raise E.invalid(resource, key[3], [("FieldValueForbidden", "spec",
                                                "Forbidden: the spec of a Traceflow cannot be changed; delete it "
                                                "and create a new one")])
        if dry_run:
            return copy.deepcopy(live)
        merged = copy.deepcopy(live)
        merged["metadata"]["labels"] = (clean.get("metadata") or {}).get("labels") or {}
        merged["metadata"]["annotations"] = (clean.get("metadata") or {}).get("annotations") or {}
        return self.set_face(key, merged)

    def set_face(self, key: Key, obj: dict) -> dict:
        """Store a new version of a Traceflow (its status filled in by the trace)."""
        with self.lock:
            if key not in self.face:
                return obj
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            prev = self.face[key]
            self.face[key] = obj
            self._publish([Event(self.rv, "MODIFIED", key, obj, prev)])
            return copy.deepcopy(obj)


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")
PATCH_TYPES_CRD = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


def _spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _object_body(body: Any) -> dict:
    if not isinstance(body, dict):
        raise E.bad_request("the request body must be one JSON object (apiVersion, kind, metadata, spec)")
    return copy.deepcopy(body)


def _without_rv(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    (obj.get("metadata") or {}).pop("resourceVersion", None)
    return obj


def _clean(body: dict, keep_status: bool) -> dict:
    """The object as the Lab stores it: no server metadata, no status (controllers own it)."""
    clean = copy.deepcopy(body)
    meta = clean.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
        meta.pop("generateName", None)
        if meta.get("annotations") == {}:
            del meta["annotations"]
    if not keep_status:
        clean.pop("status", None)
    return clean


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _drop_path(obj: Any, path: str) -> None:
    parts = [(m.group(1), m.group(2)) for m in _PATH_PART.finditer(path)]
    for i, (key, index) in enumerate(parts):
        last = i == len(parts) - 1
        if index is not None:
            if not isinstance(obj, list) or int(index) >= len(obj):
                return
            if last:
                obj.pop(int(index))
                return
            obj = obj[int(index)]
        else:
            if not isinstance(obj, dict) or key not in obj:
                return
            if last:
                del obj[key]
                return
            obj = obj[key]


def _webhook_denial(exc: Exception) -> E.StatusError:
    # Antrea's validating webhook refuses with a Status without reason; the apiserver reports it as
    # 'admission webhook "<name>" denied the request: <message>' with code 400 (ToStatusErr).
    return E.StatusError(400, "BadRequest", f'admission webhook "labkit" denied the request: {exc}')


__all__ = ["KubeStore", "Watcher", "Event", "Meta", "RESOURCES"]
