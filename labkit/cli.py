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
  labkit down                             stop the lab and remove its state
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
    p = sub.add_parser("nsx", help="the NSX Manager mock: 'labkit nsx serve --help'",
                       description="the NSX Manager mock (a real HTTPS server on 127.0.0.1)")
    p.add_argument("nsx_args", nargs=argparse.REMAINDER, help="serve [--state-dir DIR] [--port N]")
    p.set_defaults(func=cmd_nsx)
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
