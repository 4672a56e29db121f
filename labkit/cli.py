"""The ``labkit`` command: drive a lab from a shell, kubectl-style.

A lab's definition persists in a state directory (``$LABKIT_STATE_DIR/<name>``, default
``~/.local/state/labkit/<name>``) so that ``labkit up``, ``apply``, ``matrix`` ... run as separate
processes against the same lab.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

from .errors import LabkitError
from .lab import BACKENDS, Lab, default_state_root, ovs_available
from .model.manifest import load_manifest, parse_manifest
from .model.profile import available_profiles

EPILOG = """examples:
  labkit up --profile workshop            start a lab (sim backend) with pods x/a ... z/c
  labkit apply -f policies/deny-all.yaml  apply a manifest (all or nothing)
  labkit matrix --port 80                 who can reach whom on TCP/80
  labkit explain x/a y/b --port 80        which rule decided, on each side
  labkit get acnp                         kubectl-like tables (pods, netpol, acnp, annp, tiers, cg, grp ...)
  labkit lint                             ties Antrea resolves nondeterministically, shadowed rules ...
  labkit flows --duration 60 --action drop   run the shop's traffic; the flows a policy dropped
  labkit encryption wireGuard             switch inter-Node traffic to WireGuard (none | ipsec | wireGuard)
  labkit capture x/a y/a -w a.pcap        what a tap on the underlay sees of one HTTP GET (table + pcap)
  labkit down                             stop the lab and remove its state
  labkit notebooks run --solve            execute the course headless (sim); executed copies + summary.json
  labkit binder-link --repo OWNER/NAME --ref main --notebook notebooks/00-start-here.ipynb
"""


def _print_frame(frame, output: str = "table") -> None:
    if output == "json":
        print(frame.to_json(orient="records", indent=1, default_handler=str))
        return
    if frame.empty:
        print("No resources found.")
        return
    printable = frame.copy()
    for column in printable.columns:
        printable[column] = printable[column].map(_cell)
    printable.columns = [c.upper() for c in printable.columns]
    print(printable.to_string(index=False))


def _cell(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items())) or "<none>"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "<none>"
    if value is None or value != value:  # None or NaN
        return "<none>"
    return str(value)


def _load(args) -> Lab:
    return Lab.resume(args.name, args.state_dir)


# ---------------------------------------------------------------------------- commands


def cmd_up(args) -> int:
    directory = Path(args.state_dir) if args.state_dir else default_state_root() / args.name
    if (directory / "lab.json").exists():
        print(f"lab {args.name!r} already exists ({directory}); use it, or 'labkit down --name {args.name}' first",
              file=sys.stderr)
        return 1
    options = {"context": args.context} if args.context else {}
    if args.backend == "kind":
        options["progress"] = lambda event: print(f"  {event}", file=sys.stderr)
    lab = Lab(backend=args.backend, profile=args.profile, name=args.name, state_dir=directory,
              backend_options=options)
    lab.save()
    print(f"lab {lab.name!r} is up: backend {lab.backend_name}, profile {lab.profile.name}, "
          f"{len(lab.state.nodes)} nodes, {len(lab.state.pods)} pods (state in {directory})")
    return 0


def cmd_down(args) -> int:
    root = Path(args.state_dir).parent if args.state_dir and args.all else default_state_root()
    directories = sorted(p for p in root.iterdir() if p.is_dir()) if args.all and root.exists() else \
        [Path(args.state_dir) if args.state_dir else default_state_root() / args.name]
    for directory in directories:
        if (directory / "lab.json").exists():
            try:
                Lab.resume(directory.name, directory).stop()
            except LabkitError as exc:
                print(f"warning: {directory.name}: {exc}", file=sys.stderr)
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
            print(f"lab {directory.name!r} removed")
        elif not args.all:
            print(f"no lab {directory.name!r}")
    if args.all:
        _sweep_backends()
    return 0


def _sweep_backends() -> None:
    """Remove leftovers of crashed labs that no state directory knows about (ovs namespaces, kind clusters)."""
    import shutil as _shutil

    if _shutil.which("kind"):
        from .backends.kind import sweep as sweep_kind

        try:
            for cluster in sweep_kind():
                print(f"deleted kind cluster {cluster}")
        except LabkitError as exc:
            print(f"warning: kind sweep: {exc}", file=sys.stderr)
    if ovs_available()[0]:
        try:
            from .backends.ovs import sweep
        except ImportError:
            return
        removed = sweep()
        if removed:
            print(f"swept {len(removed)} leftover ovs resources: {', '.join(map(str, removed[:10]))}"
                  f"{' ...' if len(removed) > 10 else ''}")


def cmd_status(args) -> int:
    lab = _load(args)
    info = {"name": lab.name, "backend": lab.backend_name, "profile": lab.profile.name,
            "state_dir": str(lab.state_dir), "nodes": len(lab.state.nodes), "namespaces": len(lab.state.namespaces),
            "pods": len(lab.state.pods), "policies": len(lab.state.antrea_policies) + len(lab.state.k8s_policies),
            "tiers": len(lab.state.tiers)}
    if args.output == "json":
        print(json.dumps(info, indent=1))
    else:
        for key, value in info.items():
            print(f"{key + ':':<12}{value}")
    return 0


def _sources(args) -> list[str]:
    files = args.filename or []
    if not files:
        raise LabkitError("no manifest given: use -f FILE (or -f - for standard input)")
    return [sys.stdin.read() if f == "-" else f for f in files]


def cmd_apply(args) -> int:
    lab = _load(args)
    for source in _sources(args):
        result = lab.apply(source)
        print(result)
    lab.save()
    return 0


def cmd_delete(args) -> int:
    lab = _load(args)
    targets = list(args.refs) + _sources(args) if args.filename else list(args.refs)
    if not targets:
        raise LabkitError("nothing to delete: give -f FILE or a reference like acnp/NAME or netpol/NS/NAME")
    for target in targets:
        for ref in lab.delete(target, ignore_not_found=args.ignore_not_found):
            print(f"{ref} deleted")
    lab.save()
    return 0


def cmd_get(args) -> int:
    lab = _load(args)
    frame = lab.policies() if args.kind in ("policies", "netpols-all") else lab.get(args.kind)
    if args.namespace and "namespace" in frame.columns:
        frame = frame[frame.namespace == args.namespace]
    _print_frame(frame, args.output)
    return 0


def cmd_matrix(args) -> int:
    lab = _load(args)
    namespaces = args.namespace or None
    m = lab.reachability(port=args.port, protocol=args.protocol, src_port=args.src_port, namespaces=namespaces)
    if args.output == "json":
        print(json.dumps({"probe": str(m.probe), "sources": m.sources, "destinations": m.destinations,
                          "cells": [[c for c in row] for row in m.to_frame().values.tolist()]}, indent=1))
    else:
        print(m)
        print("legend: . allow   X drop   R reject")
    for warning in m.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_explain(args) -> int:
    lab = _load(args)
    explanation = lab.explain(args.src, args.dst, port=args.port, protocol=args.protocol, src_port=args.src_port)
    print(json.dumps(explanation.to_dict(), indent=1) if args.output == "json" else explanation)
    return 0


def cmd_validate(args) -> int:
    """Validate manifests; against a lab's objects when one exists, else on their own."""
    directory = Path(args.state_dir) if args.state_dir else default_state_root() / args.name
    for source in _sources(args):
        if (directory / "lab.json").exists():
            lab = Lab.resume(args.name, args.state_dir)
            lab.state.copy().apply(*parse_manifest(source))  # raises ManifestError; the copy is discarded
        else:
            load_manifest(source)
        print(f"{source if len(source) < 80 else '<stdin>'}: valid")
    return 0


def cmd_label(args) -> int:
    lab = _load(args)
    labels: dict[str, str | None] = {}
    for item in args.labels:
        if item.endswith("-"):
            labels[item[:-1]] = None
        elif "=" in item:
            key, value = item.split("=", 1)
            labels[key] = value
        else:
            raise LabkitError(f"label {item!r} must be key=value (or key- to remove)")
    lab.label(args.target, **labels)
    lab.save()
    print(f"{args.target} labeled")
    return 0


def cmd_lint(args) -> int:
    findings = _load(args).lint()
    for finding in findings:
        print(finding)
    if not findings:
        print("no findings")
    return 0


def cmd_doctor(args) -> int:
    from .doctor import backend_status

    for status in backend_status():
        print(f"{status.backend:<5} {'OK ' if status.available else 'NO '} {status.detail}")
    if args.verbose:
        from .backends.kind import preflight

        print("\nkind pre-flight checks:")
        print(preflight("kind"))
    print(f"profiles: {', '.join(available_profiles())}")
    return 0


def cmd_kind(args) -> int:
    from .backends.kind import prefetch

    if args.kind_command != "prefetch":
        raise LabkitError("usage: labkit kind prefetch [--version vX.Y.Z] [--dir DIR]")
    where = prefetch(args.dir, args.version)
    print(f"Antrea manifests and images saved in {where}; 'labkit up --backend kind' will use them offline")
    return 0


def cmd_notebooks(args) -> int:
    from .course import run_notebooks

    result = run_notebooks(args.paths, backend=args.backend, solve=args.solve, output_dir=args.output_dir,
                           timeout_s=args.timeout, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(result.table())
    return 0 if result.passed else 1


def cmd_binder_link(args) -> int:
    from .course import binder_url

    print(binder_url(args.repo, args.ref, args.notebook, hub=args.hub))
    if not Path(args.notebook).exists():
        print(f"warning: {args.notebook} is not in the current directory's checkout; the link opens it only if "
              f"it exists at {args.ref} in {args.repo} (paths are relative to the repository root)", file=sys.stderr)
    return 0


FLOW_COLUMNS = {  # `labkit flows` table: like `antctl get flowrecords`, plus the deciding rules
    "source": "SOURCE", "destination": "DESTINATION", "destinationTransportPort": "DPORT",
    "protocolIdentifier": "PROTO", "destinationServicePortName": "SERVICE", "packetTotalCount": "PACKETS",
    "octetTotalCount": "BYTES", "tcpState": "TCP_STATE", "egressNetworkPolicyName": "EGRESS_POLICY",
    "ingressNetworkPolicyName": "INGRESS_POLICY", "verdict": "ACTION"}


def cmd_flows(args) -> int:
    from .flows.filters import filter_flows
    from .flows.records import PROTOCOL_NAMES
    from .flows.traffic import traffic_profile

    lab = _load(args)
    profile = traffic_profile(args.traffic)
    run = lab.generate_traffic(profile, duration_s=args.duration, seed=args.seed)
    frame = run.aggregate().flows() if not args.per_node else run.frame()
    frame = filter_flows(frame, namespace=args.namespace or "", pod=args.pod or "", verdict=args.action or "all",
                         policy=args.policy or "")
    if args.output == "json":
        print(frame.to_json(orient="records", indent=1, date_format="iso", default_handler=str))
        return 0
    if args.output == "csv":
        print(frame.to_csv(index=False), end="")
        return 0
    table = frame[[c for c in (["exporter"] if args.per_node else []) + list(FLOW_COLUMNS)]].copy()
    table["protocolIdentifier"] = table.protocolIdentifier.map(lambda n: PROTOCOL_NAMES.get(n, str(n)))
    table = table.rename(columns={"exporter": "NODE", **FLOW_COLUMNS})
    for column in table.columns:
        table[column] = table[column].map(lambda v: "<none>" if v == "" else str(v))
    print(table.to_string(index=False) if not table.empty else "No flows found.")
    return 0


def cmd_encryption(args) -> int:
    lab = _load(args)
    if args.mode is None:
        print(lab.encryption)
        return 0
    from .encryption.wire import check_mode

    try:
        check_mode(args.mode)
    except ValueError as exc:
        raise LabkitError(str(exc)) from exc
    lab.set_encryption(args.mode)
    lab.save()
    print(f"trafficEncryptionMode: {lab.encryption} (lab {lab.name!r}, backend {lab.backend_name})")
    return 0


def cmd_capture(args) -> int:
    lab = _load(args)
    try:
        cap = lab.capture(args.src, args.dst)
    except ValueError as exc:  # e.g. both pods on one Node (sim)
        raise LabkitError(str(exc)) from exc
    if args.write:
        print(f"wrote {cap.write_pcap(args.write)} ({len(cap.frames)} frames; open it with Wireshark)",
              file=sys.stderr)
    kind = "emulated" if cap.emulated else "real"
    if args.output == "json":
        frame = cap.table()
        print(json.dumps({"mode": cap.mode, "kind": kind, "frames": json.loads(frame.to_json(orient="records"))},
                         indent=1))
        return 0
    print(f"# {cap.mode}: {len(cap.frames)} frames on the underlay between {cap.src.node} and {cap.dst.node} "
          f"({kind}; {cap.metadata.get('origin', '')})")
    table = cap.table()
    print(table[["time", "src", "dst", "protocol", "length", "info"]].to_string())
    return 0


def cmd_nsx(args) -> int:
    try:
        from .nsx.server import serve
    except ImportError as exc:
        raise LabkitError(f"the NSX Manager mock is not available in this installation ({exc})") from exc
    return serve(args.nsx_args) or 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="Run an Antrea policy lab (sim, ovs or kind backend) from the shell.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default="lab", help="lab name (default: lab)")
    common.add_argument("--state-dir", help="state directory of the lab (default: $LABKIT_STATE_DIR/<name>)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable, help_: str, **kwargs) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_, **kwargs)
        p.set_defaults(func=func)
        return p

    p = add("up", cmd_up, "create and start a lab")
    p.add_argument("--backend", default="sim", choices=BACKENDS + ("auto",),
                   help="sim (pure Python), ovs (root + Open vSwitch), kind (Docker), k8s (an existing "
                        "Antrea cluster, with --context) or auto (default: sim)")
    p.add_argument("--context", help="kubeconfig context of an existing Antrea cluster (backend k8s)")
    p.add_argument("--profile", default=None,
                   help=f"cluster profile from clusters/ ({', '.join(available_profiles())}) or a path; "
                        "default: an empty cluster")
    p = add("down", cmd_down, "stop a lab and remove its state")
    p.add_argument("--all", action="store_true", help="every lab, plus leftovers of crashed labs")
    p = add("status", cmd_status, "show a lab's backend, profile and object counts")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = add("apply", cmd_apply, "create or update the objects of manifests (all or nothing)")
    p.add_argument("-f", "--filename", action="append", help="manifest file, directory, or - for stdin")
    p = add("delete", cmd_delete, "delete the objects a manifest names, or objects given as kind/[ns/]name")
    p.add_argument("refs", nargs="*", help="e.g. acnp/strict-ns, netpol/x/deny-all, tier/devops")
    p.add_argument("-f", "--filename", action="append", help="manifest file, directory, or - for stdin")
    p.add_argument("--ignore-not-found", action="store_true")
    p = add("get", cmd_get, "kubectl-like table of one kind: pods, nodes, ns, svc, deploy, netpol, acnp, annp, "
                            "tiers, cg, grp, or 'policies' (all, in effective order)")
    p.add_argument("kind")
    p.add_argument("-n", "--namespace")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = add("matrix", cmd_matrix, "reachability matrix between pods for one port/protocol")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--protocol", default="TCP", type=str.upper, choices=("TCP", "UDP", "SCTP", "ICMP"))
    p.add_argument("--src-port", type=int, default=None, help="client source port (default: ephemeral)")
    p.add_argument("-n", "--namespace", action="append", help="only pods of this namespace (repeatable)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = add("explain", cmd_explain, "which rule decides SRC -> DST, on the egress and the ingress side")
    p.add_argument("src", help="source pod as namespace/name")
    p.add_argument("dst", help="destination pod as namespace/name")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--protocol", default="TCP", type=str.upper, choices=("TCP", "UDP", "SCTP", "ICMP"))
    p.add_argument("--src-port", type=int, default=None)
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p = add("validate", cmd_validate, "check manifests as the API server and Antrea's webhook would; applies nothing")
    p.add_argument("-f", "--filename", action="append", help="manifest file, directory, or - for stdin")
    p = add("label", cmd_label, "set (key=value) or remove (key-) labels of a pod (ns/name) or namespace (ns:name)")
    p.add_argument("target")
    p.add_argument("labels", nargs="+")
    add("lint", cmd_lint, "policies that are legal but probably wrong (ties, missing groups, shadowed rules ...)")
    p = add("doctor", cmd_doctor, "which backends can run here, and what to install for the others")
    p.add_argument("-v", "--verbose", action="store_true", help="also run the kind backend's pre-flight checks")
    p = add("kind", cmd_kind, "kind backend helpers: 'prefetch' saves Antrea's manifests and images for offline classrooms")
    p.add_argument("kind_command", choices=("prefetch",))
    p.add_argument("--version", help="Antrea version (default: the pinned one in clusters/kind-antrea.yaml)")
    p.add_argument("--dir", help="where to save (default: labkit's cache)")
    p = add("flows", cmd_flows, "run a traffic profile through the lab for --duration seconds and show the flow "
                                "records (like 'antctl get flowrecords'): sim synthesizes them, ovs reads OVS IPFIX")
    p.add_argument("--traffic", default="shop",
                   help="traffic profile: a built-in name (shop) or a TrafficProfile YAML file (default: shop)")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds of profile time to run (default: 60; ovs plays a minute in about 3 s)")
    p.add_argument("--seed", type=int, default=0, help="traffic plan seed (default: 0)")
    p.add_argument("-n", "--namespace", help="only flows whose source or destination pod is in this namespace "
                   "('external': endpoints that are not pods)")
    p.add_argument("--pod", help="only flows from or to this pod (name or namespace/name)")
    p.add_argument("--action", type=str.lower, choices=("allow", "drop", "reject"), help="only flows with this verdict")
    p.add_argument("--policy", help="only flows an ingress or egress policy of this name decided")
    p.add_argument("--per-node", action="store_true",
                   help="each node's exported records instead of the Flow Aggregator's correlated flows")
    p.add_argument("-o", "--output", choices=("table", "json", "csv"), default="table")
    p = add("encryption", cmd_encryption, "show or set Antrea's trafficEncryptionMode between Nodes "
                                          "(none | ipsec | wireGuard)")
    p.add_argument("mode", nargs="?", help="none, ipsec or wireGuard (Antrea's spelling); omit to show the mode")
    p = add("capture", cmd_capture, "what a tap on the underlay captures during one HTTP GET from pod SRC to pod "
                                    "DST on another Node (sim: built frames; ovs: real packets)")
    p.add_argument("src", help="source pod as namespace/name")
    p.add_argument("dst", help="destination pod as namespace/name (on another Node)")
    p.add_argument("-w", "--write", metavar="FILE", help="also write the frames as a pcap file (Wireshark)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = sub.add_parser("nsx", help="the NSX Manager mock: 'labkit nsx serve --help'",
                       description="the NSX Manager mock (a real HTTPS server on 127.0.0.1)")
    p.add_argument("nsx_args", nargs=argparse.REMAINDER, help="serve [--state-dir DIR] [--port N]")
    p.set_defaults(func=cmd_nsx)
    notebooks = sub.add_parser("notebooks", help="run the course notebooks headless: 'labkit notebooks run --help'",
                               description="the course notebooks outside JupyterLab")
    p = notebooks.add_subparsers(dest="notebooks_command", metavar="run", required=True).add_parser(
        "run", help="execute notebooks headless (nbclient), as CI and trainers do",
        description="Execute notebooks headless, each in a fresh kernel, with BACKEND and SOLVE injected after "
                    "its parameters cell. Writes the executed copies and summary.json; exit code 1 if any fails.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="notebooks or directories of notebooks (default: the course, notebooks/[0-9][0-9]-*.ipynb)")
    p.add_argument("--backend", default="sim", choices=("sim", "ovs", "kind"),
                   help="injected as BACKEND after each notebook's parameters cell (default: sim)")
    p.add_argument("--solve", action="store_true", help="inject SOLVE = True: every exercise applies its solution")
    p.add_argument("--output-dir", help="where the executed copies and summary.json go "
                                        "(default: build/notebooks-<backend>)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per cell (default: 300)")
    p.set_defaults(func=cmd_notebooks)
    p = sub.add_parser("binder-link", help="print the mybinder.org link that opens a notebook in JupyterLab",
                       description="print the mybinder.org link that opens a notebook in JupyterLab")
    p.add_argument("--repo", required=True, help="GitHub repository as OWNER/NAME")
    p.add_argument("--ref", required=True, help="git branch, tag or commit (e.g. main)")
    p.add_argument("--notebook", required=True, help="notebook path from the repository root, "
                                                     "e.g. notebooks/00-start-here.ipynb")
    p.add_argument("--hub", default="https://mybinder.org", help="BinderHub to use (default: https://mybinder.org)")
    p.set_defaults(func=cmd_binder_link)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except LabkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
