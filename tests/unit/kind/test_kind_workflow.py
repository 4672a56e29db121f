"""The kind CI workflow (.github/workflows/kind-e2e.yml) agrees with labkit's pins and config files.

The workflow runs what this machine cannot (Docker). It can still be checked here: that it pins
the versions clusters/kind-antrea.yaml pins, creates the cluster labkit would create for the
workshop profile, installs Antrea from the manifest URL labkit uses, waits with labkit's own
commands, enables the e2e tests the way tests/e2e/kind/conftest.py reads them, collects logs on
failure and always deletes the cluster. Every labkit command line in it must parse with labkit's
CLI. Nothing here runs a command.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from labkit.backends.kind.cluster import ANTREA_ROLLOUTS, load_pins, manifest_url, render_kind_config
from labkit.backends.kind.tools import parse_version
from labkit.cli import build_parser
from labkit.model.profile import load_profile


ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "kind-e2e.yml"
E2E_CONFTEST = ROOT / "tests" / "e2e" / "kind" / "conftest.py"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def expand(text: str, env: dict[str, str]) -> str:
    """The shell's ${VAR} / "$VAR" expansion for the workflow's own variables."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), text)


def commands(step: dict, env: dict[str, str]) -> list[list[str]]:
    """Each simple command of a run step (one per line; shell control lines skipped)."""
    out = []
    for line in expand(step.get("run", ""), env).splitlines():
        line = line.strip().removesuffix("|| true").strip()
        if not line or line.startswith(("#", "for ", "do", "done")):
            continue
        out.append(shlex.split(line))
    return out


def job_env(workflow: dict, job: str) -> dict[str, str]:
    return {**workflow["env"], **workflow["jobs"][job].get("env", {})}


JOBS = ("antrea-cluster", "labkit-kind")


def test_versions_are_the_pinned_ones(workflow):
    pins = load_pins()
    env = workflow["env"]
    assert env["KIND_VERSION"] == pins.kind_ci
    assert env["KUBECTL_VERSION"] == pins.kubectl_ci
    assert env["ANTREA_VERSION"] == pins.antrea_version
    assert parse_version(env["KIND_VERSION"]) >= pins.kind_min
    assert parse_version(env["KUBECTL_VERSION"]) >= pins.kubectl_min


@pytest.mark.parametrize("job", JOBS)
def test_tools_are_installed_at_those_versions_and_checked(workflow, job):
    env = job_env(workflow, job)
    lines = [c for s in steps(workflow, job) for c in commands(s, env)]
    urls = [arg for c in lines if c[0] == "curl" for arg in c if arg.startswith("https://")]
    assert f"https://kind.sigs.k8s.io/dl/{env['KIND_VERSION']}/kind-linux-amd64" in urls
    assert f"https://dl.k8s.io/release/{env['KUBECTL_VERSION']}/bin/linux/amd64/kubectl" in urls
    assert any("sha256sum" in c and "--check" in c for c in lines)  # kubectl's published checksum
    assert ["kind", "version"] in lines and ["kubectl", "version", "--client"] in lines
    assert ["sudo", "modprobe", "openvswitch"] in lines  # what labkit's pre-flight asks for
    assert ["labkit", "doctor", "-v"] in lines


def test_cluster_is_the_one_labkit_creates_for_the_workshop(workflow):
    env = job_env(workflow, "antrea-cluster")
    create = [c for s in steps(workflow, "antrea-cluster") for c in commands(s, env) if c[:3] == ["kind", "create", "cluster"]]
    assert len(create) == 1
    argv = create[0]
    config_path = ROOT / argv[argv.index("--config") + 1]
    assert config_path == ROOT / "clusters" / "kind-workshop.yaml"
    as_file = yaml.safe_load(config_path.read_text())
    assert render_kind_config(load_profile("workshop").workers) == as_file  # same nodes, same networking
    assert as_file["networking"]["disableDefaultCNI"] is True  # Antrea is the CNI (Antrea docs/kind.md)
    assert "--wait" not in argv  # Nodes are NotReady until a CNI runs: kind's --wait would time out


def test_antrea_is_installed_and_awaited_as_labkit_does(workflow):
    env = job_env(workflow, "antrea-cluster")
    lines = [c for s in steps(workflow, "antrea-cluster") for c in commands(s, env)]
    applies = [c for c in lines if c[:2] == ["kubectl", "apply"]]
    assert applies == [["kubectl", "apply", "-f", manifest_url(env["ANTREA_VERSION"])]]
    # labkit waits through the Kubernetes client for the same rollouts (kube.rollout_complete
    # implements kubectl rollout status's conditions): same objects, same order.
    labkit_waits = [["kubectl", "rollout", "status", f"{kind}/{name}", "-n", "kube-system"]
                    for kind, name in ANTREA_ROLLOUTS]
    ours = [[a for a in c if not a.startswith("--timeout=")] for c in lines if c[1:3] == ["rollout", "status"]]
    assert ours == labkit_waits  # deployment/antrea-controller, then daemonset/antrea-agent
    assert lines.index(applies[0]) < lines.index(next(c for c in lines if c[1:3] == ["rollout", "status"]))


def test_e2e_tests_are_enabled_the_way_their_conftest_reads_it(workflow):
    conftest = E2E_CONFTEST.read_text()
    for job in JOBS:
        runs = [s for s in steps(workflow, job) if "pytest tests/e2e/kind" in s.get("run", "")]
        assert len(runs) == 1, job
        step_env = runs[0].get("env", {})
        assert step_env.get("LABKIT_REQUIRE_KIND") == "true"  # never green by skipping
        assert "LABKIT_REQUIRE_KIND" in conftest
    context = steps(workflow, "antrea-cluster")
    step = next(s for s in context if "pytest tests/e2e/kind" in s.get("run", ""))
    # kind names the kubeconfig context kind-<cluster name>
    assert step["env"]["LABKIT_E2E_KUBE_CONTEXT"] == "kind-" + workflow["jobs"]["antrea-cluster"]["env"]["CLUSTER"]
    assert "LABKIT_E2E_KUBE_CONTEXT" in conftest


@pytest.mark.parametrize("job", JOBS)
def test_logs_on_failure_and_the_cluster_always_deleted(workflow, job):
    env = job_env(workflow, job)
    job_steps = steps(workflow, job)
    collect = [s for s in job_steps if s.get("if") == "failure()" and "kind export logs" in s.get("run", "")]
    upload = [s for s in job_steps if s.get("if") == "failure()" and s.get("uses", "").startswith("actions/upload-artifact@")]
    assert collect and upload
    last = job_steps[-1]
    assert last.get("if") == "always()"
    assert any(c[:3] == ["kind", "delete", "cluster"] for c in commands(last, env))


@pytest.mark.parametrize("job", JOBS)
def test_every_step_is_named_and_labkit_commands_parse(workflow, job):
    env = job_env(workflow, job)
    parser = build_parser()
    for step in steps(workflow, job):
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step["uses"]  # pinned major version
            continue
        assert step.get("name"), f"unnamed step in {job}: {step.get('run', '')[:60]}"
        for argv in commands(step, env):
            if argv[0] == "labkit":
                parser.parse_args(argv[1:])  # SystemExit on an unknown command or flag


def test_workflow_knows_what_the_kind_backend_needs():
    text = WORKFLOW.read_text()
    assert "clusters/kind-workshop.yaml" in text and "ubuntu-" in text
    # docs/backend-kind.md tells users how to run the same locally
    assert "kind-e2e.yml" in (ROOT / "docs" / "backend-kind.md").read_text()
