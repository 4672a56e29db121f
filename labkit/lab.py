"""The ``Lab`` facade: one object a notebook uses, whatever backend runs the cluster.

::

    with Lab(backend="sim", profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        lab.reachability(port=80).to_frame()
        lab.explain("x/a", "y/b", port=80)

The Lab owns the cluster state (:class:`~labkit.model.cluster.ClusterState`) and the compiled
policy set; the backend realizes them and observes. ``backend="auto"`` picks ``ovs`` when this is
Linux, root and Open vSwitch is installed, else ``sim``.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import os
import re
import shutil
import threading
import weakref
from pathlib import Path
from typing import Any, TypeVar

from .backends.base import (AttacksHost, Captures, DumpsFlows, Encrypts, ExecResult, Executes, Explains,
                            GeneratesTraffic, ReportsOffload, Resumable, ShowsRepresentors, SteadyTraffic, Traceflows,
                            Verifies, has)
from .backends.registry import require
from .errors import BackendUnavailable, LabStateError, ManifestError, NotFoundError, Problem
from .model.cluster import ApplyResult, ClusterState
from .model.kinds import KIND_ALIASES, parse_ref
from .model.manifest import ManifestSource, load_manifest, parse_manifest, resolve_path
from .model.objects import ObjectRef, Pod
from .model.profile import SNAPSHOT, Profile, load_profile
from .model.yamlsrc import Document, documents_from_data
from .policy.compiler import PolicySet, compile_policies
from .policy.evaluate import evaluate
from .policy.probe import Probe
from .policy.explain import explain as engine_explain
from .policy.reachability import Explanation, Reachability
from .policy.status import PolicyStatus, policy_status
from . import views

C = TypeVar("C")

BACKENDS = ("sim", "ovs", "kind", "k8s")
# A lab name prefixes every network namespace (lk-<lab>.<node>) and interface the ovs backend makes.
LAB_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,15}")  # k8s: an existing cluster running Antrea (kubeconfig context)


def ovs_available() -> tuple[bool, str]:
    """Can the ovs backend run here? (ok, reason if not)."""
    if os.name != "posix" or not Path("/proc/self/ns/net").exists():
        return False, "the ovs backend needs Linux network namespaces"
    if os.geteuid() != 0:
        return False, "the ovs backend needs root (network namespaces, veth, OVS)"
    for tool in ("ovs-vswitchd", "ovsdb-server", "ovs-vsctl", "ovs-ofctl", "ip"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return False, f"{tool} is not installed (apt-get install openvswitch-switch iproute2)"
    return True, ""


def _make_backend(name: str, lab: "Lab"):
    options = dict(lab.backend_options)
    if name == "sim":
        from .backends.sim import SimBackend

        return SimBackend()
    if name == "ovs":
        ok, why = ovs_available()
        if not ok:
            raise BackendUnavailable(f"backend 'ovs' is not available: {why}; use backend='sim' meanwhile")
        try:
            from .backends.ovs import OvsBackend
        except ImportError as exc:
            raise BackendUnavailable(f"backend 'ovs' could not be loaded ({exc}); use backend='sim'") from exc
        return OvsBackend(lab.name, lab.state_dir, **options)
    if name in ("kind", "k8s"):
        try:
            from .backends.kind import KindBackend
        except ImportError as exc:
            raise BackendUnavailable(f"backend 'kind' is not available in this installation ({exc}); "
                                     "use backend='sim' or 'ovs'") from exc
        return KindBackend(lab.name, lab.state_dir, mode=name, **options)
    raise BackendUnavailable(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)} or 'auto'")


def default_state_root() -> Path:
    return Path(os.environ.get("LABKIT_STATE_DIR") or Path.home() / ".local" / "state" / "labkit")


_live_labs: "weakref.WeakSet[Lab]" = weakref.WeakSet()


@atexit.register
def _stop_live_labs() -> None:  # a kernel restart / interpreter exit must not leak a lab
    for lab in list(_live_labs):
        try:
            lab.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class Lab:
    """A cluster with Antrea policies, on one backend. Use as a context manager, or call stop().

    ``backend``: ``sim`` (default), ``ovs``, ``kind``, ``k8s`` (an existing Antrea cluster: pass
    ``backend_options={"context": "<kubeconfig context>"}``) or ``auto``.

    ``kube_api=True`` also serves the lab's objects as a Kubernetes API on 127.0.0.1 (a background
    thread, stopped with the lab): ``lab.kubeconfig`` is the file for ``kubectl``
    (``!kubectl --kubeconfig {lab.kubeconfig} get pods -o wide``). See docs/kubectl.md.
    """

    def __init__(self, backend: str = "sim", profile: str | None = None, name: str = "lab",
                 state_dir: str | os.PathLike | None = None, start: bool = True,
                 backend_options: dict[str, Any] | None = None, kube_api: bool = False,
                 _allocations: dict[str, tuple[str, str]] | None = None, _restoring: bool = False) -> None:
        if backend == "auto":
            backend = "ovs" if ovs_available()[0] else "sim"
        if backend not in BACKENDS:
            raise BackendUnavailable(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} or 'auto'")
        if not LAB_NAME.fullmatch(name):
            raise ValueError(f"lab name {name!r} must be 1-16 characters of a-z, 0-9 and '-'")
        self.name = name
        self.backend_name = backend
        # Passed to the backend's constructor, e.g. {"context": "my-tkg"} for k8s, {"progress": print} for kind.
        self.backend_options: dict[str, Any] = dict(backend_options or {})
        self.state_dir = Path(state_dir) if state_dir else default_state_root() / name
        self.profile: Profile = load_profile(profile)
        self.state = ClusterState(self.profile.nodes())
        self.state.allocation_hints = dict(_allocations or {})
        self._policy_set: PolicySet | None = None
        self._policy_generation = -1
        self._applied: dict[ObjectRef, dict] = {}  # raw manifests of user-applied objects, in order
        self.backend = None
        self.running = False
        self._encryption = "none"
        # Held while the lab's objects change; faces that read then write (the Kubernetes API's
        # resourceVersion checks) hold it across both steps. Reentrant: a face calls lab.apply with it.
        self.lock = threading.RLock()
        self._change_listeners: list = []
        self._kube_api_wanted = kube_api
        self.kube_api = None  # labkit.kubeapi.KubeAPIServer while serving
        self.snapshot_report = None  # what Lab.from_snapshot loaded and skipped
        if self.profile.documents and not _restoring:  # a restored lab replays its own saved objects
            self._apply_items(load_manifest_docs(self.profile.documents))
        if start:
            self.start()

    @classmethod
    def from_snapshot(cls, path: str | os.PathLike, backend: str = "sim", name: str = "lab",
                      state_dir: str | os.PathLike | None = None, start: bool = True,
                      backend_options: dict[str, Any] | None = None) -> "Lab":
        """A lab holding a real cluster's objects, read from what ``kubectl get namespaces,nodes,pods,
        services,networkpolicies,clusternetworkpolicies,networkpolicies.crd.antrea.io,tiers,
        clustergroups,groups -A -o yaml`` printed: its nodes, and every Pod on its node with its IP.
        ``lab.snapshot_report`` says what was loaded and what was skipped (kinds and fields labkit
        does not model, hostNetwork / terminated / Pending Pods) and why; see
        :mod:`labkit.model.snapshot`. Meant for the sim backend: matrices, lint and diff offline.
        """
        from .model.snapshot import load_snapshot

        snapshot = load_snapshot(path)
        lab = cls(backend=backend, profile=SNAPSHOT, name=name, state_dir=state_dir, start=False,
                  backend_options=backend_options, _allocations=snapshot.allocations)
        lab._apply_items(snapshot.items)
        lab.snapshot_report = snapshot.report
        if start:
            lab.start()
        return lab

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "Lab":
        if self.running:
            return self
        self.backend = _make_backend(self.backend_name, self)
        try:
            self.backend.start(self.state, self.policy_set)
        except BaseException:
            self.backend.stop()
            raise
        self.running = True
        _live_labs.add(self)
        if self._kube_api_wanted:
            self.serve_kube_api()
        return self

    def stop(self) -> None:
        """Tear the lab down (idempotent)."""
        if self.kube_api is not None:
            self.kube_api.stop()
            self.kube_api = None
        if self.backend is not None:
            self.backend.stop()
        self.running = False
        _live_labs.discard(self)

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"<Lab {self.name!r} backend={self.backend_name} profile={self.profile.name} "
                f"pods={len(self.state.pods)} running={self.running}>")

    # ------------------------------------------------------------------ Kubernetes API face

    def serve_kube_api(self, port: int = 0, export: bool = True) -> Path:
        """Serve this lab as a Kubernetes API on ``https://127.0.0.1:<port>`` (0: any free port)
        until the lab stops; returns the kubeconfig path (also :attr:`kubeconfig`). ``export``: set
        this process's ``KUBECONFIG`` (and PATH to labkit's kubectl) so ``!kubectl get pods`` works."""
        if self.kube_api is None:
            from .kubeapi import KubeAPIServer

            self.kube_api = KubeAPIServer(self, self.state_dir / "kube-api", port).start()
            if export:
                self.kube_api.export_environment()
            _live_labs.add(self)
        return self.kube_api.kubeconfig

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig of this lab's Kubernetes API (``Lab(..., kube_api=True)``)."""
        if self.kube_api is None:
            raise LabStateError(f"lab {self.name!r} serves no Kubernetes API: create it with "
                                "Lab(..., kube_api=True) or call lab.serve_kube_api()")
        return self.kube_api.kubeconfig

    def add_change_listener(self, callback) -> None:
        """Call ``callback()`` after every change of the lab's objects (apply, delete, label)."""
        self._change_listeners.append(callback)

    def remove_change_listener(self, callback) -> None:
        if callback in self._change_listeners:
            self._change_listeners.remove(callback)

    def _changed(self) -> None:
        for callback in list(self._change_listeners):
            callback()

    def _require_running(self) -> None:
        if not self.running:
            raise LabStateError(f"lab {self.name!r} is not running: call lab.start() (or use 'with Lab(...) as lab')")

    def _capable(self, capability: type[C], stopped_ok: bool = False) -> C:
        """The running backend as ``capability`` (UnsupportedOperation naming the backends that have it).

        ``stopped_ok``: a stopped *sim* lab still answers, since sim's observations are functions of
        the model alone; every other backend needs its running cluster.
        """
        if not self.running and stopped_ok and self.backend_name == "sim":
            from .backends.sim import SimBackend

            return require(SimBackend(), capability)
        self._require_running()
        return require(self.backend, capability)

    # ------------------------------------------------------------------ objects

    @property
    def policy_set(self) -> PolicySet:
        if self._policy_generation != self.state.generation or self._policy_set is None:
            self._policy_set = compile_policies(self.state)
            self._policy_generation = self.state.generation
        return self._policy_set

    def apply(self, manifest: ManifestSource) -> ApplyResult:
        """Create or update the objects of a manifest (path, YAML text, dict or list of dicts).

        All or nothing: if any object is invalid, ManifestError lists every problem and nothing
        is applied.
        """
        return self._apply_items(*parse_manifest(manifest))

    def _apply_items(self, items: list[tuple[Any, Document]], problems: list[Problem] | None = None) -> ApplyResult:
        with self.lock, self._all_or_nothing():
            result = self.state.apply(items, problems)
            for obj, _ in items:
                self._applied.pop(obj.ref, None)
                self._applied[obj.ref] = dict(obj.raw)
            self._sync([dict(obj.raw) for obj, _ in items])
            self._changed()
            return result

    @contextlib.contextmanager
    def _all_or_nothing(self):
        """A change the backend could not realize (a node down, flows refused) leaves the model as it
        was, as the datapath is (the backend rolled itself back): nothing of it was applied."""
        objects, applied, generation = dict(self.state.objects), dict(self._applied), self.state.generation
        try:
            yield
        except BaseException:
            self._applied = applied
            if self.state.generation != generation:  # the model changed before the backend failed
                self.state.objects = objects
                self.state.generation += 1  # a new generation: the policy set is compiled again
            raise

    def delete(self, what: ManifestSource | ObjectRef | list[str | ObjectRef],
               ignore_not_found: bool = False) -> list[ObjectRef]:
        """Delete the objects a manifest names, or objects given as ``kind/[namespace/]name`` (one or a list)."""
        refs = _refs_to_delete(what)
        with self.lock, self._all_or_nothing():
            deleted = self.state.delete(refs, ignore_not_found=ignore_not_found)
            for ref in deleted:
                self._applied.pop(ref, None)
                if ref.kind == "Namespace":
                    for other in [r for r in self._applied if r.namespace == ref.name]:
                        self._applied.pop(other)
            self._sync([])
            self._changed()
            return deleted

    def diff(self, apply: ManifestSource | None = None, delete: ManifestSource | ObjectRef | list | None = None,
             probes: list | None = None):
        """What would change if ``apply`` were applied and ``delete`` deleted (what ``lab.apply`` /
        ``lab.delete`` take; deletions first), without changing the lab: a
        :class:`~labkit.policy.diff.PolicyDiff` of every (source, destination, probe) whose verdict
        differs, with the deciding rule before and after (``.to_frame()``, ``.summary()``).

        ``probes``: ``[("TCP", 80), ("UDP", 53), ("ICMP", None)]``, or ``None`` for one probe per
        span of ports/ICMP types the rules of either state tell apart (nothing goes unseen).
        Computed by the engine on every backend: the change is applied to a scratch copy of the
        cluster state, the backend is never synced and no packet is sent.
        """
        from .policy.diff import diff_states, scratch_state

        with self.lock:  # one consistent "before", even while another face (kubectl) changes the lab
            before, after, policies = scratch_state(self.state), scratch_state(self.state), self.policy_set
        if delete is not None:
            after.delete(_refs_to_delete(delete))
        if apply is not None:
            after.apply(*parse_manifest(apply))
        return diff_states(before, after, probes, before_policies=policies)

    def label(self, target: str, **labels: str | None) -> None:
        """Change a pod's (``ns/name``) or namespace's (``ns:name``) labels; None removes a label."""
        with self.lock, self._all_or_nothing():
            self._label(target, labels)
            self._changed()

    def _label(self, target: str, labels: dict[str, str | None]) -> None:
        if target.startswith("ns:"):
            ref = ObjectRef("", "Namespace", "", target[3:])
            obj = self.state.namespace(target[3:])
            if obj is None:
                raise NotFoundError(f"no namespace {target[3:]!r}")
        else:
            obj = self.state.pod(target)
            ref = obj.ref
        new = {k: v for k, v in {**obj.labels, **labels}.items() if v is not None}
        self.state.relabel(ref, new)
        raw = self._applied.get(ref)
        if raw is not None:
            raw = self._applied[ref] = copy.deepcopy(raw)  # a failed sync restores the original
            raw.setdefault("metadata", {})["labels"] = {k: v for k, v in new.items()
                                                        if k != "kubernetes.io/metadata.name"}
        self._sync([])

    def _sync(self, manifests: list[dict]) -> None:
        if self.running and self.backend is not None:
            self.backend.sync(self.state, self.policy_set, manifests)

    # ------------------------------------------------------------------ views

    @property
    def pods(self):
        """DataFrame of pods: namespace, name, node, ip, labels."""
        return views.pods(self.state)

    @property
    def nodes(self):
        return views.nodes(self.state)

    @property
    def namespaces(self):
        return views.namespaces(self.state)

    @property
    def services(self):
        return views.services(self.state)

    def policies(self):
        """Every policy in effective order (``antctl get netpol --sort-by=effectivePriority``), with
        the status Antrea reports on Antrea-native ones (phase, nodes, Realizable condition)."""
        return views.policies(self.state, self.policy_set, self._realized_nodes())

    def get(self, kind: str):
        """kubectl-like table of one kind (``pods``, ``acnp``, ``annp``, ``netpol``, ``tiers``, ``cg`` ...)."""
        return views.get(self.state, self.policy_set, kind, self._realized_nodes())

    def policy_status(self, ref: str | ObjectRef) -> PolicyStatus | None:
        """``status`` of an Antrea-native policy (``acnp/NAME``, ``annp/NS/NAME``) as antrea-controller
        writes it: phase, observedGeneration, current/desired Nodes, conditions (None for netpol)."""
        target = ref if isinstance(ref, ObjectRef) else parse_ref(ref)
        if target is None:
            raise NotFoundError(f"{ref!r} is not a reference like acnp/NAME or annp/NAMESPACE/NAME")
        return policy_status(self.state, self.policy_set, target, self._realized_nodes())

    def _realized_nodes(self) -> list[str] | None:
        # A running lab realizes every change before apply returns; a stopped one realizes nothing.
        return None if self.running else []

    def lint(self) -> list:
        """Findings about policies that are legal but likely wrong (nondeterministic ties, missing
        groups, shadowed rules, unrealizable policies, ...)."""
        from .policy.lint import lint

        return lint(self.state, self.policy_set)

    def pod_ip(self, pod: str) -> str:
        return self.state.pod(pod).pod_ip

    def pod(self, pod: str) -> Pod:
        return self.state.pod(pod)

    # ------------------------------------------------------------------ verdicts

    def _pod_keys(self, pods: list[str] | None, namespaces: list[str] | None) -> list[str]:
        keys = [p.key for p in self.state.pods]
        if namespaces is not None:
            keys = [k for k in keys if k.split("/")[0] in namespaces]
        if pods is not None:
            for k in pods:
                self.state.pod(k)  # raises NotFoundError with the list of known pods
            keys = [self.state.pod(k).key for k in pods]
        return keys

    def reachability(self, port: int | None = 80, protocol: str = "TCP", src_port: int | None = None,
                     sources: list[str] | None = None, destinations: list[str] | None = None,
                     namespaces: list[str] | None = None, icmp_type: int = 8, icmp_code: int = 0) -> Reachability:
        """Verdicts between pods for one port/protocol (computed on sim, measured on ovs/kind)."""
        self._require_running()
        probe = Probe(protocol.upper(), port if protocol.upper() != "ICMP" else None, src_port, icmp_type, icmp_code)
        src = self._pod_keys(sources, namespaces)
        dst = self._pod_keys(destinations, namespaces)
        return self.backend.reachability(self.state, self.policy_set, probe, src, dst)

    def expected_reachability(self, port: int | None = 80, protocol: str = "TCP", src_port: int | None = None,
                              sources: list[str] | None = None, destinations: list[str] | None = None,
                              namespaces: list[str] | None = None, icmp_type: int = 8,
                              icmp_code: int = 0) -> Reachability:
        """What Antrea's semantics predict (the engine), whatever the backend."""
        probe = Probe(protocol.upper(), port if protocol.upper() != "ICMP" else None, src_port, icmp_type, icmp_code)
        ev = evaluate(self.policy_set, self.state.pods, probe, self._pod_keys(sources, namespaces),
                      self._pod_keys(destinations, namespaces))
        return Reachability.from_evaluation(ev, probe, self.policy_set, backend="engine")

    def explain(self, src: str, dst: str, port: int | None = 80, protocol: str = "TCP",
                src_port: int | None = None) -> Explanation:
        """The deciding rule on the egress side (at src) and the ingress side (at dst), as the
        running backend answers it (kind: antrea-controller's own answer when it gives one); a
        stopped lab answers from labkit's engine."""
        s, d = self.state.pod(src).key, self.state.pod(dst).key
        probe = _probe(port, protocol, src_port)
        if not self.running:
            return engine_explain(self.state, self.policy_set, s, d, probe)
        return require(self.backend, Explains).explain(self.state, self.policy_set, s, d, probe)

    def traceflow(self, src: str, dst: str, port: int | None = 80, protocol: str = "TCP",
                  src_port: int | None = None):
        """The path of one packet as Antrea's Traceflow reports it (per-node observations).

        Backends that can trace real packets (ovs: OVS packet tracing; kind: the Traceflow CRD)
        do; on sim the trace is predicted from the policy engine's explanation.
        """
        tracer = self._capable(Traceflows)
        return tracer.traceflow(self.state, self.policy_set, self.state.pod(src).key, self.state.pod(dst).key,
                                _probe(port, protocol, src_port))

    def verify(self, repair: bool = False):
        """Compare the running datapath with the lab's model: every node's daemons, flows (with the
        ones compiled from the lab's policies, per table and rule), ports and pods. Returns a
        :class:`labkit.backends.verification.VerifyReport` (``.ok``, ``.findings``, ``.to_frame()``);
        ``repair=True`` restarts, reinstalls and rebuilds what differs first (``.remaining`` is what
        a second look still finds). ovs only: sim computes its verdicts from the model itself."""
        with self.lock:  # one consistent model to compare with, even while another face changes the lab
            return self._capable(Verifies).verify(self.state, self.policy_set, repair)

    def dump_flows(self, node: str, table: str | None = None):
        """The OpenFlow flows of one node's ``br-int`` as a DataFrame (table name, priority, match,
        actions, packet and byte counters, the policy rule a flow realizes), like ``antctl get
        ovsflows``; ``table`` narrows to one of Antrea's tables (e.g. ``"IngressRule"``).

        Only backends with a real switch have flows: ``ovs`` (and, later, ``kind``).
        """
        return self._capable(DumpsFlows).dump_flows(node, table)

    def exec(self, pod: str, command: list[str], timeout_s: float = 30.0) -> ExecResult:
        """Run ``command`` in a pod, as ``kubectl exec`` does: a real process in the pod's network
        namespace on ovs; on sim the usual probes (``wget``, ``curl``, ``nc``, ``agnhost connect``)
        answered from the engine's verdict."""
        runner = self._capable(Executes)
        return runner.exec(self.state, self.policy_set, self.state.pod(pod).key, list(command), timeout_s)

    # ------------------------------------------------------------------ encryption and SmartNICs

    @property
    def encryption(self) -> str:
        """Antrea's ``trafficEncryptionMode`` of this lab: none | ipsec | wireGuard."""
        return self._encryption

    def set_encryption(self, mode: str) -> None:
        """Switch inter-node traffic to ``none``, ``ipsec`` or ``wireGuard`` (Antrea's spelling).

        On sim this sets what :meth:`capture` puts on the wire; backends with a real underlay
        (ovs) reconfigure their tunnels when they support it.
        """
        from .encryption.wire import check_mode

        check_mode(mode)
        self._capable(Encrypts, stopped_ok=True).set_encryption(self.state, mode)
        self._encryption = mode

    def capture(self, src: str, dst: str):
        """What a person tapping the underlay between the two pods' nodes captures for one HTTP
        request: a :class:`labkit.encryption.wire.Capture` (``.table()``, ``.write_pcap(path)``).

        On sim the frames are built byte for byte (IPsec and WireGuard ones marked emulated);
        backends with a real underlay capture real packets when they support it.
        """
        return self._capable(Captures, stopped_ok=True).capture(self.state, self.state.pod(src).key,
                                                                self.state.pod(dst).key, self._encryption)

    def offload_report(self, node: str | None = None, profile: Any = None, flow_capacity: int | None = None,
                       reset: bool = False):
        """Which datapath flows a SmartNIC holds, which stay on the host and why, with packet counts:
        a :class:`labkit.smartnic.report.OffloadReport` (``.flows()``, ``.totals()``, ``.reasons()``).

        On ovs: every node's (or ``node``'s) real megaflows and OVS's counters, classified with the
        node's NIC profile from the topology (or ``profile``: a name in topologies/smartnic.yaml or
        a NicProfile); ``flow_capacity`` overrides the NIC's flow-table size; ``reset`` then starts
        a new window (datapath flows and counters cleared). On sim: the sim's flow model (labelled
        ``modelled``).
        """
        reporter = self._capable(ReportsOffload)
        from .smartnic.profiles import get_profile

        nic = get_profile(profile) if isinstance(profile, str) else profile
        return reporter.offload_report(node, nic, flow_capacity, reset)

    def representors(self):
        """SmartNIC topologies: each pod's virtual function, its VF representor and br-int port."""
        return self._capable(ShowsRepresentors).representors()

    def steady_traffic(self, pairs: list[tuple[str, str]], port: int = 80, pps: float = 50.0,
                       churn_per_s: float = 0.0):
        """Start background traffic between pod pairs (UDP streams at ``pps`` datagrams/s each, plus
        ``churn_per_s`` short TCP connections/s); returns a handle with ``.stop()`` and ``.stats``.
        Stopped with the lab at the latest. ovs only: the sim models traffic (labkit.smartnic.simulate)."""
        sender = self._capable(SteadyTraffic)
        return sender.steady_traffic([(self.state.pod(s).key, self.state.pod(d).key) for s, d in pairs], port, pps,
                                     churn_per_s)

    def compromise_host(self, node: str):
        """Play root on a node's host OS against the policy, with real commands (ovs, SmartNIC
        topologies): on a DPU node every attempt is made and fails; where OVS runs on the host only
        harmless look-ups are made, and they succeed. Returns the attack log (a DataFrame)."""
        return self._capable(AttacksHost).host_attack(node)

    # ------------------------------------------------------------------ flows

    def generate_traffic(self, profile: Any = "shop", duration_s: float = 60.0, seed: int = 0):
        """Run a traffic profile (application flows plus denied probes) through the lab and return
        the run; ``run.frame()`` has every node's flow records, ``lab.flows(run)`` the aggregated ones.

        On sim the records are synthesized; on ovs the profile runs as real connections (a minute
        of profile time in about 3 s) and the records come from OVS IPFIX and conntrack.
        """
        player = self._capable(GeneratesTraffic, stopped_ok=True)
        return player.generate_traffic(self.state, self.policy_set, profile, duration_s=duration_s, seed=seed)

    def flows(self, run: Any, aggregate: bool = True):
        """Flow records of a traffic run as a DataFrame: correlated by the Flow Aggregator
        (Antrea's Aggregate mode) or, with ``aggregate=False``, as each node exported them."""
        return run.aggregate().flows() if aggregate else run.frame()

    def recommend_policies(self, flows: Any, **options: Any):
        """Least-privilege policies that allow exactly the observed flows (Theia-style): a
        Recommendation whose ``.manifests`` ``lab.apply`` accepts."""
        from .flows.recommend import recommend_policies

        return recommend_policies(flows, self.state, **options)

    # ------------------------------------------------------------------ persistence (CLI)

    def manifests(self) -> list[dict]:
        """Raw manifests of every object applied, in apply order (profile objects first)."""
        return list(self._applied.values())

    def save(self) -> Path:
        """Write the lab's definition to ``<state_dir>/lab.json`` so another process can resume it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "format": 1,
            "name": self.name,
            "backend": self.backend_name,
            "backend_options": {k: v for k, v in self.backend_options.items() if isinstance(v, (str, int, float, bool))},
            "profile": self.profile.path or self.profile.name,
            "manifests": self.manifests(),
            "allocations": {p.key: [p.node_name, p.pod_ip] for p in self.state.pods},
            "generations": {str(ref): gen for ref, gen in self.state.object_generations.items() if gen > 1},
            "running": self.running,
            "encryption": self._encryption,
        }
        path = self.state_dir / "lab.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, default=str))
        tmp.replace(path)  # atomic: a crash never leaves half a state file
        return path

    @classmethod
    def resume(cls, name: str = "lab", state_dir: str | os.PathLike | None = None, start: bool = True) -> "Lab":
        """Rebuild a lab saved by :meth:`save` (the CLI does this for every command without a live
        owner; ``start=False``: the model only, e.g. for ``lab.diff``, which needs no backend).

        Backends that can take over a cluster still running (kind: the Resumable capability)
        re-attach to it; the others (sim, and ovs, whose lab lives in the process that started it)
        are started again from the saved objects.
        """
        directory = Path(state_dir) if state_dir else default_state_root() / name
        path = directory / "lab.json"
        if not path.exists():
            raise LabStateError(f"no lab {name!r} (no {path}); create one with 'labkit up --name {name}'")
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise LabStateError(f"the state of lab {name!r} in {path} is unreadable ({exc}); "
                                f"remove it with 'labkit down --name {name}'") from exc
        profile = record.get("profile")
        allocations = {k: (v[0], v[1]) for k, v in record.get("allocations", {}).items()}
        lab = cls(backend=record["backend"], profile=None if profile == "empty" else profile, name=record["name"],
                  state_dir=directory, start=False, backend_options=record.get("backend_options"),
                  _allocations=allocations, _restoring=True)
        lab.state.generation_hints = dict(record.get("generations", {}))  # metadata.generation survives
        if record.get("manifests"):
            lab._apply_items(load_manifest_docs(documents_from_data(record["manifests"], source=str(path))))
        if start and record.get("running", True):
            lab.backend = _make_backend(lab.backend_name, lab)
            if has(lab.backend, Resumable):
                require(lab.backend, Resumable).attach(lab.state, lab.policy_set)
            else:
                lab.backend.start(lab.state, lab.policy_set)
            lab.running = True
            if record.get("encryption", "none") != "none":  # trafficEncryptionMode set by an earlier command
                lab.set_encryption(record["encryption"])
        return lab


def _refs_to_delete(what: ManifestSource | ObjectRef | list) -> list[ObjectRef]:
    """Objects named by a reference (``acnp/name``, an ObjectRef), a list of references, or a manifest."""
    if isinstance(what, ObjectRef):
        return [what]
    if isinstance(what, str) and resolve_path(what) is None and (ref := parse_ref(what)) is not None:
        return [ref]
    if isinstance(what, (list, tuple)) and what and all(isinstance(w, (str, ObjectRef)) for w in what):
        return [ref for w in what for ref in _refs_to_delete(w)]
    return [obj.ref for obj, _ in load_manifest(what)]


def _probe(port: int | None, protocol: str, src_port: int | None) -> Probe:
    protocol = protocol.upper()
    return Probe(protocol, port if protocol != "ICMP" else None, src_port)


def load_manifest_docs(docs: list[Document]) -> list[tuple[Any, Document]]:
    from .model.parse import parse_document

    items, problems = [], []
    for doc in docs:
        obj, found = parse_document(doc)
        problems += found
        if obj is not None:
            items.append((obj, doc))
    if problems:
        raise ManifestError(problems)
    return items


__all__ = ["Lab", "BACKENDS", "ovs_available", "parse_ref", "KIND_ALIASES", "Problem"]
