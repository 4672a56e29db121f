"""The Kubernetes API boundary: every API call of the kind backend, through the official client.

``kubernetes`` (PyPI, the official Python client) is imported here and only here, late, so that
``import labkit`` and the sim path never need it. Every ``ApiException`` (and every transport
error) is translated at this one boundary into :class:`~labkit.errors.CommandError` carrying the
HTTP verb and path, the status code, the API server's message and how to fix it
(``raise ... from exc``).

What each call reproduces:

* :meth:`KubeClient.apply`: server-side apply (``PATCH`` with ``application/apply-patch+yaml``,
  ``fieldManager=labkit``, ``force=true``), the API the Kubernetes docs ("Server-Side Apply")
  give for declarative create-or-update; what ``kubectl apply --server-side`` sends. JSON is
  YAML, so the body is the object as JSON.
* :meth:`KubeClient.delete`: ``DELETE`` with ``propagationPolicy=Background``; a 404 is success
  (``kubectl delete --ignore-not-found``); ``wait=True`` polls until the object is gone
  (``kubectl delete --wait``).
* :meth:`KubeClient.wait_rollout`: the conditions ``kubectl rollout status`` checks
  (kubectl/pkg/polymorphichelpers/rollout_status.go): a Deployment is rolled out when
  ``status.observedGeneration >= metadata.generation``, ``updatedReplicas == spec.replicas``,
  ``replicas == updatedReplicas`` and ``availableReplicas == updatedReplicas``; a DaemonSet
  when ``observedGeneration >= generation``, ``updatedNumberScheduled == desiredNumberScheduled``
  and ``numberAvailable == desiredNumberScheduled``.
* :meth:`KubeClient.wait_pods_ready`: every selected Pod has the condition ``Ready=True``
  (``kubectl wait --for=condition=Ready``).
* :meth:`KubeClient.exec`: ``kubernetes.stream.stream(connect_get_namespaced_pod_exec, ...)``
  (the client's documented exec, over the ``v4.channel.k8s.io`` WebSocket subprotocol); the exit
  code is read from the error channel's Status (``WSClient.returncode``), as ``kubectl exec``
  does. ``stream`` swaps ``request`` on the ApiClient it is given for the duration of the call
  (kubernetes-client/python README: "stream will overwrite the requests protocol"; issue #928:
  concurrent calls on a shared client break), so every exec gets its own short-lived ApiClient:
  the probes run 16 execs at once next to ordinary REST calls.
* :meth:`KubeClient.watch`: ``kubernetes.watch.Watch().stream(...)`` on a list call with a
  field selector ``metadata.name=<name>`` and ``timeout_seconds`` (one request, no re-watch).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ...errors import CommandError, CommandFailure
from .workloads import not_ready

FIELD_MANAGER = "labkit"
APPLY_PATCH = "application/apply-patch+yaml"

# kind -> (group, version, plural, namespaced). Antrea v2 serves its CRDs as v1beta1.
KINDS: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("", "Namespace"): ("v1", "namespaces", False),
    ("", "Pod"): ("v1", "pods", True),
    ("", "Service"): ("v1", "services", True),
    ("", "ServiceAccount"): ("v1", "serviceaccounts", True),
    ("", "ConfigMap"): ("v1", "configmaps", True),
    ("", "Secret"): ("v1", "secrets", True),
    ("", "Node"): ("v1", "nodes", False),
    ("apps", "Deployment"): ("v1", "deployments", True),
    ("apps", "DaemonSet"): ("v1", "daemonsets", True),
    ("networking.k8s.io", "NetworkPolicy"): ("v1", "networkpolicies", True),
    ("crd.antrea.io", "NetworkPolicy"): ("v1beta1", "networkpolicies", True),
    ("crd.antrea.io", "ClusterNetworkPolicy"): ("v1beta1", "clusternetworkpolicies", False),
    ("crd.antrea.io", "Tier"): ("v1beta1", "tiers", False),
    ("crd.antrea.io", "ClusterGroup"): ("v1beta1", "clustergroups", False),
    ("crd.antrea.io", "Group"): ("v1beta1", "groups", True),
    ("crd.antrea.io", "Traceflow"): ("v1beta1", "traceflows", False),
}


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"crd.antrea.io/v1beta1"`` -> ``("crd.antrea.io", "v1beta1")``; ``"v1"`` -> ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def resource_path(group: str, kind: str, name: str = "", namespace: str = "", version: str = "") -> str:
    """The REST path of an object (or, without ``name``, of its collection; without ``namespace``
    a namespaced kind's collection is the all-namespaces one)."""
    try:
        default_version, plural, namespaced = KINDS[(group, kind)]
    except KeyError:
        raise ValueError(f"labkit does not know the REST path of {kind} in group {group or 'core'!r}; "
                         "add it to labkit.backends.kind.kube.KINDS") from None
    version = version or default_version
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespaced and namespace:
        base += f"/namespaces/{namespace}"
    return f"{base}/{plural}" + (f"/{name}" if name else "")


def object_path(obj: dict) -> str:
    group, version = split_api_version(obj.get("apiVersion", "v1"))
    meta = obj.get("metadata") or {}
    namespaced = KINDS.get((group, obj.get("kind", "")), ("", "", False))[2]
    return resource_path(group, obj["kind"], meta["name"], meta.get("namespace", "") if namespaced else "", version)


@dataclass(frozen=True)
class ExecResult:
    """What a command run with :meth:`KubeClient.exec` returned (as ``kubectl exec`` would)."""

    returncode: int
    stdout: str = ""
    stderr: str = ""


def _message(exc: Exception) -> tuple[int | None, str]:
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    text = ""
    if body:
        try:
            data = json.loads(body)
            text = data.get("message") or ""
        except (TypeError, ValueError):
            text = body.decode() if isinstance(body, bytes) else str(body)
    return status, text or getattr(exc, "reason", "") or str(exc)


class KubeClient:
    """The lab's API calls. ``kubeconfig``: a file (kind mode: ``<state>/kubeconfig``), else
    ``$KUBECONFIG``/``~/.kube/config``; ``context``: a context in it (k8s mode)."""

    def __init__(self, kubeconfig: str | os.PathLike | None = None, context: str | None = None, *,
                 request_timeout_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.kubeconfig = str(kubeconfig) if kubeconfig else None
        self.context = context
        self.request_timeout_s = request_timeout_s
        self._api: Any = None
        self.sleep, self.clock = sleep, clock

    # ------------------------------------------------------------------ the client itself

    @property
    def api(self) -> Any:
        """The ApiClient of ordinary REST calls (shared, created on first use)."""
        if self._api is None:
            self._api = self.new_api()
        return self._api

    def new_api(self) -> Any:
        """A new ApiClient from the kubeconfig (and context)."""
        try:
            from kubernetes import config
        except ImportError as exc:  # the kind extra is not installed
            raise CommandError("the Kubernetes Python client is not installed; fix: pip install 'labkit[kind]' "
                               "(or pip install kubernetes)") from exc
        where = self.kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        try:
            return config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
        except (config.ConfigException, OSError, TypeError, ValueError) as exc:
            raise CommandError(f"cannot load the kubeconfig {where}"
                               + (f" (context {self.context!r})" if self.context else "") + f": {exc}; fix: "
                               + ("check the context name with 'kubectl config get-contexts'" if self.context
                                  else "start the lab again (kind mode writes it) or set KUBECONFIG"),
                               CommandFailure(["kubeconfig", where], None, str(exc))) from exc

    def close(self) -> None:
        if self._api is not None:
            try:
                self._api.close()
            finally:
                self._api = None

    # ------------------------------------------------------------------ REST

    def request(self, method: str, path: str, *, query: list[tuple[str, Any]] | None = None, body: Any = None,
                content_type: str = "application/json", timeout_s: float | None = None, not_found_ok: bool = False,
                hint: str = "") -> dict | None:
        """One API request; the decoded JSON answer (``None`` for a tolerated 404)."""
        from kubernetes.client.exceptions import ApiException

        api = self.api
        shown = f"{method} {path}"
        try:
            resp = api.call_api(path, method, query_params=query or [],
                                header_params={"Accept": "application/json", "Content-Type": content_type},
                                body=body, auth_settings=["BearerToken"], _preload_content=False,
                                _return_http_data_only=True, _request_timeout=timeout_s or self.request_timeout_s)
        except ApiException as exc:
            status, text = _message(exc)
            if status == 404 and not_found_ok:
                return None
            raise CommandError(f"the Kubernetes API refused {shown}: {status} {text}"
                               + (f"\nfix: {hint}" if hint else _default_hint(status)),
                               CommandFailure([method, path], status, text)) from exc
        except Exception as exc:  # urllib3/socket errors: the API server is unreachable
            raise CommandError(f"cannot reach the Kubernetes API server for {shown}: {exc}; fix: is the cluster "
                               "running? ('kind get clusters', 'kubectl cluster-info')",
                               CommandFailure([method, path], None, str(exc))) from exc
        data = resp.data
        return json.loads(data) if data else {}

    def get(self, path: str, *, not_found_ok: bool = False, query: list[tuple[str, Any]] | None = None) -> dict | None:
        return self.request("GET", path, query=query, not_found_ok=not_found_ok)

    def list(self, group: str, kind: str, *, namespace: str = "", label_selector: str = "",
             field_selector: str = "") -> list[dict]:
        query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]
        return list((self.get(resource_path(group, kind, namespace=namespace), query=query) or {}).get("items", []))

    def apply(self, obj: dict, *, hint: str = "") -> dict:
        """Server-side apply of one object (create or update)."""
        return self.request("PATCH", object_path(obj), query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                            body=obj, content_type=APPLY_PATCH, hint=hint) or {}

    def patch(self, path: str, body: dict, *, hint: str = "") -> dict:
        """A strategic-merge patch (what ``kubectl patch`` and ``kubectl rollout restart`` send)."""
        return self.request("PATCH", path, body=body, content_type="application/strategic-merge-patch+json",
                            hint=hint) or {}

    def create(self, obj: dict, *, hint: str = "") -> dict:
        meta = obj.get("metadata") or {}
        group, version = split_api_version(obj.get("apiVersion", "v1"))
        namespaced = KINDS.get((group, obj["kind"]), ("", "", False))[2]
        path = resource_path(group, obj["kind"], namespace=meta.get("namespace", "") if namespaced else "",
                             version=version)
        return self.request("POST", path, body=obj, hint=hint) or {}

    def delete(self, obj: dict, *, wait: bool = False, timeout_s: float = 120.0) -> bool:
        """Delete one object (``obj`` needs apiVersion, kind, metadata.name[/namespace]); True if it
        existed. With ``wait``, return only when it is gone (finalizers run, Pods terminated)."""
        path = object_path(obj)
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        existed = self.request("DELETE", path, body=body, not_found_ok=True) is not None
        if existed and wait:
            self.wait_for(lambda: self.get(path, not_found_ok=True) is None, timeout_s,
                          f"{obj['kind']} {_name(obj)} to be deleted",
                          "an object stuck in Terminating has a finalizer; 'kubectl get -o yaml' shows it")
        return existed

    # ------------------------------------------------------------------ waits

    def wait_for(self, ready: Callable[[], bool | str], timeout_s: float, what: str, hint: str,
                 poll_s: float = 1.0) -> None:
        """Poll ``ready`` until it returns True. It may return a string: why it is not ready yet,
        quoted in the timeout error."""
        deadline = self.clock() + timeout_s
        why: bool | str = False
        while True:
            why = ready()
            if why is True:
                return
            if self.clock() >= deadline:
                raise CommandError(f"timed out after {timeout_s:g} s waiting for {what}"
                                   + (f": {why}" if isinstance(why, str) and why else "") + f"; fix: {hint}",
                                   CommandFailure(["wait", what], None, str(why), timeout_s))
            self.sleep(poll_s)

    def wait_rollout(self, kind: str, name: str, namespace: str, timeout_s: float, hint: str = "") -> None:
        """``kubectl rollout status <kind>/<name>`` (the conditions are in the module docstring)."""
        path = resource_path("apps", {"deployment": "Deployment", "daemonset": "DaemonSet"}[kind.lower()], name,
                             namespace)

        def done() -> bool | str:
            obj = self.get(path, not_found_ok=True)
            if obj is None:
                return f"{kind}/{name} does not exist in {namespace}"
            return rollout_complete(obj)

        self.wait_for(done, timeout_s, f"the rollout of {kind.lower()}/{name} in {namespace}",
                      hint or f"'kubectl -n {namespace} describe {kind.lower()} {name}'")

    def wait_pods_ready(self, label_selector: str, timeout_s: float, hint: str = "") -> None:
        """Every Pod matching ``label_selector`` (all namespaces) has ``Ready=True``."""
        def ready() -> bool | str:
            pods = {"items": self.list("", "Pod", label_selector=label_selector)}
            stuck = not_ready(pods)
            return True if not stuck else "not Ready: " + ", ".join(stuck)

        self.wait_for(ready, timeout_s, f"pods {label_selector} to be Ready",
                      hint or "'kubectl describe pod' shows why")

    # ------------------------------------------------------------------ exec and watch

    def exec(self, namespace: str, pod: str, container: str, command: list[str],
             timeout_s: float = 30.0) -> ExecResult:
        """Run ``command`` in a container and wait for it (``kubectl exec`` without a TTY)."""
        from kubernetes import client
        from kubernetes.stream import stream

        shown = f"exec {namespace}/{pod} -c {container} -- {' '.join(command)}"
        own = self.new_api()  # never the shared client: stream() patches the client it uses
        try:
            ws = stream(client.CoreV1Api(own).connect_get_namespaced_pod_exec, pod, namespace,
                        container=container, command=command, stderr=True, stdin=False, stdout=True, tty=False,
                        _preload_content=False, _request_timeout=timeout_s)
        except Exception as exc:  # ApiException (status 0: the upgrade failed) or a socket error
            own.close()
            status, text = _message(exc)
            raise CommandError(f"could not {shown}: {text}; fix: check the pod is Running "
                               f"('kubectl get pod -n {namespace} {pod}')",
                               CommandFailure(["exec", namespace, pod, container, *command], status, text)) from exc
        try:
            ws.run_forever(timeout=timeout_s)
            if ws.is_open():
                raise CommandError(f"timed out after {timeout_s:g} s: {shown}",
                                   CommandFailure(["exec", namespace, pod, container, *command], None, "", timeout_s))
            stdout, stderr = ws.read_stdout() or "", ws.read_stderr() or ""
            try:
                code = ws.returncode
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                code = -1  # no Status on the error channel: the connection broke
            return ExecResult(int(code if code is not None else -1), stdout, stderr)
        finally:
            ws.close()
            own.close()

    def watch(self, group: str, kind: str, name: str, timeout_s: float, namespace: str = "") -> Iterator[dict]:
        """Events ``{"type", "object"}`` for one object, until ``timeout_s`` (server side) runs out."""
        from kubernetes import client, watch
        from kubernetes.client.exceptions import ApiException

        version, plural, _ = KINDS[(group, kind)]
        custom = client.CustomObjectsApi(self.api)
        try:
            for event in watch.Watch().stream(custom.list_cluster_custom_object, group, version, plural,
                                              field_selector=f"metadata.name={name}",
                                              timeout_seconds=max(1, int(timeout_s))):
                yield event
        except ApiException as exc:
            status, text = _message(exc)
            raise CommandError(f"the Kubernetes API refused to watch {plural}.{group}/{name}: {status} {text}",
                               CommandFailure(["WATCH", resource_path(group, kind, name)], status, text)) from exc


def _name(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta.get("name", "")


def _default_hint(status: int | None) -> str:
    return {401: "\nfix: the kubeconfig's credentials are not accepted; export it again ('kind export kubeconfig')",
            403: "\nfix: the kubeconfig's user may not do this; labkit needs a cluster-admin-like role",
            404: "\nfix: the object or its kind does not exist; is Antrea installed (its CRDs)?",
            409: "\nfix: another field manager owns these fields; labkit applies with force=true, so retry",
            422: "\nfix: the API server (or Antrea's webhook) rejected a field; the message names it"}.get(status or 0, "")


def rollout_complete(obj: dict) -> bool | str:
    """``kubectl rollout status``'s verdict on a Deployment or DaemonSet: True, or why not yet."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return "waiting for the rollout to be observed"
    if obj.get("kind") == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) < desired:
            return f"{status.get('updatedNumberScheduled', 0)} of {desired} updated pods are scheduled"
        if status.get("numberAvailable", 0) < desired:
            return f"{status.get('numberAvailable', 0)} of {desired} updated pods are available"
        return True
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < replicas:
        return f"{updated} of {replicas} new replicas have been updated"
    if status.get("replicas", 0) > updated:
        return f"{status.get('replicas', 0) - updated} old replicas are pending termination"
    if status.get("availableReplicas", 0) < updated:
        return f"{status.get('availableReplicas', 0)} of {updated} updated replicas are available"
    return True


__all__ = ["KubeClient", "ExecResult", "KINDS", "resource_path", "object_path", "rollout_complete",
           "split_api_version", "FIELD_MANAGER"]
