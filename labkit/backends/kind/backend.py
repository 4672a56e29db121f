"""``KindBackend``: a lab realized on a real cluster running real Antrea.

Two modes:

* ``mode="kind"`` (default): the backend owns a kind cluster ``labkit-<lab>`` (created at start,
  deleted at stop; kubeconfig in the lab's state directory) and installs the pinned Antrea.
* ``mode="k8s"``: an existing cluster that already runs Antrea (``context`` = a kubeconfig
  context, else the current one). labkit creates only its own objects, labelled
  ``app.kubernetes.io/managed-by: labkit`` and ``labkit.io/lab: <lab>``, and deletes only those.

``sync`` applies what changed since the last sync (server-side apply through the Kubernetes
client, :mod:`.kube`) and deletes what disappeared, computed from the lab's state against a record
of what was applied (``<state_dir>/kind-applied.json``), so ``attach`` from another process
resumes exactly. The ``kind`` binary creates and deletes clusters and loads images, ``kubectl``
applies Antrea's release manifests (both the documented ways); every other call goes through
:class:`.kube.KubeClient`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from ...encryption.wire import Capture, PodEndpoint, check_mode
from ...errors import BackendUnavailable, CommandError, LabStateError, UnsupportedOperation
from ...flows.traffic import decide, plan_connections, traffic_profile
from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.explain import explain as engine_explain
from ...policy.probe import Probe
from ...policy.reachability import Explanation, Reachability
from ...policy.traceflow import Traceflow
from ..base import (AttacksHost, Backend, Captures, DumpsFlows, Encrypts, Executes, Explains, GeneratesTraffic,
                    ReportsOffload, Resumable, ShowsRepresentors, SteadyTraffic, Traceflows, Verifies)
from . import cluster as kc
from .encryption import IPSEC_MANIFEST, capture_from_pcap, capture_plan, current_mode, ipsec_secret, restart_patch, set_mode
from .flows import (AGENT_CONFIGMAP, AGGREGATOR_CONFIGMAP, AGGREGATOR_DEPLOYMENT, AGGREGATOR_MANIFEST, FlowCollector,
                    FlowSettings, KindTrafficRun, configmap_with, configure_aggregator, enable_flow_exporter, gateway_command,
                    parse_collector, pick_gateway, require_collector)
from .kube import KINDS, KubeClient, resource_path
from .probe import ProbeTask, measure, probe_command
from .tools import PreflightReport, RawResult, Runner, Shell, preflight
from .traceflow_crd import render_traceflow, run_traceflow, traceflow_name
from .workloads import (LAB_LABEL, MANAGED_BY, Record, desired_objects, plan_sync, pod_ips, probe_container,
                        record_after, stub)

log = logging.getLogger("labkit.kind")

MODES = ("kind", "k8s")
K8S_STAGES = (kc.Stage("preflight", 2), kc.Stage("check-antrea", 5), kc.Stage("apply-objects", 5),
              kc.Stage("wait-pods", 30))
ANTREA_POLICY_KINDS = ("ClusterNetworkPolicy", "NetworkPolicy")
# What labkit labels and may delete by label in k8s mode (namespaces last).
OWN_KINDS = (("crd.antrea.io", "ClusterNetworkPolicy"), ("crd.antrea.io", "NetworkPolicy"),
             ("networking.k8s.io", "NetworkPolicy"), ("crd.antrea.io", "Group"), ("crd.antrea.io", "ClusterGroup"),
             ("crd.antrea.io", "Tier"), ("", "Pod"), ("", "Service"), ("", "ServiceAccount"), ("", "Namespace"))
ISOLATION_RULE_INDEX = 2**31 - 1  # antctl: a synthetic K8s NP isolation rule has index MaxInt32


@dataclass(frozen=True)
class PolicyEvaluation:
    """``antctl query networkpolicyevaluation`` (controller mode): the rule Antrea predicts is effective."""

    source: str
    destination: str
    policy_type: str = ""  # K8sNetworkPolicy | AntreaClusterNetworkPolicy | AntreaNetworkPolicy | ...
    policy_namespace: str = ""
    policy_name: str = ""
    rule_index: int | None = None
    rule_name: str = ""
    direction: str = ""  # In | Out
    action: str = ""  # Allow | Drop | Reject | Pass | Isolate; "" = no rule applies (default allow)

    @classmethod
    def from_json(cls, src: str, dst: str, data: dict) -> "PolicyEvaluation":
        resp = data.get("response") or data.get("Response") or {}
        if not resp:
            return cls(src, dst)
        np_ = resp.get("networkPolicy") or resp.get("NetworkPolicy") or {}
        rule = resp.get("rule") or resp.get("Rule") or {}
        index = resp.get("ruleIndex", resp.get("RuleIndex"))
        action = rule.get("action") or rule.get("Action") or ""
        if index == ISOLATION_RULE_INDEX and not action:
            action = "Isolate"  # K8s NP default isolation (antctl prints Isolate)
        return cls(src, dst, np_.get("type") or np_.get("Type", ""), np_.get("namespace") or np_.get("Namespace", ""),
                   np_.get("name") or np_.get("Name", ""), index, rule.get("name") or rule.get("Name", ""),
                   rule.get("direction") or rule.get("Direction", ""), action)

    def __str__(self) -> str:
        if not self.policy_name:
            return f"{self.source} -> {self.destination}: no policy rule applies (<NONE>)"
        where = f"{self.policy_namespace}/{self.policy_name}" if self.policy_namespace else self.policy_name
        return (f"{self.source} -> {self.destination}: {self.action or '?'} by {self.policy_type} {where} "
                f"rule {self.rule_name or self.rule_index} ({self.direction})")


@dataclass(frozen=True)
class KindExplanation:
    """Why a packet is allowed or not on the kind backend.

    ``label`` says where the answer comes from: ``"antrea-controller"`` when antctl answered
    (``evaluation`` is set), else ``"predicted"`` (labkit's engine; ``note`` says why antctl did
    not answer). ``predicted`` (the engine's explanation) is always included: antctl does not look
    at ports, the engine does.
    """

    label: str
    predicted: Explanation
    evaluation: PolicyEvaluation | None = None
    note: str = ""

    # What every backend's ``lab.explain`` answers (the Explains capability): the engine's sides.
    src = property(lambda self: self.predicted.src)
    dst = property(lambda self: self.predicted.dst)
    probe = property(lambda self: self.predicted.probe)
    verdict = property(lambda self: self.predicted.verdict)
    egress = property(lambda self: self.predicted.egress)
    ingress = property(lambda self: self.predicted.ingress)
    deciding = property(lambda self: self.predicted.deciding)

    def to_dict(self) -> dict:
        return {**self.predicted.to_dict(), "label": self.label, "note": self.note,
                "evaluation": str(self.evaluation) if self.evaluation else None}

    def __str__(self) -> str:
        head = (f"antrea-controller (antctl query networkpolicyevaluation): {self.evaluation}"
                if self.evaluation else f"predicted by labkit's engine ({self.note})")
        return f"{head}\n{self.predicted}"


@dataclass
class StopReport:
    errors: list[str] = field(default_factory=list)


class KindBackend(Backend, Explains, Traceflows, Encrypts, Captures, GeneratesTraffic, Resumable):
    """The protocol of :mod:`labkit.backends.base` on kind (or an existing Antrea cluster)."""

    name = "kind"
    why_not: ClassVar[dict[type, str]] = {
        DumpsFlows: "labkit does not read the kind Nodes' OVS flows yet; run "
                    "'kubectl -n kube-system exec <antrea-agent pod> -- antctl get ovsflows'",
        Executes: "use kubectl exec on the kind cluster itself (labkit's probes exec agnhost there)",
        ReportsOffload: "kind Nodes are containers without SmartNICs",
        ShowsRepresentors: "kind Nodes are containers without SmartNICs",
        SteadyTraffic: "labkit has no background traffic generator for kind's agnhost Pods yet",
        AttacksHost: "kind Nodes share the host's kernel and OVS datapath: there is no separate host OS "
                     "to isolate; the ovs backend's SmartNIC topology shows DPU host isolation",
        Verifies: "labkit does not compare the kind Nodes' OVS flows with the model; antrea-agent reconciles them "
                  "and replays them after an OVS restart ('antctl get ovsflows' shows them)",
    }

    def __init__(self, name: str, state_dir: str | Path, *, mode: str = "kind", context: str | None = None,
                 antrea_version: str | None = None, runner: Runner | None = None,
                 progress: Callable[[kc.ProgressEvent], None] | None = None, prefetch_dir: str | Path | None = None,
                 offline: bool = False, encryption: str = "none", probe_workers: int = 16,
                 wait_antrea_s: float = 300, wait_pods_s: float = 180, pins: kc.Pins | None = None,
                 sys_root: Path = Path("/"), kube: KubeClient | None = None,
                 flow_collector: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "kind" and context:
            raise ValueError("context= is for mode='k8s' (an existing cluster); kind mode uses its own kubeconfig")
        if encryption not in ("none", "ipsec", "wireGuard"):
            raise UnsupportedOperation(f"encryption {encryption!r} is not one of Antrea's trafficEncryptionMode values "
                                       "none, ipsec, wireGuard")
        self.lab = name
        self.mode = mode
        self.context = context
        self.state_dir = Path(state_dir)
        self.shell = Shell(runner)
        self.pins = pins or kc.load_pins()
        self.antrea_version = kc.antrea_version(antrea_version, self.pins)
        self.progress_callback = progress
        self.prefetch_dir = Path(prefetch_dir) if prefetch_dir else kc.cache_root() / self.antrea_version
        self.offline = offline
        self.encryption = encryption
        self.probe_workers = probe_workers
        self.wait_antrea_s = wait_antrea_s
        self.wait_pods_s = wait_pods_s
        self.sys_root = sys_root
        self.cluster = kc.KindCluster(kc.cluster_name(name), self.state_dir, self.shell) if mode == "kind" else None
        # kind mode: the kubeconfig kind wrote into the state dir; k8s mode: $KUBECONFIG + context.
        self.kube = kube or KubeClient(self.cluster.kubeconfig if self.cluster else None, context)
        # Where labkit's IPFIX collector listens for the Flow Aggregator: an explicit opt-in
        # ("kind-gateway" or "<ip>:<port>", see .flows); None = flows are off on this lab.
        self.flow_collector = flow_collector or os.environ.get("LABKIT_KIND_FLOW_COLLECTOR") or None
        self._flows: FlowSettings | None = None
        self.running = False
        self.stop_report = StopReport()
        self._ips: dict[str, str] = {}
        self._containers: dict[str, str] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def kubectl(self) -> list[str]:
        if self.cluster is not None:
            return self.cluster.kubectl()
        return ["kubectl"] + (["--context", self.context] if self.context else [])

    @property
    def record_path(self) -> Path:
        return self.state_dir / "kind-applied.json"

    def _load_record(self) -> Record:
        if not self.record_path.exists():
            return Record()
        try:
            return Record.from_json(self.record_path.read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise LabStateError(f"{self.record_path} is unreadable ({exc}); remove the lab with 'labkit down'") from exc

    def _save_record(self, record: Record) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(record.to_json())
        tmp.replace(self.record_path)

    def _exec(self, task: ProbeTask, command: list) -> RawResult:
        out = self.kube.exec(task.namespace, task.pod, task.container, command)
        return RawResult(out.returncode, out.stdout, out.stderr)

    def preflight(self) -> PreflightReport:
        return preflight(self.mode, self.encryption, shell=self.shell, sys_root=self.sys_root,
                         kind_min=self.pins.kind_min, kubectl_min=self.pins.kubectl_min,
                         kind_recommended=self.pins.kind_ci)

    def manifest_source(self) -> str:
        """The saved copy when ``labkit kind prefetch`` made one (same bytes, no network), else the
        release URL; ``offline=True`` insists on the saved copy."""
        saved = kc.Prefetched.load(self.prefetch_dir)
        if saved is not None and saved.version == self.antrea_version and saved.manifest.exists():
            return str(saved.manifest)
        if self.offline:
            raise LabStateError(f"offline and no prefetched Antrea {self.antrea_version} in {self.prefetch_dir}; "
                                f"run 'labkit kind prefetch --version {self.antrea_version}' while online")
        return kc.manifest_url(self.antrea_version, self.pins)

    def images(self) -> list[str]:
        """Images to pre-load: those of the prefetched manifest (if any) and agnhost."""
        saved = kc.Prefetched.load(self.prefetch_dir)
        found = kc.manifest_images(saved.manifest.read_text()) if saved and saved.manifest.exists() else [
            f"antrea/antrea-agent-ubuntu:{self.antrea_version}", f"antrea/antrea-controller-ubuntu:{self.antrea_version}"]
        return list(dict.fromkeys(found + [self.pins.agnhost_image]))

    # ------------------------------------------------------------------ lifecycle

    def start(self, state: ClusterState, policy_set: PolicySet) -> None:
        stages = kc.START_STAGES if self.mode == "kind" else K8S_STAGES
        progress = kc.Progress(self.progress_callback, stages)
        progress("preflight", "checking docker, kind, kubectl, kernel modules, memory")
        self.preflight().raise_if_failed()
        if self.cluster is not None:
            workers = sum(1 for n in state.nodes if not n.is_control_plane)
            if self.cluster.exists():
                progress("create-cluster", f"kind cluster {self.cluster.name} exists; reusing it")
                self.cluster.export_kubeconfig()
            else:
                progress("create-cluster", f"kind create cluster --name {self.cluster.name} ({workers} workers)")
                self.cluster.create(kc.render_kind_config(workers), self.pins.node_image)
            progress("load-images", "kind load of the Antrea and agnhost images")
            self.cluster.load_images(self.images(), kc.Prefetched.load(self.prefetch_dir))
            progress("install-antrea", f"kubectl apply -f antrea.yml ({self.antrea_version})")
            kc.install_antrea(self.shell, self.kubectl, self.manifest_source())
            progress("wait-antrea", "rollout status of antrea-controller and antrea-agent")
        else:
            progress("check-antrea", "looking for Antrea in the cluster")
        kc.wait_antrea(self.kube, self.wait_antrea_s)
        self._sync(state, progress)
        self.running = True

    def attach(self, state: ClusterState, policy_set: PolicySet) -> None:
        """Re-use the lab's running cluster (``Lab.resume``): nothing is created; changes are synced."""
        progress = kc.Progress(self.progress_callback, kc.ATTACH_STAGES)
        progress("preflight", "checking kubectl" + (" and kind" if self.cluster else ""))
        if self.cluster is not None:
            kc.require_cluster(self.cluster)
            progress("attach", f"kind cluster {self.cluster.name}")
            if not self.cluster.kubeconfig.exists():
                self.cluster.export_kubeconfig()
        else:
            progress("attach", f"context {self.context or '(current)'}")
        self._sync(state, progress)
        self.running = True

    def sync(self, state: ClusterState, policy_set: PolicySet, manifests: list[dict]) -> None:
        # ``manifests`` (what the user just applied) is not enough: deletes and relabels show only
        # in the state, so the whole desired state is compared with the record.
        self._sync(state, None)

    def stop(self) -> None:
        """Delete the kind cluster (kind mode) or labkit's own objects (k8s mode). Never raises:
        problems are logged and kept in ``stop_report`` (``labkit down --all`` sweeps leftovers)."""
        self.stop_report = StopReport()
        try:
            if self.cluster is not None:
                self.cluster.delete()
                for path in (self.cluster.kubeconfig, self.record_path):
                    path.unlink(missing_ok=True)
            else:
                self._delete_own_objects()
                self.record_path.unlink(missing_ok=True)
        except (CommandError, LabStateError, OSError) as exc:
            if "not installed" not in str(exc):  # no kind/kubectl: nothing of ours can be running
                self.stop_report.errors.append(str(exc))
                log.warning("kind backend stop: %s", exc)
        self.running = False
        self._ips.clear()
        self.kube.close()

    def _delete_own_objects(self) -> None:
        record = self._load_record()
        keep = set(record.unmanaged_namespaces)
        plan = plan_sync({}, record)
        for ref in plan.delete:
            if not (ref.kind == "Namespace" and ref.name in keep):
                self.kube.delete(stub(ref))
        # Anything else of this lab (a lost record): by label, this lab's only; namespaces last.
        for group, kind in OWN_KINDS:
            for obj in self.kube.list(group, kind, label_selector=self._selector()):
                # Items of a list response carry no apiVersion/kind (API conventions): name them.
                obj["apiVersion"] = KINDS[(group, kind)][0] if not group else f"{group}/{KINDS[(group, kind)][0]}"
                obj["kind"] = kind
                self.kube.delete(obj)

    # ------------------------------------------------------------------ sync

    def _node_names(self, state: ClusterState) -> dict[str, str] | None:
        if self.cluster is None:
            return None  # k8s mode: the scheduler places pods on the cluster's own nodes
        return kc.node_name_map(self.cluster.name, [n.name for n in state.nodes])

    def _sync(self, state: ClusterState, progress: kc.Progress | None) -> None:
        record = self._load_record()
        if self.mode == "k8s":
            self._note_existing_namespaces(state, record)
        desired = desired_objects(state, self.pins.agnhost_image, self._node_names(state),
                                  record.unmanaged_namespaces, self.lab)
        plan = plan_sync(desired, record)
        self._containers = {k.split("/", 2)[2]: probe_container(m) for k, m in desired.items() if m["kind"] == "Pod"}
        if progress is not None:
            progress("apply-objects", f"{len(plan.apply) + len(plan.replace)} to apply, {len(plan.delete)} to delete")
        gone = [stub(r) for r in plan.delete] + [{"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": m["metadata"]["name"], "namespace": m["metadata"]["namespace"]}} for m in plan.replace]
        for obj in gone:  # dependents first (plan order); waited for, as kubectl delete --wait does
            self.kube.delete(obj, wait=True, timeout_s=180)
        if plan.apply or plan.replace:
            position = {id(m): i for i, m in enumerate(desired.values())}
            for manifest in sorted(plan.apply + plan.replace, key=lambda m: position[id(m)]):
                self.kube.apply(manifest, hint="the API server's message names the field; the lab's own validation "
                                               "accepted it, so Antrea's webhook or the API server refused it")
        self._save_record(record_after(record, desired))
        if progress is not None:
            progress("wait-pods", f"waiting for {len(plan.pods_created)} new pods to be Ready")
        if plan.pods_created:
            self._wait_pods()
        self._wait_policies(plan.apply)
        if plan.pods_created or not self._ips:
            self._refresh_ips()

    def _note_existing_namespaces(self, state: ClusterState, record: Record) -> None:
        for ns in state.namespaces:
            key = f"/Namespace//{ns.name}"
            if key in record.applied or ns.name in record.unmanaged_namespaces:
                continue
            if self.kube.get(resource_path("", "Namespace", ns.name), not_found_ok=True) is not None:
                record.unmanaged_namespaces.append(ns.name)

    def _selector(self) -> str:
        return f"{MANAGED_BY[0]}={MANAGED_BY[1]},{LAB_LABEL}={self.lab}"

    def _wait_pods(self) -> None:
        self.kube.wait_pods_ready(self._selector(), self.wait_pods_s,
                                  hint=f"'kubectl describe pod' shows why (ImagePullBackOff: the Nodes cannot pull "
                                       f"{self.pins.agnhost_image}; run 'labkit kind prefetch' while online)")

    def _wait_policies(self, applied: list[dict]) -> None:
        """Antrea-native policies report ``status.phase: Realized`` once every agent installed them;
        K8s NetworkPolicies have no status, so there is nothing to wait for.

        A policy antrea-controller cannot realize (an appliedTo Group with Pods in other Namespaces)
        stays ``Pending`` with the condition ``Realizable=False`` for good (status_controller.go
        ``GenerateNetworkPolicyCondition``; e2e TestAntreaPolicyStatusWithAppliedToUnsupportedGroup):
        waiting ends there, as on sim and ovs the apply stands and ``lab.policies()`` shows the
        status labkit's own model gives it (labkit.policy.status)."""
        for m in applied:
            if m.get("apiVersion", "").startswith("crd.antrea.io/") and m["kind"] in ANTREA_POLICY_KINDS:
                path = resource_path("crd.antrea.io", m["kind"], m["metadata"]["name"],
                                     m["metadata"].get("namespace", ""))

                def realized(path: str = path) -> bool | str:
                    status = (self.kube.get(path, not_found_ok=True) or {}).get("status") or {}
                    phase = status.get("phase", "")
                    if phase == "Realized" or any(c.get("type") == "Realizable" and c.get("status") == "False"
                                                  for c in status.get("conditions") or []):
                        return True
                    return f"status.phase is {phase or 'not set'}"

                self.kube.wait_for(realized, 60, f"{m['kind']} {m['metadata']['name']} to be Realized",
                                   "'kubectl get acnp,annp -A' shows the policy's status")

    def _refresh_ips(self) -> None:
        self._ips = pod_ips({"items": self.kube.list("", "Pod", label_selector=self._selector())})

    # ------------------------------------------------------------------ observations

    def reachability(self, state: ClusterState, policy_set: PolicySet, probe: Probe, sources: list[str],
                     destinations: list[str]) -> Reachability:
        if not self.running:
            raise LabStateError("the kind backend is not started")
        missing = [k for k in set(sources) | set(destinations) if k not in self._ips]
        if missing:
            self._refresh_ips()
            missing = [k for k in missing if k not in self._ips]
            if missing:
                raise LabStateError(f"no IP for pods {', '.join(sorted(missing))} in the cluster; are they Running? "
                                    "('kubectl get pods -A -l app.kubernetes.io/managed-by=labkit')")
        tasks = []
        for s in sources:
            ns, _, pod = s.partition("/")
            for d in destinations:
                tasks.append(ProbeTask(s, d, ns, pod, self._containers.get(s, "cont-pause"), self._ips[d]))
        cells = measure(self._exec, tasks, probe, self.probe_workers)
        result = Reachability.from_cells(sources, destinations, cells, probe, kind="observed", backend="kind")
        moved = [f"{p.key} (model {p.pod_ip}, cluster {self._ips[p.key]})" for p in state.pods
                 if p.key in self._ips and p.pod_ip and p.pod_ip != self._ips[p.key]]
        if moved:
            result.warnings.append("pod IPs in the cluster differ from labkit's model, so ipBlock rules written "
                                   "for model IPs may match differently: " + ", ".join(moved[:6])
                                   + (" ..." if len(moved) > 6 else ""))
        return result

    def pod_ips(self) -> dict[str, str]:
        """``ns/name -> IP`` of the lab's pods in the cluster."""
        return dict(self._ips)

    def traceflow(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str, probe: Probe,
                  timeout_s: int = 20) -> Traceflow:
        """Run an Antrea Traceflow for one probe between two pods and return what the agents saw."""
        src, dst = state.pod(src).key, state.pod(dst).key
        cr = render_traceflow(traceflow_name(self.lab), src, dst, probe, timeout_s)
        return run_traceflow(self.kube, cr)

    def explain(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str,
                probe: Probe) -> KindExplanation:
        """antctl's answer from the antrea-controller when it gives one, else labkit's engine,
        clearly labelled ``predicted``."""
        s, d = state.pod(src).key, state.pod(dst).key
        predicted = engine_explain(state, policy_set, s, d, probe)
        command = ["antctl", "query", "networkpolicyevaluation", "-S", s, "-D", d, "-o", "json"]
        try:
            # `kubectl exec deploy/antrea-controller` picks a Pod of the Deployment; so do we, by
            # the labels antrea.yml gives it.
            pods = self.kube.list("", "Pod", namespace=kc.KUBE_SYSTEM, label_selector="component=antrea-controller")
            if not pods:
                raise CommandError("no antrea-controller Pod in kube-system")
            out = self.kube.exec(kc.KUBE_SYSTEM, pods[0]["metadata"]["name"], "antrea-controller", command)
            if out.returncode != 0:
                raise CommandError(f"antctl exited {out.returncode}: {out.stderr.strip()}")
            evaluation = PolicyEvaluation.from_json(s, d, json.loads(out.stdout or "{}"))
        except (CommandError, ValueError) as exc:
            reason = str(exc).splitlines()[0]
            return KindExplanation("predicted", predicted, None, f"antctl did not answer: {reason}")
        return KindExplanation("antrea-controller", predicted, evaluation)


    # ------------------------------------------------------------------ agent configuration

    def _antrea_config(self) -> tuple[dict, str]:
        ns, name, key = AGENT_CONFIGMAP
        cm = self.kube.get(resource_path("", "ConfigMap", name, ns), not_found_ok=True)
        if cm is None or key not in (cm.get("data") or {}):
            raise LabStateError(f"ConfigMap {ns}/{name} with key {key} not found: is Antrea (antrea.yml) installed? "
                                "fix: 'kubectl -n kube-system get configmap antrea-config'")
        return cm, cm["data"][key]

    def _restart(self, namespace: str, kind: str, name: str) -> None:
        """``kubectl rollout restart`` (its patch), then ``rollout status``."""
        group_kind = {"daemonset": "DaemonSet", "deployment": "Deployment"}[kind]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.kube.patch(resource_path("apps", group_kind, name, namespace), restart_patch(now))
        self.kube.wait_rollout(kind, name, namespace, self.wait_antrea_s, kc.WAIT_ANTREA_HINT)

    def _set_agent_conf(self, text: str) -> None:
        cm, _ = self._antrea_config()
        self.kube.apply(configmap_with(cm, AGENT_CONFIGMAP[2], text))

    def _release_version(self) -> str:
        """The Antrea release whose manifests labkit may apply: the pinned one on labkit's own kind
        cluster; on an existing cluster (k8s mode) the one it runs (the antrea-agent image tag),
        so that labkit never up- or downgrades somebody's Antrea."""
        if self.mode == "kind":
            return self.antrea_version
        ds = self.kube.get(resource_path("apps", "DaemonSet", "antrea-agent", kc.KUBE_SYSTEM)) or {}
        images = [c.get("image", "") for c in ((ds.get("spec") or {}).get("template") or {}).get("spec", {}).get(
            "containers", [])]
        tag = next((i.rsplit(":", 1)[1] for i in images if ":" in i.rsplit("/", 1)[-1]), "")
        if not kc.is_release_tag(tag):
            raise UnsupportedOperation(f"cannot tell which Antrea release this cluster runs (antrea-agent images: "
                                       f"{', '.join(images) or 'none'}); apply that release's manifests yourself "
                                       "(docs/traffic-encryption.md, docs/network-flow-visibility.md)")
        return tag

    def _release_manifest(self, template: str) -> str:
        return template.format(version=self._release_version())

    # ------------------------------------------------------------------ flows

    def flow_settings(self) -> FlowSettings:
        option = require_collector(self.flow_collector)
        host, port = parse_collector(option, self._kind_gateway)
        return FlowSettings(host, port)

    def _kind_gateway(self) -> str:
        out = self.shell.run(gateway_command(), timeout_s=30,
                             hint="the kind Nodes live on the Docker network 'kind'; is the cluster up?")
        return pick_gateway(out.stdout)

    def enable_flows(self, settings: FlowSettings) -> None:
        """Flow Exporter on in every agent, the Flow Aggregator deployed and pointed at labkit's
        collector (see :mod:`.flows`); idempotent."""
        _, conf = self._antrea_config()
        self._set_agent_conf(enable_flow_exporter(conf, settings))
        self._restart(kc.KUBE_SYSTEM, "daemonset", "antrea-agent")
        kc.install_antrea(self.shell, self.kubectl, self._release_manifest(AGGREGATOR_MANIFEST))
        ns, name, key = AGGREGATOR_CONFIGMAP
        cm = self.kube.get(resource_path("", "ConfigMap", name, ns), not_found_ok=True)
        if cm is None:
            raise LabStateError(f"flow-aggregator.yml did not create ConfigMap {ns}/{name}; fix: check "
                                f"'kubectl -n {ns} get configmaps' (the manifest of Antrea {self.antrea_version})")
        self.kube.apply(configmap_with(cm, key, configure_aggregator((cm.get("data") or {}).get(key, ""), settings)))
        self._restart(AGGREGATOR_DEPLOYMENT[0], "deployment", AGGREGATOR_DEPLOYMENT[1])
        self._flows = settings

    def generate_traffic(self, state: ClusterState, policy_set: PolicySet, profile: Any = "shop", *,
                         duration_s: float = 60.0, seed: int = 0, max_connections: int = 200) -> KindTrafficRun:
        """Play a traffic profile as real connections between the lab's pods (agnhost connect, in
        parallel) and return what Antrea's Flow Aggregator exported to labkit's collector.

        The connections are the profile's plan (:func:`labkit.flows.traffic.plan_connections`, at
        most ``max_connections``), each opened once (real time, not the profile's minute); the
        run's ``connections`` carry labkit's predicted verdicts, its records are Antrea's."""
        if not self.running:
            raise LabStateError("the kind backend is not started")
        settings = self._flows or self.flow_settings()
        profile = traffic_profile(profile)
        planned = plan_connections(state, profile, duration_s=duration_s, seed=seed)[:max_connections]
        connections = decide(state, policy_set, planned)
        with FlowCollector("0.0.0.0" if settings.collector_host in ("0.0.0.0", "::") else settings.collector_host,
                           settings.collector_port, settings.protocol) as collector:
            if self._flows is None:
                self.enable_flows(settings)
            start = time.time()
            tasks = [self._connection_task(state, c.planned) for c in connections]
            with ThreadPoolExecutor(max_workers=max(1, self.probe_workers)) as pool:
                list(pool.map(lambda t: self._exec(t[0], t[1]), tasks))
            collector.wait_quiet(quiet_s=settings.settle_s, timeout_s=settings.settle_s * 4)
            exports = collector.take()
        if not exports:
            raise CommandError(f"no flow record reached labkit's collector at {settings.collector_address} within "
                               f"{settings.settle_s * 4:g} s; fix: check that the Nodes reach this host "
                               f"('docker exec {kc.cluster_name(self.lab)}-worker nc -vzu {settings.collector_host} "
                               f"{settings.collector_port}'), the host firewall, and the Flow Aggregator's log "
                               "('kubectl -n flow-aggregator logs deploy/flow-aggregator')")
        return KindTrafficRun(profile, start, duration_s, seed, connections, exports, {p.key: p for p in state.pods})

    def _connection_task(self, state: ClusterState, p: Any) -> tuple[ProbeTask, list[str]]:
        ns, _, pod = p.source.partition("/")
        if p.service:
            svc_ns, _, svc = p.service.partition("/")
            obj = self.kube.get(resource_path("", "Service", svc, svc_ns)) or {}
            ip, port = (obj.get("spec") or {}).get("clusterIP", ""), p.service_port
        else:
            ip, port = self._ips.get(p.destination, ""), p.key.destination_transport_port
        if not ip:
            raise LabStateError(f"no address for {p.service or p.destination} in the cluster; are the lab's pods and "
                                "Services applied? ('kubectl get pods,svc -A -l app.kubernetes.io/managed-by=labkit')")
        task = ProbeTask(p.source, p.destination, ns, pod, self._containers.get(p.source, "cont-pause"), ip)
        return task, probe_command(Probe(p.protocol, port), ip)

    # ------------------------------------------------------------------ encryption

    def set_encryption(self, state: ClusterState, mode: str) -> None:
        """Switch Antrea's ``trafficEncryptionMode`` (see :mod:`.encryption`) and wait for the agents."""
        check_mode(mode)
        if mode == "wireGuard" and self.mode == "kind":
            report = preflight(self.mode, "wireguard", shell=self.shell, sys_root=self.sys_root,
                               kind_min=self.pins.kind_min, kubectl_min=self.pins.kubectl_min,
                               kind_recommended=self.pins.kind_ci)
            module = report.check("kernel module wireguard")
            if not module.ok:
                raise BackendUnavailable(f"WireGuard on kind: {module.message}; fix: {module.fix} (kind Nodes share "
                                         "the host kernel)")
        _, conf = self._antrea_config()
        was = current_mode(conf)
        if mode == "ipsec" and was != "ipsec":
            kc.install_antrea(self.shell, self.kubectl, self._release_manifest(IPSEC_MANIFEST))
            self.kube.apply(ipsec_secret())  # replace antrea-ipsec.yml's default PSK, as its docs advise
            _, conf = self._antrea_config()
        elif was == "ipsec" and mode != "ipsec":
            antrea_yml = self.manifest_source() if self.mode == "kind" else self._release_manifest(self.pins.manifest_url)
            kc.install_antrea(self.shell, self.kubectl, antrea_yml)  # the agents without the strongSwan container
            _, conf = self._antrea_config()
        self._set_agent_conf(set_mode(conf, mode))
        if self._flows is not None and was != mode and (mode == "ipsec" or was == "ipsec"):
            _, conf = self._antrea_config()  # the manifest reset antrea-agent.conf: Flow Exporter on again
            self._set_agent_conf(enable_flow_exporter(conf, self._flows))
        self._restart(kc.KUBE_SYSTEM, "daemonset", "antrea-agent")
        self.encryption = mode

    def _endpoint(self, state: ClusterState, key: str) -> tuple[PodEndpoint, str]:
        pod = self.kube.get(resource_path("", "Pod", key.split("/", 1)[1], key.split("/", 1)[0])) or {}
        node = (pod.get("spec") or {}).get("nodeName", "")
        node_obj = self.kube.get(resource_path("", "Node", node)) or {}
        addresses = (node_obj.get("status") or {}).get("addresses") or []
        node_ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")
        pod_ip = (pod.get("status") or {}).get("podIP", "")
        if not (node and node_ip and pod_ip):
            raise LabStateError(f"pod {key} has no Node/IP yet; is it Running? ('kubectl get pod -o wide -n "
                                f"{key.split('/', 1)[0]}')")
        return PodEndpoint(key, pod_ip, node, node_ip), node

    def capture(self, state: ClusterState, src: str, dst: str, mode: str) -> Capture:
        """tcpdump on the source pod's Node during one request to ``dst`` (see :mod:`.encryption`)."""
        if self.mode != "kind":
            raise UnsupportedOperation("capturing on the underlay needs the Nodes to be local Docker containers "
                                       "(kind mode); on an existing cluster run tcpdump on a Node yourself")
        a, node = self._endpoint(state, src)
        b, _ = self._endpoint(state, dst)
        if a.node == b.node:
            raise ValueError(f"{src} and {dst} both run on {a.node}: their traffic never leaves the Node, so there "
                             "is nothing on the wire to encrypt; pick pods on different Nodes")
        plan = capture_plan(node, a, b, uuid.uuid4().hex[:8])
        if self.shell.run(plan.check_tool(), timeout_s=30, check=False).returncode != 0:
            raise CommandError(f"tcpdump is not installed in the kind Node {node}; fix: docker exec {node} sh -c "
                               "'apt-get update && apt-get install -y tcpdump' (kindest/node is Debian-based)")
        port = next((p.container_port for p in state.pod(dst).ports if p.protocol == "TCP"), None)
        if port is None:
            raise ValueError(f"{dst} serves no TCP port to send a request to; pick a pod with one")
        self.shell.run(plan.start(), timeout_s=30)
        try:
            self.kube.wait_for(lambda: self.shell.run(plan.running(), timeout_s=15, check=False).returncode == 0,
                               10, f"tcpdump to start on {node}", f"docker exec {node} tcpdump --version", 0.2)
            task = ProbeTask(src, dst, *src.split("/", 1), self._containers.get(src, "cont-pause"), b.pod_ip)
            self._exec(task, ["/agnhost", "connect", f"{b.pod_ip}:{port}", "--timeout=5s", "--protocol=tcp"])
            self.kube.wait_for(lambda: self.shell.run(plan.running(), timeout_s=15, check=False).returncode != 0,
                               plan.window_s + 10, f"tcpdump on {node} to finish", "it runs under timeout; retry", 0.5)
            local = self.state_dir / f"capture-{mode}-{plan.remote_path.rsplit('-', 1)[-1]}"
            self.shell.run(plan.copy_out(local), timeout_s=60)
        finally:
            self.shell.run(plan.cleanup(), timeout_s=30, check=False)
        return capture_from_pcap(local, mode, a, b, node)


__all__ = ["KindBackend", "KindExplanation", "PolicyEvaluation", "StopReport", "MODES"]
