"""``KindBackend``: a lab realized on a real cluster running real Antrea.

Two modes:

* ``mode="kind"`` (default): the backend owns a kind cluster ``labkit-<lab>`` (created at start,
  deleted at stop; kubeconfig in the lab's state directory) and installs the pinned Antrea.
* ``mode="k8s"``: an existing cluster that already runs Antrea (``context`` = a kubeconfig
  context, else the current one). labkit creates only its own objects, labelled
  ``app.kubernetes.io/managed-by: labkit`` and ``labkit.io/lab: <lab>``, and deletes only those.

``sync`` applies what changed since the last sync (``kubectl apply -f -``) and deletes what
disappeared (``kubectl delete -f -``), computed from the lab's state against a record of what was
applied (``<state_dir>/kind-applied.json``), so ``attach`` from another process resumes exactly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...errors import CommandError, LabStateError, UnsupportedOperation
from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.evaluate import evaluate
from ...policy.probe import Probe
from ...policy.reachability import Explanation, Reachability
from ...policy.traceflow import Traceflow
from . import cluster as kc
from .probe import ProbeTask, measure
from .tools import PreflightReport, Runner, Shell, preflight
from .traceflow import render_traceflow, run_traceflow, traceflow_name
from .workloads import (LAB_LABEL, MANAGED_BY, RESOURCES, Record, as_list, desired_objects, not_ready, plan_sync,
                        pod_ips, probe_container, record_after, stub)

log = logging.getLogger("labkit.kind")

MODES = ("kind", "k8s")
K8S_STAGES = (kc.Stage("preflight", 2), kc.Stage("check-antrea", 5), kc.Stage("apply-objects", 5),
              kc.Stage("wait-pods", 30))
ANTREA_POLICY_KINDS = ("ClusterNetworkPolicy", "NetworkPolicy")
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

    def __str__(self) -> str:
        head = (f"antrea-controller (antctl query networkpolicyevaluation): {self.evaluation}"
                if self.evaluation else f"predicted by labkit's engine ({self.note})")
        return f"{head}\n{self.predicted}"


@dataclass
class StopReport:
    errors: list[str] = field(default_factory=list)


class KindBackend:
    """The protocol of :mod:`labkit.backends.base` on kind (or an existing Antrea cluster)."""

    name = "kind"

    def __init__(self, name: str, state_dir: str | Path, *, mode: str = "kind", context: str | None = None,
                 antrea_version: str | None = None, runner: Runner | None = None,
                 progress: Callable[[kc.ProgressEvent], None] | None = None, prefetch_dir: str | Path | None = None,
                 offline: bool = False, encryption: str = "none", probe_workers: int = 16,
                 wait_antrea_s: float = 300, wait_pods_s: float = 180, pins: kc.Pins | None = None,
                 sys_root: Path = Path("/")) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "kind" and context:
            raise ValueError("context= is for mode='k8s' (an existing cluster); kind mode uses its own kubeconfig")
        if encryption.lower() not in ("none", "wireguard"):
            raise UnsupportedOperation(f"encryption {encryption!r}: the kind backend checks 'none' and 'wireGuard' "
                                       "hosts; IPsec is skipped on kind by Antrea's own e2e tests")
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

    def _kubectl_json(self, *args: str, timeout_s: float = 60) -> dict:
        out = self.shell.run([*self.kubectl, *args, "-o", "json"], timeout_s=timeout_s)
        return json.loads(out.stdout or "{}")

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
        kc.wait_antrea(self.shell, self.kubectl, self.wait_antrea_s)
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

    def _delete_own_objects(self) -> None:
        record = self._load_record()
        keep = set(record.unmanaged_namespaces)
        plan = plan_sync({}, record)
        refs = [r for r in plan.delete if not (r.kind == "Namespace" and r.name in keep)]
        if refs:
            self.shell.run([*self.kubectl, "delete", "--ignore-not-found", "--wait=false", "-f", "-"],
                           input=as_list([stub(r) for r in refs]), timeout_s=120)
        # Anything else of this lab (a lost record): by label, this lab's only.
        selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]},{LAB_LABEL}={self.lab}"
        kinds = ",".join(v for k, v in RESOURCES.items() if k[1] != "Namespace")
        self.shell.run([*self.kubectl, "delete", kinds, "-A", "-l", selector, "--ignore-not-found", "--wait=false"],
                       timeout_s=120, check=False)
        self.shell.run([*self.kubectl, "delete", "namespaces", "-l", selector, "--ignore-not-found", "--wait=false"],
                       timeout_s=120, check=False)

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
        if plan.delete or plan.replace:
            gone = [stub(r) for r in plan.delete] + [{"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": m["metadata"]["name"], "namespace": m["metadata"]["namespace"]}} for m in plan.replace]
            self.shell.run([*self.kubectl, "delete", "--ignore-not-found", "--wait=true", "-f", "-"],
                           input=as_list(gone), timeout_s=180)
        if plan.apply or plan.replace:
            position = {id(m): i for i, m in enumerate(desired.values())}
            ordered = sorted(plan.apply + plan.replace, key=lambda m: position[id(m)])
            self.shell.run([*self.kubectl, "apply", "-f", "-"], input=as_list(ordered), timeout_s=180,
                           hint="kubectl's message names the object and field; the lab's own validation "
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
            out = self.shell.run([*self.kubectl, "get", "namespace", ns.name, "--ignore-not-found", "-o", "name"],
                                 timeout_s=30)
            if out.stdout.strip():
                record.unmanaged_namespaces.append(ns.name)

    def _selector(self) -> str:
        return f"{MANAGED_BY[0]}={MANAGED_BY[1]},{LAB_LABEL}={self.lab}"

    def _wait_pods(self) -> None:
        try:
            self.shell.run([*self.kubectl, "wait", "--for=condition=Ready", "pods", "-A", "-l", self._selector(),
                            f"--timeout={int(self.wait_pods_s)}s"], timeout_s=self.wait_pods_s + 30)
        except CommandError as exc:
            try:
                stuck = not_ready(self._kubectl_json("get", "pods", "-A", "-l", self._selector()))
            except CommandError:
                stuck = []
            raise CommandError(f"pods not Ready after {self.wait_pods_s:g} s: {', '.join(stuck) or '(unknown)'}; fix: "
                               f"'kubectl describe pod' shows why (ImagePullBackOff: the Nodes cannot pull "
                               f"{self.pins.agnhost_image}; run 'labkit kind prefetch' while online)",
                               exc.failure) from exc

    def _wait_policies(self, applied: list[dict]) -> None:
        """Antrea-native policies report ``status.phase: Realized`` once every agent installed them;
        K8s NetworkPolicies have no status, so there is nothing to wait for."""
        for m in applied:
            if m.get("apiVersion", "").startswith("crd.antrea.io/") and m["kind"] in ANTREA_POLICY_KINDS:
                res = RESOURCES[("crd.antrea.io", m["kind"])]
                ns = m["metadata"].get("namespace")
                self.shell.run([*self.kubectl, "wait", "--for=jsonpath={.status.phase}=Realized",
                                f"{res}/{m['metadata']['name']}", *(["-n", ns] if ns else []), "--timeout=60s"],
                               timeout_s=90, hint="'kubectl get acnp,annp -A' shows the policy's status")

    def _refresh_ips(self) -> None:
        self._ips = pod_ips(self._kubectl_json("get", "pods", "-A", "-l", self._selector()))

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
        cells = measure(self.shell, self.kubectl, tasks, probe, self.probe_workers)
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
        return run_traceflow(self.shell, self.kubectl, cr)

    def explain(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str,
                probe: Probe) -> KindExplanation:
        """antctl's answer from the antrea-controller when it gives one, else labkit's engine,
        clearly labelled ``predicted``."""
        s, d = state.pod(src).key, state.pod(dst).key
        ev = evaluate(policy_set, state.pods, probe, [s], [d])
        predicted = Reachability.from_evaluation(ev, probe, policy_set, backend="engine").explain(s, d)
        argv = [*self.kubectl, "exec", "-n", kc.KUBE_SYSTEM, "deploy/antrea-controller", "-c", "antrea-controller",
                "--", "antctl", "query", "networkpolicyevaluation", "-S", s, "-D", d, "-o", "json"]
        try:
            out = self.shell.run(argv, timeout_s=30)
            evaluation = PolicyEvaluation.from_json(s, d, json.loads(out.stdout or "{}"))
        except (CommandError, ValueError) as exc:
            reason = str(exc).splitlines()[0]
            return KindExplanation("predicted", predicted, None, f"antctl did not answer: {reason}")
        return KindExplanation("antrea-controller", predicted, evaluation)


__all__ = ["KindBackend", "KindExplanation", "PolicyEvaluation", "StopReport", "MODES"]
