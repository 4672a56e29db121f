"""labkit diff, run as a real process: on a lab, on a profile or snapshot, and between two
revisions of a real (temporary) git repository; its Markdown is what a PR comment shows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labkit import Lab

ROOT = Path(__file__).resolve().parents[3]
SNAPSHOT = ROOT / "tests" / "unit" / "model" / "data" / "cluster-snapshot.yaml"

ALLOW_X = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "allow-from-y", "namespace": "x"},
           "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                                 "ports": [{"protocol": "TCP", "port": 80}]}]}}
REJECT_Z = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "reject-z"},
            "spec": {"priority": 5, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}],
                     "ingress": [{"action": "Reject", "name": "no-x", "from": [
                         {"namespaceSelector": {"matchLabels": {"ns": "x"}}}]}]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "x"},
              "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                  "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "w", "image": "nginx"}]}}}}


def run(*args, cwd=ROOT, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, input=stdin, timeout=120)


@pytest.fixture()
def env(tmp_path):
    return {**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "state"), "LABKIT_HOME": str(ROOT)}


def write(path: Path, *docs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_diff_on_a_lab_in_every_output_and_exit_code(env, tmp_path):
    assert run("up", "--profile", "workshop", env=env).returncode == 0
    new = write(tmp_path / "new.yaml", ALLOW_X, REJECT_Z)
    table = run("diff", "-f", str(new), env=env)
    assert table.returncode == 0, table.stderr
    assert "connections change" in table.stdout and "By namespace pair:" in table.stdout
    assert run("diff", "-f", str(new), "--exit-code", env=env).returncode == 1
    data = json.loads(run("diff", "-f", str(new), "-o", "json", env=env).stdout)
    with Lab(profile="workshop") as lab:
        d = lab.diff(apply=[ALLOW_X, REJECT_Z])
    assert data["changed"] == len(d) and data["counts"] == d.counts()
    assert len(data["changes"]) == len(d) and data["probes"] == [str(s) for s in d.spans]
    rows = run("diff", "-f", str(new), "-o", "csv", env=env).stdout.strip().splitlines()
    assert rows[0] == "src,dst,protocol,port,ports,before,after,before_rule,after_rule" and len(rows) == len(d) + 1
    # the lab was not changed, nor saved
    assert "0 drop" in run("matrix", env=env).stdout
    # -f after a bare --delete deletes: apply and then "replace" with nothing changes nothing
    assert run("apply", "-f", str(new), env=env).returncode == 0
    same = run("diff", "-f", str(new), "--delete", "-f", str(new), "--exit-code", env=env)
    assert same.returncode == 0 and "No connection changes" in same.stdout, same.stdout + same.stderr
    gone = json.loads(run("diff", "--delete", "-f", str(new), "-o", "json", env=env).stdout)
    assert gone["counts"] == {"opened": d.counts()["closed"], "closed": d.counts()["opened"],
                              "reject->drop": 0, "drop->reject": 0}
    one = json.loads(run("diff", "--delete", "acnp/reject-z", "--probe", "TCP/80", "-o", "json", env=env).stdout)
    assert one["probes"] == ["TCP 80"] and one["counts"]["opened"] == 9


def test_errors_are_one_line_with_the_fix_and_exit_2(env, tmp_path):
    run("up", "--profile", "workshop", env=env)
    cases = [(["diff", "--delete", "acnp/nope"], "acnp/nope not found"),
             (["diff"], "nothing to compare"),
             (["diff", "-f", "policies/deny-all.yaml", "--probe", "TCP"], "PROTOCOL/PORT"),
             (["diff", "--git", "main"], "BASE..HEAD"),
             (["diff", "-f", "policies/deny-all.yaml", "--delete"], "--delete names nothing"),
             (["diff", "--git", "HEAD~1..HEAD", "-f", "x.yaml"], "one or the other"),
             (["diff", "-f", "x.yaml", "--profile", "workshop", "--from-snapshot", str(SNAPSHOT)], "give one of them")]
    for args, message in cases:
        proc = run(*args, env=env)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error: ") and message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: b, namespace: x}\n"
                   "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 90, endPort: 80}]\n")
    proc = run("diff", "-f", str(bad), env=env)
    assert proc.returncode == 2 and f"{bad}:7" in proc.stderr and "endPort" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture()
def repo(tmp_path):
    """A git repository with two commits of policies/ (and a Deployment that is not a policy)."""
    root = tmp_path / "repo"
    root.mkdir()
    git = lambda *a: subprocess.run(["git", *a], cwd=root, check=True, capture_output=True, text=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    git("config", "user.email", "ci@example.com")
    git("config", "user.name", "CI")
    write(root / "policies" / "x.yaml", ALLOW_X)
    write(root / "policies" / "z.yaml", REJECT_Z)
    write(root / "apps" / "web.yaml", DEPLOYMENT)
    (root / "README.md").write_text("policies of the shop\n")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    changed = json.loads(json.dumps(ALLOW_X))
    changed["spec"]["ingress"][0]["ports"] = [{"protocol": "TCP", "port": 80}, {"protocol": "UDP", "port": 53}]
    write(root / "policies" / "x.yaml", changed, DEPLOYMENT)  # updated, and a non-policy document beside it
    (root / "policies" / "z.yaml").unlink()  # deleted
    deny = yaml.safe_load((ROOT / "policies" / "deny-all.yaml").read_text())
    write(root / "policies" / "new" / "deny.yaml", deny)  # added
    git("add", "-A")
    git("commit", "-q", "-m", "head")
    return root, changed, deny


def test_git_diff_compares_two_revisions_exactly_as_lab_diff(env, repo):
    root, changed, deny = repo
    proc = run("diff", "--git", "HEAD~1..HEAD", "policies", "--profile", "workshop", "-o", "json",
               "--exit-code", cwd=root, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "left out 1 documents that are not policies (Deployment 1)" in proc.stderr
    data = json.loads(proc.stdout)
    with Lab(profile="workshop") as lab:
        lab.apply([ALLOW_X, REJECT_Z])
        want = lab.diff(apply=[changed, deny], delete=["acnp/reject-z"])
    assert data["counts"] == want.counts() and data["changed"] == len(want)
    frame = want.to_frame()
    assert [(c["src"], c["dst"], c["protocol"], c["ports"], c["before"], c["after"]) for c in data["changes"]] == \
        list(zip(frame.src, frame.dst, frame.protocol, frame.ports, frame.before, frame.after))
    # a subdirectory narrows the comparison; a revision without changes there exits 0
    only_new = json.loads(run("diff", "--git", "HEAD~1..HEAD", "policies/new", "--profile", "workshop", "-o", "json",
                              cwd=root, env=env).stdout)
    with Lab(profile="workshop") as lab:
        assert only_new["counts"] == lab.diff(apply=deny).counts()
    assert run("diff", "--git", "HEAD..HEAD", "--profile", "workshop", "--exit-code", cwd=root,
               env=env).returncode == 0
    # errors: an unknown revision, and a directory that is not a repository
    proc = run("diff", "--git", "nope..HEAD", "--profile", "workshop", cwd=root, env=env)
    assert proc.returncode == 2 and "fetch-depth" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run("diff", "--git", "HEAD~1..HEAD", "--profile", "workshop", cwd=root.parent, env=env)
    assert proc.returncode == 2 and "not in a git repository" in proc.stderr


def test_git_diff_on_a_snapshot_renders_a_pull_request_comment(env, tmp_path):
    root = tmp_path / "gitops"
    root.mkdir()
    git = lambda *a: subprocess.run(["git", *a], cwd=root, check=True, capture_output=True, text=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    git("config", "user.email", "ci@example.com")
    git("config", "user.name", "CI")
    shop = yaml.safe_load_all(SNAPSHOT.read_text())
    policies = [i for i in next(shop)["items"] if i["metadata"].get("name") in ("default-deny", "web-to-api")]
    write(root / "shop" / "netpol.yaml", *policies)
    git("add", ".")
    git("commit", "-q", "-m", "as deployed")
    opened = json.loads(json.dumps(policies[1]))
    opened["spec"]["ingress"][0]["from"].append({"namespaceSelector": {"matchLabels": {"team": "platform"}}})
    opened["metadata"]["name"] = "web-to-api"
    write(root / "shop" / "netpol.yaml", policies[0], opened)
    git("commit", "-qam", "let monitoring scrape the api")
    proc = run("diff", "--git", "HEAD~1..HEAD", "--from-snapshot", str(SNAPSHOT), "-o", "markdown",
               "--exit-code", cwd=root, env=env)
    assert proc.returncode == 1, proc.stderr
    md = proc.stdout
    check_markdown(md)
    assert md.startswith(f"### labkit policy diff: HEAD~1..HEAD on snapshot {SNAPSHOT}\n")
    assert "**1 connection change: 1 opened (4 pods compared" in md
    row = [line for line in md.splitlines() if line.startswith("| `monitoring/prometheus-0`")]
    assert len(row) == 1 and "| `shop/backend-0` | TCP | 9000 | drop | allow |" in row[0]
    assert "K8sNetworkPolicy:shop/web-to-api rule ingress[0] (Allow)" in row[0]


def check_markdown(md: str) -> None:
    """GitHub-flavoured Markdown that renders: every table row has its header's cell count (escaped
    pipes are not separators), the <details> block is closed, and the whole fits a PR comment."""
    assert len(md) < 65_536
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(-{3}:?\|)+", lines[i + 1]):
            width = len(re.split(r"(?<!\\)\|", lines[i])) - 2
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                assert len(re.split(r"(?<!\\)\|", lines[j])) - 2 == width, lines[j]
                j += 1
            assert lines[i - 1] == "" and (j == len(lines) or lines[j] == ""), "tables need blank lines around them"
            i = j
        else:
            i += 1
    assert md.count("<details>") == md.count("</details>")


def test_the_markdown_escapes_and_truncates(env, tmp_path):
    run("up", "--profile", "workshop", env=env)
    odd = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "pipes"},
           "spec": {"priority": 1, "appliedTo": [{"podSelector": {}}],
                    "ingress": [{"action": "Drop", "name": "a-b"}]}}
    new = write(tmp_path / "odd.yaml", odd)
    md = run("diff", "-f", str(new), "-o", "markdown", "--max-rows", "4", "--title", "PR #7 | shop", env=env).stdout
    check_markdown(md)
    assert md.startswith("### labkit policy diff: PR #7 \\| shop\n")
    assert "the first 4)</summary>" in md and "more: run `labkit diff ... -o csv` for every row." in md
    assert len([line for line in md.splitlines() if line.startswith("| `") and "/" in line.split("|")[1]]) == 4


def test_up_from_a_snapshot_reports_and_persists(env):
    proc = run("up", "--name", "prod", "--from-snapshot", str(SNAPSHOT), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "profile snapshot, 2 nodes, 4 pods" in proc.stdout and "skipped 1 pod (hostNetwork" in proc.stdout
    pods = run("get", "pods", "--name", "prod", env=env).stdout
    assert "192.168.240.10" in pods and "worker-a" in pods
    assert run("up", "--name", "x", "--profile", "workshop", "--from-snapshot", str(SNAPSHOT),
               env=env).returncode == 1


def test_the_example_workflow_runs_a_command_labkit_accepts():
    """docs/examples/policy-diff.yml: valid YAML, triggered by policy changes, and its labkit diff
    command line parses with the real CLI parser (GitHub expressions filled in)."""
    import shlex

    from labkit.cli import build_parser

    workflow = yaml.safe_load((ROOT / "docs" / "examples" / "policy-diff.yml").read_text())
    trigger = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as YAML 1.1's True
    assert trigger["pull_request"]["paths"] == ["policies/**", "cluster-snapshot.yaml"]
    steps = workflow["jobs"]["diff"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    script = next(s["run"] for s in steps if "labkit diff" in s.get("run", ""))
    command = script.split("labkit diff", 1)[1].split(">", 1)[0].replace("\\\n", " ")
    command = re.sub(r"\$\{\{ github\.base_ref \}\}", "main", command)
    command = re.sub(r"\$\{\{ github\.event\.pull_request\.number \}\}", "7", command)
    args = build_parser().parse_args(["diff", *shlex.split(command)])
    assert args.git == "origin/main..HEAD" and args.paths == ["policies/"] and args.output == "markdown"
    assert args.exit_code and args.from_snapshot == "cluster-snapshot.yaml" and args.title == "#7"
    assert any(s.get("if") == "steps.diff.outputs.status == '2'" for s in steps)
