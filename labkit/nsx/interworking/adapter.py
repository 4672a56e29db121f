"""``NSXAdapter``: labkit's Antrea-NSX interworking adapter for one Lab.

It plays the ``register`` Job, the Management Plane adapter and the Central Control Plane adapter
of the product (nsx.md §1) against an NSX Manager (the mock, or any server speaking these APIs)::

    adapter = NSXAdapter(lab, admin_client, ca_path=server.ca_path)
    adapter.register()      # PI with a certificate (as admin), then everything with the certificate
    adapter.sync()          # one reconcile pass; or adapter.start() for a background loop
    adapter.deregister()    # cascade delete in NSX, NSX-managed objects removed from the lab

One :meth:`sync` pass, in order:

1. **inventory**: when ``lab.state.generation`` moved, the delta since the last report, in
   batches of 50 (``InventoryBatchSize``), through ``POST /api/v1/inventory/container/{id}?action=updates``;
2. **desired state**: ``GET /labkit/v1/.../cluster-control-planes/{name}/desired-state`` (the
   stand-in for the private NSX-RPC channel, nsx.md §10); when NSX or the lab changed, it is
   rendered (:mod:`.realize`) and compared with the lab: what is missing or differs is applied with
   one ``lab.apply`` (all or nothing), what NSX no longer wants is deleted. **NSX is the source of
   truth**: an NSX-managed object edited or deleted on the cluster side is overwritten or
   restored, and the event is recorded (Admin Guide: "edits made with kubectl are overwritten");
3. **realization** per policy and group (SUCCESS, or ERROR with the reasons) for the current
   ``_revision``, and **rule statistics** (:mod:`.statistics`) for every realized policy;
4. **traceflows** requested in NSX for this cluster and still RUNNING: traced in the lab,
   observations reported back;
5. **heartbeat**: controller, MP adapter and CCP adapter status (``mpAdapterStatus`` /
   ``ccpAdapterStatus``) at least every ``heartbeat_s`` and whenever health changes.

Flows: :meth:`report_flows` sends a traffic run's Flow Aggregator records to NSX (labkit's flow
collector) and, from then on, rule statistics count that traffic instead of a probe round
(:mod:`.flow_report`).

A policy NSX wants but the lab refuses is reported as a realization ERROR; its previously realized
version (if any) stays, as a rejected update leaves a Kubernetes object unchanged.

Threads: :meth:`start` runs :meth:`sync` every ``interval_s`` in a daemon thread until :meth:`stop`
(also on ``close()`` / leaving a ``with`` block). The Lab is not thread-safe: in a notebook prefer
calling :meth:`sync` after a change; the background loop is for demos that leave the lab alone.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.errors import LabkitError, ManifestError
from labkit.model.objects import ANTREA_GROUP, ObjectRef
from labkit.nsx.interworking import registration
from labkit.nsx.interworking.errors import AdapterError
from labkit.nsx.interworking.flow_report import (
    RuleKey,
    add_counters,
    records_from_frame,
    traffic_counters,
    traffic_statistics,
)
from labkit.nsx.interworking.inventory_report import (
    Inventory,
    cluster_object,
    external_id,
    inventory_objects,
    inventory_updates,
)
from labkit.nsx.interworking.realize import (
    INTENT_PATH_ANNOTATION,
    Rendering,
    groups_used,
    is_managed,
    manifest_key,
    render,
)
from labkit.nsx.interworking.rule_statistics import probes_for, rule_hits, statistics_results
from labkit.nsx.interworking.traceflow_runner import (
    TraceflowRequestError,
    observations,
    trace_request,
)
from labkit.nsx.manager import paths
from labkit.nsx.manager.certs import KeyType
from labkit.nsx.manager.client import INVENTORY_BATCH_SIZE, NSXClient

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from labkit.lab import Lab

HEARTBEAT_S = 30.0  # half the default report_interval (60 s): NSX marks UNKNOWN after 3 x interval
INTERVAL_S = 2.0
MAX_EVENTS = 500
ACNP = "AntreaClusterNetworkPolicy"


@dataclass(frozen=True)
class AdapterEvent:
    """Something the adapter did or noticed (``kubectl get events`` style)."""

    time: float
    kind: str  # registered | inventory | applied | updated | overwritten | restored | deleted |
    #            realization-error | traceflow | flows | deregistered | error
    subject: str  # ClusterNetworkPolicy/<uuid>, an NSX path, the cluster ...
    message: str

    def __str__(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.time))
        return f"{stamp} {self.kind:<17} {self.subject}: {self.message}"


@dataclass
class RealizedIntent:
    """How one NSX policy or group is realized in the lab."""

    intent_path: str
    intent_version: str
    status: str  # SUCCESS | ERROR
    errors: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()  # Kind/name of the Antrea objects realizing it


@dataclass
class SyncReport:
    """What one :meth:`NSXAdapter.sync` pass did."""

    inventory_updates: int = 0
    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    traceflows: list[str] = field(default_factory=list)
    statistics_reported: int = 0

    def __str__(self) -> str:
        parts = [f"{self.inventory_updates} inventory update(s)", f"{len(self.applied)} applied",
                 f"{len(self.deleted)} deleted"]
        for name in ("overwritten", "restored", "traceflows"):
            if getattr(self, name):
                parts.append(f"{len(getattr(self, name))} {name}")
        if self.errors:
            parts.append(f"{len(self.errors)} realization error(s)")
        return "sync: " + ", ".join(parts)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))


class NSXAdapter:
    """Connects one Lab to NSX as the Antrea-NSX interworking adapter does.

    ``nsx`` is an :class:`NSXClient` authenticated as an NSX admin (who creates the principal
    identity, step B of the procedure) or the manager's URL (then ``admin_password``). ``ca_path``
    is the manager's CA (``server.ca_path``); ``insecure=True`` skips verification like the
    product's default ``NSXInsecure: true``. The certificate and key live in ``cert_dir`` (default
    ``<lab.state_dir>/nsx-adapter``) so a restarted adapter is the same principal identity.
    """

    def __init__(self, lab: Lab, nsx: NSXClient | str, *, cluster_name: str | None = None,
                 ca_path: str | Path | None = None, admin_user: str = "admin",
                 admin_password: str | None = None, insecure: bool = False,
                 cert_dir: str | Path | None = None, key_type: KeyType = "rsa",
                 batch_size: int = INVENTORY_BATCH_SIZE, interval_s: float = INTERVAL_S,
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        self.lab = lab
        self.cluster_name = cluster_name or f"labkit-{lab.name}"
        self._owns_admin = isinstance(nsx, str)
        if isinstance(nsx, NSXClient):
            self.admin = nsx
        else:
            if admin_password is None:
                raise AdapterError("NSXAdapter(lab, url): pass admin_password= (the NSX admin creates the "
                                   "principal identity), or pass an NSXClient logged in as admin")
            self.admin = NSXClient(nsx, username=admin_user, password=admin_password, ca_path=ca_path,
                                   verify=not insecure)
        self.base_url = self.admin.base_url
        if self.base_url.startswith("https:") and ca_path is None and not insecure:
            raise AdapterError("NSXAdapter: pass ca_path= (the manager's CA certificate, e.g. server.ca_path) "
                               "to verify NSX, or insecure=True (the product's NSXInsecure: true)")
        self.ca_path = ca_path
        self.insecure = insecure
        self.cert_dir = Path(cert_dir) if cert_dir else Path(lab.state_dir) / "nsx-adapter"
        self.key_type: KeyType = key_type
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self.pi: NSXClient | None = None
        self.cluster_id: str | None = None
        self.events: deque[AdapterEvent] = deque(maxlen=MAX_EVENTS)
        self.realization: dict[str, RealizedIntent] = {}
        self.statistics: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reset()

    def _reset(self) -> None:
        self._inventory: Inventory = {}
        self._lab_generation = -1
        self._nsx_generation = -1
        self._applied: dict[str, dict[str, Any]] = {}  # Kind/name -> manifest last applied
        self._rendering: Rendering | None = None
        self._reported: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self._stats_key: tuple[int, int] | None = None
        self._health: dict[str, Any] | None = None
        self._last_heartbeat = 0.0
        # Rule statistics count traffic once flows were reported (flow_report.py); a probe round
        # stands in for them before (rule_statistics.py).
        self._traffic: dict[RuleKey, Counter[str]] = {}
        self._traffic_counted = False

    # ------------------------------------------------------------------ registration

    @property
    def registered(self) -> bool:
        return self.cluster_id is not None

    @property
    def ccp_path(self) -> str:
        return paths.ccp_path(self.cluster_name)

    def register(self) -> str:
        """Register the cluster (certificate, PI, ClusterControlPlane, ContainerCluster), install
        the NSX tiers and report the full inventory. Returns the cluster id (idempotent)."""
        with self._lock:
            if self.registered:
                return self.cluster_id  # type: ignore[return-value]
            if not self.base_url.startswith("https:"):
                raise AdapterError(f"NSX at {self.base_url} is plain HTTP: principal identities authenticate "
                                   "with client certificates, which need HTTPS (start the mock with TLS)")
            cert = registration.ensure_certificate(self.cluster_name, self.cert_dir, self.key_type)
            registration.ensure_principal_identity(self.admin, self.cluster_name, cert)
            self.pi = NSXClient(self.base_url, cert_path=cert.cert_path, key_path=cert.key_path,
                                ca_path=self.ca_path, verify=not self.insecure)
            ccp = self.pi.register_cluster(self.cluster_name, cert.cert_pem)
            self.cluster_id = str(ccp["node_id"])
            cluster = cluster_object(self.cluster_id, self.cluster_name, self.lab.state)
            registration.create_container_cluster(self.pi, cluster)
            self._record("registered", self.cluster_name,
                         f"cluster id {self.cluster_id}, principal identity {self.cluster_name} "
                         "(client certificate)")
            self._inventory = {**self._known_inventory(), self.cluster_id: cluster}
            self.sync()
            return self.cluster_id

    def deregister(self, *, delete_identity: bool = True) -> None:
        """What the deregister Job does: remove NSX-managed Antrea objects from the lab and the
        cluster from NSX (cascade); then, as admin, the principal identity and its certificate."""
        self.stop()
        with self._lock:
            managed = [obj for obj in self.lab.state.objects.values() if is_managed(getattr(obj, "raw", None))]
            if managed:
                self.lab.delete([copy.deepcopy(dict(o.raw)) for o in managed])
            if self.pi is not None:
                self.pi.deregister_cluster(self.cluster_name, cascade=True)
                self.pi.close()
            if delete_identity:
                registration.delete_principal_identity(self.admin, self.cluster_name)
            self._record("deregistered", self.cluster_name,
                         f"removed from NSX (cascade) and {len(managed)} NSX-managed object(s) from the lab")
            self.pi = None
            self.cluster_id = None
            self.realization.clear()
            self.statistics.clear()
            self._reset()

    # ------------------------------------------------------------------ the reconcile pass

    def sync(self) -> SyncReport:
        """One pass: inventory, desired state, realization, statistics, traceflows, heartbeat."""
        with self._lock:
            pi = self._require_pi()
            report = SyncReport()
            lab_changed = self.lab.state.generation != self._lab_generation
            if lab_changed:
                report.inventory_updates += self._push_inventory()
            desired = pi.desired_state(self.cluster_name)
            nsx_generation = int(desired.get("generation", 0))
            nsx_changed = nsx_generation != self._nsx_generation
            if nsx_changed or lab_changed:
                before = self.lab.state.generation
                self._realize(desired, report)
                if self.lab.state.generation != before:  # the ACNPs we applied are inventory too
                    report.inventory_updates += self._push_inventory()
                self._report_statistics(report, nsx_generation)
            if nsx_changed:
                self._run_traceflows(report)
            self._heartbeat()
            self._lab_generation = self.lab.state.generation
            self._nsx_generation = nsx_generation
            return report

    def report_flows(self, flows: pd.DataFrame, *, label: str = "") -> dict[str, Any]:
        """What the cluster's Flow Aggregator and NetworkPolicyStats give NSX for one traffic run:
        the flow records (``lab.flows(run)``) to NSX's flow view, as one report (labkit's
        collector, docs/nsx-mock.md), and rule statistics that count this traffic from now on
        (sessions, packets, bytes per NSX rule; flow_report.py). Returns the report
        (``report_id``, ``report_record_count``)."""
        with self._lock:
            pi = self._require_pi()
            answer = pi.report_flow_records(self.cluster_name, records_from_frame(flows), label=label)
            add_counters(self._traffic, traffic_counters(flows))
            self._traffic_counted = True
            self._record("flows", self.cluster_name,
                         f"report {answer['report_id']}: {answer['report_record_count']} flow record(s)"
                         + (f" ({label})" if label else ""))
            self._stats_key = None
            self._report_statistics(SyncReport(), self._nsx_generation)
            return answer

    def report_statistics(self) -> dict[str, list[dict[str, Any]]]:
        """Recompute and report rule statistics now; returns them by policy path."""
        with self._lock:
            self._require_pi()
            self._stats_key = None
            self._report_statistics(SyncReport(), self._nsx_generation)
            return dict(self.statistics)

    # -- 1. inventory
    def _push_inventory(self) -> int:
        assert self.pi is not None and self.cluster_id is not None
        current = inventory_objects(self.lab.state, self.cluster_id, self.cluster_name,
                                    agents_healthy=self.lab.running)
        updates = inventory_updates(self._inventory, current)
        if updates:
            self.pi.push_inventory(self.cluster_id, updates, batch_size=self.batch_size)
            counts: dict[str, int] = {}
            for u in updates:
                counts[u["object_update_type"]] = counts.get(u["object_update_type"], 0) + 1
            self._record("inventory", self.cluster_name,
                         ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        self._inventory = current
        return len(updates)

    def _known_inventory(self) -> Inventory:
        """What NSX already holds for this cluster (a restarted adapter diffs against it)."""
        assert self.pi is not None
        known: Inventory = {}
        for collection in ("container-cluster-nodes", "container-projects", "container-applications",
                           "container-application-instances", "container-network-policies"):
            for obj in self.pi.list_all(f"{paths.FABRIC}/{collection}", container_cluster_id=self.cluster_id):
                known[obj["external_id"]] = {"resource_type": obj["resource_type"], "external_id": obj["external_id"]}
        return known

    # -- 2. realization
    def _realize(self, desired: dict[str, Any], report: SyncReport) -> None:
        rendering = render(desired)
        wanted = {manifest_key(m): m for m in rendering.manifests}
        failed = dict(rendering.errors)
        to_apply = self._changes(wanted, report)
        if to_apply:
            failed.update(self._apply(to_apply, rendering, report))
        self._delete_stale(wanted, failed, report)
        self._rendering = rendering
        self._report_realization(desired, rendering, failed, report)

    def _changes(self, wanted: dict[str, dict[str, Any]], report: SyncReport) -> list[dict[str, Any]]:
        """Manifests that differ from the lab, noting cluster-side edits and deletions."""
        out = []
        for key, manifest in wanted.items():
            kind, _, name = key.partition("/")
            current = self.lab.state.objects.get(ObjectRef(ANTREA_GROUP, kind, "", name))
            last = self._applied.get(key)
            if current is None:
                if last is not None:
                    report.restored.append(key)
                    self._record("restored", key, "deleted on the cluster side; NSX is the source of truth")
                out.append(manifest)
            elif _canonical(current.raw) != _canonical(manifest):
                if last is not None and _canonical(current.raw) != _canonical(last):
                    report.overwritten.append(key)
                    self._record("overwritten", key, "edited on the cluster side; restored from NSX "
                                 f"(the edit changed {_changed_fields(last, current.raw)})")
                out.append(manifest)
        return out

    def _apply(self, manifests: list[dict[str, Any]], rendering: Rendering,
               report: SyncReport) -> dict[str, list[str]]:
        """``lab.apply`` the batch; on refusal, drop the intents at fault and apply the rest once."""
        failed: dict[str, list[str]] = {}
        batch = manifests
        for _attempt in range(2):
            try:
                self.lab.apply(copy.deepcopy(batch))
            except ManifestError as exc:
                blamed = self._blame(exc, batch, rendering)
                for path, problems in blamed.items():
                    failed.setdefault(path, []).extend(problems)
                batch = [m for m in batch if rendering.owners.get(manifest_key(m)) not in failed
                         and not _uses_failed(m, rendering, failed)]
                continue
            for m in batch:
                key = manifest_key(m)
                if key not in report.overwritten and key not in report.restored:
                    self._record("updated" if key in self._applied else "applied", key,
                                 rendering.owners.get(key, "NSX category tier"))
                self._applied[key] = m
                report.applied.append(key)
            return failed
        for m in batch:  # refused twice: give up on this pass, report every intent of the batch
            path = rendering.owners.get(manifest_key(m))
            if path:
                failed.setdefault(path, ["the cluster refused the NSX-managed objects; see the other errors"])
        return failed

    def _blame(self, exc: ManifestError, batch: list[dict[str, Any]],
               rendering: Rendering) -> dict[str, list[str]]:
        blamed: dict[str, list[str]] = {}
        for problem in exc.problems:
            path = rendering.owners.get(f"{problem.kind}/{problem.name}")
            targets = [path] if path else [p for m in batch if (p := rendering.owners.get(manifest_key(m)))]
            for target in dict.fromkeys(targets):
                blamed.setdefault(target, []).append(str(problem))
        if not blamed:  # only tiers in the batch: nothing NSX-side to blame but the cluster
            for path in set(rendering.owners.values()):
                blamed[path] = [str(p) for p in exc.problems]
        return blamed

    def _delete_stale(self, wanted: dict[str, dict[str, Any]], failed: dict[str, list[str]],
                      report: SyncReport) -> None:
        stale = []
        for obj in self.lab.state.objects.values():
            raw = getattr(obj, "raw", None)
            if not is_managed(raw) or obj.ref.kind == "Tier":
                continue
            key = f"{obj.ref.kind}/{obj.ref.name}"
            intent = ((raw.get("metadata") or {}).get("annotations") or {}).get(INTENT_PATH_ANNOTATION)
            if key not in wanted and intent not in failed:  # keep the last good version of a failure
                stale.append(obj)
        if not stale:
            return
        self.lab.delete([copy.deepcopy(dict(o.raw)) for o in stale])
        for obj in stale:
            key = f"{obj.ref.kind}/{obj.ref.name}"
            self._applied.pop(key, None)
            report.deleted.append(key)
            self._record("deleted", key, "no longer wanted by NSX")

    def _report_realization(self, desired: dict[str, Any], rendering: Rendering,
                            failed: dict[str, list[str]], report: SyncReport) -> None:
        assert self.pi is not None
        unrealizable = self.lab.policy_set.unrealizable
        objects: dict[str, list[str]] = {}
        for key, path in rendering.owners.items():
            objects.setdefault(path, []).append(key)
        versions = {x["path"]: str(x.get("_revision", 0))
                    for x in [*(desired.get("security_policies") or []), *(desired.get("groups") or [])]}
        self.realization = {}
        # NSX forgets the reports about a deleted object: a re-created one must be reported again.
        self._reported = {p: v for p, v in self._reported.items() if p in versions}
        for path, version in versions.items():
            errors = list(failed.get(path, []))
            for key in objects.get(path, []):
                why = unrealizable.get(f"{ACNP}:{key.partition('/')[2]}")
                if key.startswith("ClusterNetworkPolicy/") and why:
                    errors.append(why)
            status = "ERROR" if errors else "SUCCESS"
            if errors:
                report.errors[path] = errors
            record = RealizedIntent(path, version, status, tuple(errors), tuple(objects.get(path, [])))
            self.realization[path] = record
            cache = (record.intent_version, status, record.errors)
            if self._reported.get(path) == cache:
                continue
            self.pi.report_realization(path, status, cluster_name=self.cluster_name,
                                       intent_version=record.intent_version, errors=errors,
                                       realization_specific_identifier=",".join(record.objects))
            self._reported[path] = cache
            if errors:
                self._record("realization-error", path, "; ".join(errors))

    # -- 3. statistics
    def _report_statistics(self, report: SyncReport, nsx_generation: int) -> None:
        key = (self.lab.state.generation, nsx_generation)
        if self._stats_key == key or self._rendering is None or not self.lab.running:
            return
        assert self.pi is not None
        realized = {name: policy for name, policy in self._rendering.policies.items()
                    if (r := self.realization.get(policy["path"])) is not None and r.status == "SUCCESS"}
        if not self._traffic_counted:
            acnps = [m for m in self._rendering.manifests
                     if m["kind"] == "ClusterNetworkPolicy" and m["metadata"]["name"] in realized]
            hits = rule_hits(self.lab, set(realized), probes_for(self.lab, acnps))
        self.statistics = {}
        for name, policy in realized.items():
            if self._traffic_counted:
                results = traffic_statistics(policy, name, self._traffic)
            else:
                results = statistics_results(policy, name, hits)
            self.pi.report_rule_statistics(policy["id"], self.cluster_name, results)
            self.statistics[policy["path"]] = results
            report.statistics_reported += 1
        self._stats_key = key

    # -- 4. traceflows
    def _run_traceflows(self, report: SyncReport) -> None:
        assert self.pi is not None and self.cluster_id is not None
        pending = [tf for tf in self.pi.list_all(f"{paths.POLICY_API}{paths.TRACEFLOWS}")
                   if tf.get("container_cluster_id") == self.cluster_id]
        for tf in pending:
            base = f"{paths.POLICY_API}{paths.traceflow_path(tf['id'])}"
            if self.pi.get(f"{base}/status").get("phase") != "RUNNING":
                continue
            phase, reason, found = self._trace(tf)
            self.pi.report_traceflow(tf["id"], phase, found, reason=reason)
            report.traceflows.append(tf["id"])
            self._record("traceflow", tf["path"], f"{phase}{': ' + reason if reason else ''}")

    def _trace(self, config: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
        assert self.cluster_id is not None
        cid = self.cluster_id
        names = {external_id(cid, "Pod", p.namespace, p.name): f"Pod:{p.key}" for p in self.lab.state.pods}
        names.update({external_id(cid, "Service", s.namespace, s.name): f"Service:{s.namespace}/{s.name}"
                      for s in self.lab.state.services})
        node_ids = {n.name: external_id(cid, "Node", "", n.name) for n in self.lab.state.nodes}
        try:
            request = trace_request(config, self.lab.state, names)
            trace = self.lab.traceflow(request.source, request.destination, port=request.port,
                                       protocol=request.protocol)
        except (TraceflowRequestError, LabkitError, ValueError) as exc:
            return "FAILED", str(exc), []
        reason = "; ".join(x for x in (request.note, trace.reason) if x)
        phase = "SUCCEEDED" if trace.phase == "Succeeded" else "FAILED"
        return phase, reason, observations(trace, node_ids)

    # -- 5. heartbeat
    def health(self) -> dict[str, Any]:
        """The AntreaClusterInfo components as the adapter reports them (nsx.md §2.5)."""
        nodes = len(self.lab.state.nodes)
        running = self.lab.running
        errors = {p: r.errors for p, r in self.realization.items() if r.status == "ERROR"}
        ccp_conditions = [{"type": "RealizationSucceeded", "status": "FALSE" if errors else "TRUE",
                           "reason": "RealizationError" if errors else "",
                           "message": f"{len(errors)} intent(s) failed: {', '.join(sorted(errors))}" if errors else ""}]
        return {
            "controller_status": {"status": "HEALTHY" if running else "FAILED",
                                  "connected_agent_num": nodes if running else 0, "conditions": []},
            "mp_adapter_status": {"status": "HEALTHY", "conditions": []},
            "ccp_adapter_status": {"status": "DEGRADED" if errors else "HEALTHY", "conditions": ccp_conditions},
            "agent_info": {"healthy_agent_num": nodes if running else 0, "degraded_agent_num": 0,
                           "failed_agent_num": 0 if running else nodes},
        }

    def _heartbeat(self, force: bool = False) -> None:
        assert self.pi is not None
        health = self.health()
        now = time.monotonic()
        if force or health != self._health or now - self._last_heartbeat >= self.heartbeat_s:
            self.pi.report_cluster_status(self.cluster_name, health)
            self._health = health
            self._last_heartbeat = now

    # ------------------------------------------------------------------ views

    def status(self) -> dict[str, Any]:
        """The cluster as NSX sees it (``GET .../cluster-control-planes/{name}/status``)."""
        return self._require_pi().get(f"{paths.POLICY_API}{self.ccp_path}/status")

    def acnp_name(self, policy_id: str) -> str:
        """The ClusterNetworkPolicy realizing NSX policy ``policy_id`` (its ``unique_id``)."""
        path = paths.policy_path(policy_id)
        for key in (self.realization.get(path) or RealizedIntent(path, "", "")).objects:
            if key.startswith("ClusterNetworkPolicy/"):
                return key.partition("/")[2]
        raise AdapterError(f"NSX policy {policy_id!r} is not realized in lab {self.lab.name!r}: is it applied "
                           f"to {self.ccp_path} and did adapter.sync() run?")

    def __repr__(self) -> str:
        state = f"cluster_id={self.cluster_id}" if self.registered else "not registered"
        return f"<NSXAdapter {self.cluster_name!r} lab={self.lab.name!r} {state} nsx={self.base_url}>"

    # ------------------------------------------------------------------ background loop

    def start(self, interval_s: float | None = None) -> NSXAdapter:
        """Run :meth:`sync` every ``interval_s`` in a daemon thread (errors become events)."""
        self._require_pi()
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        period = interval_s if interval_s is not None else self.interval_s
        self._thread = threading.Thread(target=self._loop, args=(period,), daemon=True,
                                        name=f"nsx-adapter:{self.cluster_name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background loop (idempotent); waits for a pass in progress."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - a loop must survive; the event says what failed
                self._record("error", self.cluster_name, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stop the loop and close the connections (stays registered in NSX)."""
        self.stop()
        if self.pi is not None:
            self.pi.close()
        if self._owns_admin:
            self.admin.close()

    def __enter__(self) -> NSXAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    def _require_pi(self) -> NSXClient:
        if self.pi is None:
            raise AdapterError(f"cluster {self.cluster_name!r} is not registered with NSX: call adapter.register()")
        return self.pi

    def _record(self, kind: str, subject: str, message: str) -> None:
        self.events.append(AdapterEvent(time.time(), kind, subject, message))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _changed_fields(before: dict[str, Any], after: Any, prefix: str = "") -> str:
    """Where two manifests differ, as field paths (``spec.ingress[1].action``)."""
    found: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{where}.{k}" if where else k)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        elif a != b:
            found.append(where or "the object")

    walk(before, dict(after or {}), prefix)
    return ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")


def _uses_failed(manifest: dict[str, Any], rendering: Rendering, failed: dict[str, list[str]]) -> bool:
    policy = rendering.policies.get(manifest["metadata"]["name"])
    return manifest["kind"] == "ClusterNetworkPolicy" and policy is not None and any(
        g in failed for g in groups_used(policy))


__all__ = ["HEARTBEAT_S", "AdapterEvent", "NSXAdapter", "RealizedIntent", "SyncReport"]
