"""``NSXClient``: a small NSX REST client over ``http.client`` (stdlib only).

Authenticates with HTTP Basic (``admin``) or a principal identity's client certificate, verifies
the manager against a CA file (labkit's lab CA), and translates every failure at this one
boundary: an NSX error answer becomes :class:`~labkit.nsx.manager.errors.NSXApiError` (status, error_code,
related_errors), a transport failure :class:`~labkit.nsx.manager.errors.NSXUnreachable`.

It works against the mock and, for the routes it uses, against a real NSX Manager. The helpers at
the end are what an interworking adapter needs: register a cluster, push inventory batches, read
its desired state, report status, realization and statistics.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from labkit.nsx.manager import paths
from labkit.nsx.manager.errors import CertificateError, NSXApiError, NSXError, NSXUnreachable

INVENTORY_BATCH_SIZE = 50  # mp-adapter.conf InventoryBatchSize default (nsx.md §1)
FLOW_RECORD_BATCH_SIZE = 1000  # labkit's: records per chunk of a flow report (the mock takes 5,000)


class NSXClient:
    """Talks to one NSX Manager at ``base_url`` (``https://127.0.0.1:8443``)."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        cert_path: str | Path | None = None,
        key_path: str | Path | None = None,
        ca_path: str | Path | None = None,
        verify: bool = True,
        timeout_s: float = 30.0,
        allow_overwrite: bool = False,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise NSXError(f"base_url {base_url!r} must look like https://host:port")
        self.base_url = base_url.rstrip("/")
        self._scheme = url.scheme
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self.timeout_s = timeout_s
        self.allow_overwrite = allow_overwrite
        self._headers = {"Accept": "application/json"}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._local = threading.local()
        self._all: set[http.client.HTTPConnection] = set()
        self._all_lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        if url.scheme == "https":
            try:
                ctx = ssl.create_default_context(cafile=str(ca_path) if ca_path else None)
                if cert_path:
                    ctx.load_cert_chain(str(cert_path), str(key_path) if key_path else None)
            except (OSError, ssl.SSLError) as exc:
                raise CertificateError(
                    f"cannot load TLS files (ca_path={ca_path}, cert_path={cert_path}, "
                    f"key_path={key_path}): {exc}"
                ) from exc
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl = ctx

    # -- generic ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Any:
        """One call; returns the decoded JSON answer (None when empty)."""
        target = quote(path, safe="/:@-._~!$&'()*+,;=")
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            target += "?" + urlencode(params)
        all_headers = dict(self._headers)
        if self.allow_overwrite:
            all_headers["X-Allow-Overwrite"] = "true"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        where = f"{method} {target}"
        try:
            status, raw = self._send(method, target, payload, all_headers)
        except (OSError, http.client.HTTPException) as exc:
            raise NSXUnreachable(
                f"NSX Manager {self.base_url} unreachable on {where}: {exc} (is it running? "
                "for TLS errors check ca_path and the client certificate)"
            ) from exc
        if status >= 400:
            raise NSXApiError.from_response(status, raw, where=where)
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise NSXApiError(status, f"answer is not JSON: {raw[:200]!r}", where=where) from exc

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query or None)

    def put(self, path: str, body: Any, **query: Any) -> Any:
        return self.request("PUT", path, body=body, query=query or None)

    def patch(self, path: str, body: Any, **query: Any) -> Any:
        return self.request("PATCH", path, body=body, query=query or None)

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return self.request("POST", path, body=body, query=query or None)

    def delete(self, path: str, **query: Any) -> Any:
        return self.request("DELETE", path, query=query or None)

    def list_all(self, path: str, *, page_size: int | None = None, **query: Any) -> list[dict[str, Any]]:
        """Every result of a list, following ``cursor`` until it is absent."""
        results: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get(path, page_size=page_size, cursor=cursor, **query)
            results += page.get("results", [])
            cursor = page.get("cursor")
            if not cursor:
                return results

    def _send(self, method: str, target: str, payload: bytes | None,
              headers: dict[str, str]) -> tuple[int, bytes]:
        """One exchange on this thread's keep-alive connection. A reused connection the server
        has meanwhile closed is replaced once (as urllib3 does); a fresh one is not retried."""
        conn = getattr(self._local, "conn", None)
        reused = conn is not None
        if conn is None:
            conn = self._local.conn = self._connection()
            with self._all_lock:
                self._all.add(conn)
        try:
            conn.request(method, target, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest,
                ssl.SSLEOFError, ssl.SSLZeroReturnError):
            conn.close()
            self._local.conn = None
            if not reused:
                raise
            return self._send(method, target, payload, headers)
        except BaseException:
            conn.close()
            self._local.conn = None
            raise
        if response.will_close:
            conn.close()
            self._local.conn = None
        return response.status, raw

    def close(self) -> None:
        """Close every keep-alive connection this client opened (in any thread)."""
        with self._all_lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> NSXClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout_s,
                                               context=self._ssl)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)

    # -- registration (nsx.md §2) ----------------------------------------------------------------
    def create_principal_identity(self, name: str, certificate_pem: str, *,
                                  role: str = "enterprise_admin") -> dict[str, Any]:
        """Admin step A: a PI named after the cluster, with its certificate."""
        return self.post(f"{paths.PRINCIPAL_IDENTITIES}/with-certificate", {
            "name": name, "node_id": name, "is_protected": True, "certificate_pem": certificate_pem,
            "roles_for_paths": [{"path": "/", "roles": [{"role": role}]}],
        })

    def register_cluster(self, cluster_name: str, certificate_pem: str) -> dict[str, Any]:
        """Step C (the register Job): PUT the ClusterControlPlane; answers it with ``node_id``."""
        path = paths.POLICY_API + paths.ccp_path(cluster_name)
        body: dict[str, Any] = {"resource_type": "ClusterControlPlane", "display_name": cluster_name,
                                "certificate": certificate_pem, "node_type": "ANTREA_NODE"}
        try:
            current = self.get(path)
        except NSXApiError as exc:
            if exc.status != 404:
                raise
        else:
            body["_revision"] = current["_revision"]
        return self.put(path, body)

    def deregister_cluster(self, cluster_name: str, *, cascade: bool = True) -> None:
        self.delete(paths.POLICY_API + paths.ccp_path(cluster_name), cascade=cascade)

    # -- the adapter's reports --------------------------------------------------------------------
    def push_inventory(self, cluster_id: str, updates: list[dict[str, Any]],
                       batch_size: int = INVENTORY_BATCH_SIZE) -> None:
        """Send ``{object_update_type, container_object}`` updates in batches."""
        for start in range(0, len(updates), batch_size):
            self.post(f"{paths.MP_API}/inventory/container/{cluster_id}",
                      {"container_inventory_objects": updates[start:start + batch_size]},
                      action="updates")

    def desired_state(self, cluster_name: str) -> dict[str, Any]:
        return self.get(f"{paths.LABKIT_API}{paths.ccp_path(cluster_name)}/desired-state")

    def report_cluster_status(self, cluster_name: str, info: dict[str, Any]) -> dict[str, Any]:
        return self.put(f"{paths.LABKIT_API}{paths.ccp_path(cluster_name)}/status", info)

    def report_realization(self, intent_path: str, status: str, *, cluster_name: str | None = None,
                           intent_version: str | None = None, errors: list[str] | None = None,
                           realization_specific_identifier: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"intent_path": intent_path, "status": status, "errors": errors or [],
                                "realization_specific_identifier": realization_specific_identifier}
        if cluster_name:
            body["enforcement_point_path"] = paths.ccp_path(cluster_name)
        if intent_version is not None:
            body["intent_version"] = intent_version
        return self.put(f"{paths.LABKIT_API}/realized-state/status", body)

    def report_rule_statistics(self, policy_id: str, cluster_name: str,
                               results: list[dict[str, Any]]) -> dict[str, Any]:
        return self.put(f"{paths.LABKIT_API}{paths.policy_path(policy_id)}/statistics",
                        {"container_cluster_path": paths.ccp_path(cluster_name), "results": results})

    def report_traceflow(self, traceflow_id: str, phase: str, observations: list[dict[str, Any]],
                         reason: str = "") -> dict[str, Any]:
        return self.put(f"{paths.LABKIT_API}{paths.traceflow_path(traceflow_id)}/result",
                        {"phase": phase, "reason": reason, "observations": observations})

    # -- flows (labkit's collector, docs/nsx-mock.md "Flows") --------------------------------------
    def report_flow_records(self, cluster_name: str, records: list[dict[str, Any]], *, label: str = "",
                            report_id: str | None = None,
                            batch_size: int = FLOW_RECORD_BATCH_SIZE) -> dict[str, Any]:
        """Send one report of flow records in numbered chunks; returns the last answer
        (``report_id``, ``report_record_count``). A chunk re-sent replaces itself."""
        path = f"{paths.LABKIT_API}{paths.ccp_path(cluster_name)}/flow-records"
        answer: dict[str, Any] = {}
        for chunk, start in enumerate(range(0, max(len(records), 1), batch_size)):
            body: dict[str, Any] = {"records": records[start:start + batch_size], "label": label, "chunk": chunk}
            if report_id is not None:
                body["report_id"] = report_id
            answer = self.post(path, body)
            report_id = answer["report_id"]
        return answer

    def flows(self, **filters: Any) -> list[dict[str, Any]]:
        """The NSX flow view's records (``container_cluster_id``, ``report_id``, ``source_group``,
        ``destination_group``, ``action``, ``flow_type`` ... filters)."""
        return self.list_all(f"{paths.LABKIT_API}/flows", **filters)

    def flow_summary(self, group_by: str, **filters: Any) -> dict[str, Any]:
        """Counts per ``group_by`` (cluster, namespace, group, service, rule, talker)."""
        return self.get(f"{paths.LABKIT_API}/flows/summary", group_by=group_by, **filters)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
