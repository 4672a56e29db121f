"""The CLI never shows a traceback for a user error (issue 14, item 6), driven with generated input.

Hypothesis generates command lines (every command, valid and absurd option values) and manifests
(YAML of any shape, YAML with anchors and aliases, tabs and control characters, non-UTF-8 bytes),
and runs ``labkit.cli.main(argv)`` in-process (fast: no interpreter per example). The property:
``main`` returns an exit code (0 ok, 1 user error, 2 usage error) and never raises; a user error is
an ``error: ...`` message. A few subprocess runs check the same end to end, where the interpreter's
own behaviour matters (a closed pipe, bytes on standard input).

Commands that reach outside the test are kept out: ``notebooks run`` without paths (the whole
course), ``kind prefetch`` (downloads), ``nsx`` (a server), ``up --backend ovs|kind|k8s|auto``,
and ``down --all`` / the ovs sweep of ``down --name`` (other developers' labs share this kernel).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import cli

ROOT = Path(__file__).resolve().parents[3]
PODS = ["x/a", "x/b", "y/a", "z/c", "ns:x", "x/nope", "nope"]


# ---------------------------------------------------------------------------- generated input

junk = st.text(max_size=12)
ints = st.integers(-5, 70000).map(str)
values = st.one_of(junk, ints, st.sampled_from(["80", "TCP", "udp", "icmp", "x/a", "y/b", "-", "", "nan", "1e9"]))

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=15))
yaml_data = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
known_kinds = st.sampled_from(["NetworkPolicy", "ClusterNetworkPolicy", "Tier", "ClusterGroup", "Group", "Namespace",
                               "Pod", "NetworkPolicy", "List", "Nonsense"])
objects = st.fixed_dictionaries({
    "apiVersion": st.sampled_from(["networking.k8s.io/v1", "crd.antrea.io/v1beta1", "v1", "x"]),
    "kind": known_kinds,
    "metadata": st.fixed_dictionaries({"name": st.one_of(junk, st.just("p1")), "namespace": st.sampled_from(["x", "y", "zz", ""])}),
    "spec": yaml_data})


def _text(docs: list) -> str:
    return "---\n".join(yaml.safe_dump(d, allow_unicode=True) for d in docs)


manifest_texts = st.one_of(
    st.lists(objects, max_size=3).map(_text),
    st.lists(yaml_data, max_size=3).map(_text),
    st.text(max_size=200),
    st.sampled_from(["a: &a [*a]\n", "a: &a {b: *a}\n", "? [a, b]\n: c\n", "- &x [*x, *x]\n", "\t- a\n", "---\n---\n",
                     "# only a comment\n", "kind: List\nitems: [1, {kind: Pod}]\n", "null\n", "'\\x00'\n",
                     "apiVersion: v1\nkind: Namespace\nmetadata: {name: Q}\n", "{{{", ":\n  - ]"]),
)
manifest_bytes = st.one_of(manifest_texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
                           st.binary(max_size=200), st.just(b"\xff\xfe\x00kind: Pod\n"), st.just(b"caf\xe9: 1\n"))


@st.composite
def argvs(draw) -> tuple[list[str], bytes | None]:
    """A command line, and the bytes of the manifest it reads (via -f FILE or -f -), if any."""
    command = draw(st.sampled_from(["up", "down", "status", "apply", "delete", "get", "matrix", "explain",
                                    "validate", "label", "lint", "doctor", "flows", "encryption", "capture",
                                    "course", "notebooks", "binder-link", "junk", "--help"]))
    argv = [command]
    manifest = None
    if command == "up":
        argv += draw(st.sampled_from([[], ["--profile", "workshop"], ["--profile", "shop"], ["--profile", "nope"],
                                      ["--backend", "sim"], ["--backend", "bogus"], ["--profile", "/etc/passwd"]]))
    elif command in ("apply", "validate", "delete"):
        manifest = draw(manifest_bytes)
        argv += ["-f", draw(st.sampled_from(["MANIFEST", "-", "/nonexistent.yaml", "MANIFEST_DIR"]))]
        if command == "delete":
            argv += draw(st.lists(st.sampled_from(["acnp/x", "netpol/x/y", "pod/x/a", "bad ref", "tier/"]), max_size=2))
    elif command == "get":
        argv += [draw(st.one_of(st.sampled_from(["pods", "acnp", "policies", "tiers", "cg", "svc"]), junk))]
        argv += draw(st.sampled_from([[], ["-n", "x"], ["-o", "json"], ["-o", "yaml"]]))
    elif command in ("matrix", "explain"):
        if command == "explain":
            argv += [draw(st.sampled_from(PODS)), draw(st.sampled_from(PODS))]
        for option in draw(st.lists(st.sampled_from(["--port", "--protocol", "--src-port", "-n"]), max_size=3)):
            argv += [option, draw(values)]
    elif command == "label":
        argv += [draw(st.sampled_from(PODS)), *draw(st.lists(st.one_of(
            st.tuples(junk, junk).map("=".join), junk.map(lambda k: k + "-"), junk,
            st.sampled_from(["a=b", "app.kubernetes.io/name=web", "x" * 64 + "=v", "k=" + "v" * 64, "-", "=", "a=-b"])),
            min_size=1, max_size=3))]
    elif command == "flows":
        argv += ["--duration", draw(st.sampled_from(["1", "0", "-3", "inf", "nan", "x"]))]
        argv += draw(st.sampled_from([[], ["--traffic", "nope"], ["--traffic", "/etc/hostname"], ["--action", "drop"],
                                      ["--pod", "x/a"], ["-o", "csv"]]))
    elif command == "encryption":
        argv += draw(st.lists(st.one_of(junk, st.sampled_from(["none", "ipsec", "wireGuard", "WIREGUARD"])), max_size=1))
    elif command == "capture":
        argv += [draw(st.sampled_from(PODS)), draw(st.sampled_from(PODS))]
        argv += draw(st.sampled_from([[], ["-w", "/nonexistent-dir/x.pcap"], ["-o", "json"]]))
    elif command == "course":
        argv += draw(st.sampled_from([["progress", "/nonexistent"], ["progress"], ["init", "/proc/nope/ws"],
                                      ["init", "--reset", "99", "WS"], ["link", "--hub", "x", "--repo", "y"],
                                      ["link"], ["bogus"], []]))
    elif command == "notebooks":
        argv += draw(st.sampled_from([["run", "/nonexistent.ipynb"], ["run", "--backend", "bogus", "x.ipynb"],
                                      ["run", "--timeout", "-1", "x.ipynb"], ["run", "MANIFEST"], ["bogus"], []]))
        manifest = b"not a notebook"
    elif command == "binder-link":
        argv += ["--repo", draw(junk), "--ref", draw(junk), "--notebook", draw(junk)]
    if command not in ("up", "doctor", "--help", "junk") and draw(st.booleans()):
        argv += ["--name", draw(st.one_of(st.just("lab"), junk))]
    return argv, manifest


# ---------------------------------------------------------------------------- the property


@pytest.fixture(scope="module")
def lab_state(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-property")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_STATE_DIR", str(root / "state"))
        # Never sweep this machine's ovs labs from a generated command (see the module docstring).
        mp.setattr(cli, "_take_down_ovs", lambda name, directory, force: True)
        mp.setattr(cli, "_sweep_backends", lambda force=False: None)
        yield root


def run_main(argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs())
def test_no_command_line_or_manifest_makes_a_traceback(lab_state, case):
    argv, manifest = case
    if not (lab_state / "state" / "lab" / "lab.json").exists():
        assert run_main(["up", "--profile", "workshop"])[0] == 0
    if manifest is not None:
        (lab_state / "m.yaml").write_bytes(manifest)
        directory = lab_state / "mdir"
        directory.mkdir(exist_ok=True)
        (directory / "m.yaml").write_bytes(manifest)
    argv = [{"MANIFEST": str(lab_state / "m.yaml"), "MANIFEST_DIR": str(lab_state / "mdir"),
             "WS": str(lab_state / "ws")}.get(a, a) for a in argv]
    if argv[:1] == ["down"]:
        argv.append("--state-dir=" + str(lab_state / "state" / "lab"))
    code, out, err = run_main(argv, manifest or b"")
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err + out, (argv, err)
    if code == 1:
        assert err.startswith("error: "), (argv, err)
    if code == 2:
        assert "usage:" in err or "usage:" in out, (argv, err)


# ---------------------------------------------------------------------------- a few real processes


def labkit_process(args: list[str], state: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labkit.cli", *args], cwd=ROOT, stderr=subprocess.PIPE,
                            env={**os.environ, "LABKIT_STATE_DIR": str(state)}, **kwargs)


def test_issue_14_cases_as_processes(tmp_path):
    state = tmp_path / "state"

    def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "labkit.cli", *args], cwd=ROOT, input=stdin, capture_output=True,
                              env={**os.environ, "LABKIT_STATE_DIR": str(state)}, timeout=120)

    assert run("up", "--profile", "workshop").returncode == 0
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    (tmp_path / "empty.yaml").write_text("# nothing here\n")
    cases = {
        ("matrix", "--port", "0"): (2, "0 is not a port number: use 1-65535"),
        ("get", "foo"): (2, "unknown kind 'foo'"),
        ("apply", "-f", str(tmp_path / "binary.yaml")): (1, "not UTF-8 text (byte 0x80 at offset 128)"),
        ("apply", "-f", str(tmp_path / "empty.yaml")): (1, "no objects passed to apply"),
        ("label", "x/a", "bad key!=v"): (1, "label key 'bad key!'"),
        ("label", "x/a", "k=" + "v" * 64): (1, "at most 63 characters"),
        ("label", "x/a", "example.com/" + "n" * 64 + "=v"): (1, "name part must be at most 63"),
        ("label", "x/a", "Example.com/n=v"): (1, "prefix must be a lowercase DNS subdomain"),
    }
    for args, (code, message) in cases.items():
        proc = run(*args)
        err = proc.stderr.decode()
        assert proc.returncode == code and message in err and "Traceback" not in err, (args, err)
    for stdin, message in ((b"\xff\xfekind: Pod\n", "<stdin>: not UTF-8 text"),
                           (b"a: &a [*a]\n", "recursive YAML anchor"), (b"", "standard input holds no YAML document")):
        proc = run("apply", "-f", "-", stdin=stdin)
        assert proc.returncode == 1 and message in proc.stderr.decode() and b"Traceback" not in proc.stderr
    ok = run("label", "x/a", "app.kubernetes.io/part-of=shop", "empty=", "pod-")
    assert ok.returncode == 0, ok.stderr


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    state = tmp_path / "state"
    assert labkit_process(["up", "--profile", "shop"], state).wait(60) == 0
    proc = labkit_process(["flows", "--duration", "60", "-o", "csv"], state, stdout=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line (as `| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 141 and err == "", err


def test_every_backend_up_offers_is_in_the_readme():
    """Issue 14: `labkit up --help` offered k8s, which the README never mentioned."""
    readme = (ROOT / "README.md").read_text()
    action = next(a for a in cli.build_parser()._subparsers._group_actions[0].choices["up"]._actions
                  if "--backend" in a.option_strings)
    for backend in action.choices:
        if backend != "auto":
            assert f"| `{backend}`" in readme, f"README's backend table lacks {backend}"
    assert "backend=\"auto\"" in readme or "`auto`" in readme
