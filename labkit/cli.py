"""The ``labkit`` command: drive a lab from a shell, kubectl-style.

A lab's definition persists in a state directory (``$LABKIT_STATE_DIR/<name>``, default
``~/.local/state/labkit/<name>``) so that ``labkit up``, ``apply``, ``matrix`` ... run as separate
processes against the same lab.

Errors: a user error is one line on stderr (``error: <what>, <where>; <how to fix>``) and exit
code 1; a usage error (a bad option or value) is argparse's usage line and exit code 2; never a
traceback. A closed pipe (``labkit get pods | head -1``) ends the command quietly (exit code 141,
as a shell reports SIGPIPE).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from .errors import LabkitError
from .lab import BACKENDS, LAB_NAME, Lab, default_state_root, ovs_available
from .model.kinds import KIND_ALIASES
from .model.manifest import YAML_SUFFIXES, load_manifest, parse_manifest
from .model.profile import available_profiles

EPILOG = """examples:
  labkit up --profile workshop            start a lab (sim backend) with pods x/a ... z/c
  labkit apply -f policies/deny-all.yaml  apply a manifest (all or nothing)
  labkit matrix --port 80                 who can reach whom on TCP/80
  labkit explain x/a y/b --port 80        which rule decided, on each side
  labkit get acnp                         kubectl-like tables (pods, netpol, acnp, annp, tiers, cg, grp ...)
  labkit lint                             ties Antrea resolves nondeterministically, shadowed rules ...
  labkit diff -f new-policy.yaml          what a change would open and close, without applying it
  labkit up --from-snapshot cluster.yaml  a real cluster's objects (kubectl get ... -A -o yaml), offline
  labkit flows --duration 60 --action drop   run the shop's traffic; the flows a policy dropped
  labkit encryption wireGuard             switch inter-Node traffic to WireGuard (none | ipsec | wireGuard)
  labkit capture x/a y/a -w a.pcap        what a tap on the underlay sees of one HTTP GET (table + pcap)
  labkit up --kube-api                    ... and serve it to kubectl: export KUBECONFIG=$(labkit kubeconfig)
  labkit down                             stop the lab and remove its state
  labkit notebooks run --solve            execute the course headless (sim); executed copies + summary.json
  labkit course init ~/labkit-course      a learner's own copy of the course (re-run: update, keep their work)
  labkit course progress /home/*/labkit-course   the trainer's board: one row per learner and exercise
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
    try:
        missing = value is None or bool(value != value)  # None or NaN
    except TypeError:  # pandas' NA (a nullable column) has no truth value
        missing = True
    if missing:
        return "<none>"
    return str(value)


def _state_dir(args) -> Path:
    return Path(args.state_dir) if args.state_dir else default_state_root() / args.name


_HELD: dict[Path, object] = {}  # per-lab command locks, held until this command exits
COMMAND_LOCK_TIMEOUT_S = 900.0  # `labkit up --backend kind` may hold its lab that long


def _serialize(directory: Path) -> None:
    """Hold the lab's command lock for the rest of this command: two ``labkit`` commands on one lab
    run one after the other (each rebuilds or changes the same lab), never interleaved."""
    from ._util.locks import FileLock, describe_holder, holder

    path = directory.parent / f".{directory.name}.labkit-lock"
    if path in _HELD:
        return
    lock = FileLock(path, what="labkit " + " ".join(sys.argv[1:]))
    notice = lambda who: print(f"waiting for another labkit command on lab {directory.name!r} "  # noqa: E731
                               f"({describe_holder(who)}) ...", file=sys.stderr)
    if not lock.acquire(COMMAND_LOCK_TIMEOUT_S, on_wait=notice):
        raise LabkitError(f"lab {directory.name!r} stayed busy for {COMMAND_LOCK_TIMEOUT_S:.0f} s "
                          f"({describe_holder(holder(path))}); try again when that command has finished")
    _HELD[path] = lock


_REBUILT: list[Lab] = []  # ovs labs this command rebuilt: stopped when it ends


def _load(args) -> Lab:
    from .owner import hosted_lab

    directory = _state_dir(args)
    hosted = hosted_lab(directory)
    if hosted is not None:  # we are the lab's owner (labkit/owner): its live Lab, under its own lock
        return hosted
    _serialize(directory)
    lab = Lab.resume(args.name, args.state_dir)
    _stop_at_exit(lab)
    return lab


def _stop_at_exit(lab: Lab) -> None:
    """An ovs lab lives in the process that built it: this command's copy goes when the command
    ends (the next command rebuilds it from lab.json). A kind cluster outlives the command."""
    if lab.backend_name == "ovs":
        _REBUILT.append(lab)


# ---------------------------------------------------------------------------- commands


def cmd_up(args) -> int:
    directory = _state_dir(args)
    _serialize(directory)
    if (directory / "lab.json").exists():
        raise LabkitError(f"lab {args.name!r} already exists ({directory}); use it, or 'labkit down --name "
                          f"{args.name}' first")
    options = {"context": args.context} if args.context else {}
    if args.from_snapshot and args.kube_api:
        raise LabkitError("--kube-api does not serve a lab loaded --from-snapshot yet; leave out --kube-api "
                          "(matrix, lint and diff work on the snapshot lab)")
    backend = args.backend if args.backend != "auto" else ("ovs" if ovs_available()[0] else "sim")
    if args.kube_api or (backend == "ovs" and not args.from_snapshot):
        # A background owner holds the live lab (labkit.owner): later commands run in it instead of
        # rebuilding it. An ovs lab always gets one, since its namespaces and daemons live exactly as
        # long as the process that owns them (issue 13); --kube-api serves it to kubectl as well.
        from .owner import start

        record = start(directory, args.name, backend, args.profile, options, kube_api=args.kube_api)
        api = f", Kubernetes API on https://127.0.0.1:{record.kube_api_port}" if args.kube_api else ""
        print(f"lab {args.name!r} is up: backend {backend}, owner pid {record.pid}{api} (state in {directory})")
        if args.kube_api:
            print(f"export KUBECONFIG={record.kubeconfig}")
        return 0
    if args.backend == "kind":
        options["progress"] = lambda event: print(f"  {event}", file=sys.stderr)
    if args.from_snapshot and args.profile:
        raise LabkitError("--profile and --from-snapshot both say what the cluster holds; give one of them")
    if args.from_snapshot:
        lab = Lab.from_snapshot(args.from_snapshot, backend=args.backend, name=args.name, state_dir=directory,
                                backend_options=options)
    else:
        lab = Lab(backend=args.backend, profile=args.profile, name=args.name, state_dir=directory,
                  backend_options=options)
    _stop_at_exit(lab)
    lab.save()
    print(f"lab {lab.name!r} is up: backend {lab.backend_name}, profile {lab.profile.name}, "
          f"{len(lab.state.nodes)} nodes, {len(lab.state.pods)} pods (state in {directory})")
    if lab.snapshot_report is not None:
        for line in lab.snapshot_report.lines():
            print(f"  {line}")
    return 0


def cmd_down(args) -> int:
    root = Path(args.state_dir).parent if args.state_dir and args.all else default_state_root()
    directories = sorted(p for p in root.iterdir() if p.is_dir()) if args.all and root.exists() else \
        [_state_dir(args)]
    from .owner import stop as stop_owner, sweep as sweep_owners

    skipped = []
    for directory in directories:
        _serialize(directory)
        if stop_owner(directory):  # the lab's owner process (labkit up --kube-api) stops its own lab
            print(f"lab {directory.name!r}: owner stopped")
        elif not _take_down(directory, args.force):
            skipped.append(directory.name)
            continue
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
            print(f"lab {directory.name!r} removed")
        elif not args.all:
            print(f"no lab {directory.name!r}")
    if args.all:
        for pid in sweep_owners(root):
            print(f"killed the owner (pid {pid}) of a lab whose state is gone")
        _sweep_backends(args.force)
    return 1 if skipped and not args.all else 0


def _take_down(directory: Path, force: bool) -> bool:
    """Stop the lab saved in ``directory``. An ovs lab that a live process owns (a notebook, another
    command) is left alone unless ``force``: then its owner is told and tears it down itself.
    Returns False when the lab was left running."""
    record: dict = {}
    if (directory / "lab.json").exists():
        try:
            record = json.loads((directory / "lab.json").read_text())
        except (OSError, ValueError):
            record = {}
    name = record.get("name", directory.name)
    if record.get("backend") == "ovs" or (not record and ovs_available()[0]):
        return _take_down_ovs(name, directory, force)
    if record.get("backend") in ("kind", "k8s"):
        try:
            Lab.resume(directory.name, directory).stop()
        except LabkitError as exc:
            print(f"warning: {directory.name}: {exc}", file=sys.stderr)
    return True  # a sim lab holds nothing but its state directory


def _take_down_ovs(name: str, directory: Path, force: bool) -> bool:
    if not ovs_available()[0]:
        return True
    from .backends.ovs import owner, sweep
    from .backends.ovs.names import lab_prefix

    entry = owner(name)
    if entry is not None:
        pid, where = entry.get("owner_pid"), entry.get("state_dir")
        if not force:
            if where and Path(where).resolve() != directory.resolve():
                print(f"note: an ovs lab named {name!r} runs in pid {pid} with its state in {where}; it was left "
                      f"alone (only {directory} is removed)", file=sys.stderr)
                return True
            print(f"lab {name!r} is in use by pid {pid} (a Python session or another labkit command): left running. "
                  f"Stop it there (lab.stop()), or take it down with 'labkit down --name {name} --force' "
                  "(its owner is told)", file=sys.stderr)
            return False
        _revoke_ovs(name, pid)
        return True
    removed = sweep(lab_prefix(name))  # the namespaces and daemons of a lab nobody owns any more
    if removed:
        print(f"swept {len(removed)} leftover ovs resources of lab {name!r}")
    return True


def _revoke_ovs(name: str, pid) -> None:
    """Ask the live owner of ovs lab ``name`` to tear it down; sweep it if the owner does not react."""
    from .backends.ovs import revoke, sweep
    from .backends.ovs.names import lab_prefix

    if revoke(name, reason="'labkit down --force'") == "timeout":
        print(f"warning: the owner of lab {name!r} (pid {pid}) did not give it up within 10 s; sweeping it",
              file=sys.stderr)
        sweep(lab_prefix(name), include_running=True)
    else:
        print(f"lab {name!r} taken down from its owner (pid {pid}); its next operation says so")


def cmd_owner_serve(args) -> int:
    from .owner.process import main as owner_main

    return owner_main(args, main)


def cmd_kubeconfig(args) -> int:
    from .owner import read_record

    directory = _state_dir(args)
    record = read_record(directory)
    if record is None or not record.kubeconfig:
        raise LabkitError(f"lab {args.name!r} serves no Kubernetes API (no owner in {directory}); start it with "
                          f"'labkit up --name {args.name} --kube-api'")
    if not record.alive():
        raise LabkitError(f"the owner of lab {args.name!r} (pid {record.pid}) is not running; "
                          f"'labkit down --name {args.name}' and 'labkit up --kube-api' again")
    print(record.kubeconfig)
    return 0


def _sweep_backends(force: bool = False) -> None:
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
        if force:  # every lab, running ones too: their owners are told first
            from .backends.ovs import owner
            from .backends.ovs.sweep import REGISTRY_DIR

            for entry_path in sorted(REGISTRY_DIR.glob("*.json")) if REGISTRY_DIR.is_dir() else []:
                entry = owner(entry_path.stem)
                if entry is not None:
                    _revoke_ovs(entry_path.stem, entry.get("owner_pid"))
        removed = sweep()
        if removed.skipped_running:
            print(f"left running (in use by a live process; --force takes them down): "
                  f"{', '.join(removed.skipped_running)}", file=sys.stderr)
        if removed:
            print(f"swept {len(removed)} leftover ovs resources: {', '.join(map(str, removed[:10]))}"
                  f"{' ...' if len(removed) > 10 else ''}")


def cmd_status(args) -> int:
    lab = _load(args)
    info = {"name": lab.name, "backend": lab.backend_name, "profile": lab.profile.name,
            "state_dir": str(lab.state_dir), "nodes": len(lab.state.nodes), "namespaces": len(lab.state.namespaces),
            "pods": len(lab.state.pods), "policies": len(lab.state.antrea_policies) + len(lab.state.k8s_policies),
            "tiers": len(lab.state.tiers)}
    if getattr(lab, "kube_api", None) is not None:
        info["kube_api"] = f"{lab.kube_api.url} (KUBECONFIG={lab.kube_api.kubeconfig})"
    if args.output == "json":
        print(json.dumps(info, indent=1))
    else:
        for key, value in info.items():
            print(f"{key + ':':<12}{value}")
    return 0


def _sources(args, verb: str = "apply") -> list[str]:
    """The manifests of ``-f``: file and directory paths as given (errors then name the file and
    line), standard input as text. Each must be UTF-8 text with at least one object, as kubectl
    requires ("error: no objects passed to apply")."""
    files = args.filename or []
    if not files:
        raise LabkitError("no manifest given: use -f FILE (or -f - for standard input)")
    sources = []
    for name in files:
        if name == "-":
            text = _decode(sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read(), "<stdin>")
            if not _has_objects(text):
                raise LabkitError(f"no objects passed to {verb}: standard input holds no YAML document")
            sources.append(text)
            continue
        path = Path(name).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES)
            for f in inside:
                _decode(_read_bytes(f), str(f))
            if not any(_has_objects(f.read_text()) for f in inside):
                raise LabkitError(f"no objects passed to {verb}: directory {name} has no YAML file with an object "
                                  f"({', '.join(YAML_SUFFIXES)})")
        elif path.is_file():
            if not _has_objects(_decode(_read_bytes(path), name)):
                raise LabkitError(f"no objects passed to {verb}: {name} holds no YAML document")
        sources.append(name)  # a missing file: the manifest loader says where it looked
    return sources


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LabkitError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _decode(data: bytes | str, where: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabkitError(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); a manifest "
                          "is YAML text: save it as UTF-8") from None


def _has_objects(text: str) -> bool:
    """Any non-comment, non-separator line: YAML with no document at all holds no object."""
    return any(line.strip() and not line.lstrip().startswith("#") and line.strip() not in ("---", "...")
               for line in text.splitlines())


def cmd_apply(args) -> int:
    sources = _sources(args, "apply")
    lab = _load(args)
    results = [lab.apply(source) for source in sources]
    if not any(r.changes for r in results):  # e.g. documents that are all `null`
        raise LabkitError("no objects passed to apply: the manifest's documents are empty")
    for result in results:
        print(result.changes_text())
        for warning in result.warnings:  # kubectl prints the API server's warnings on stderr
            print(f"Warning: {warning}", file=sys.stderr)
    lab.save()
    return 0


def cmd_delete(args) -> int:
    targets = list(args.refs) + _sources(args, "delete") if args.filename else list(args.refs)
    lab = _load(args)
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
                          "cells": m.verdict_names().tolist()}, indent=1))
    else:
        print(m)
        print("legend: . allow   X drop   R reject" + ("   E error (not the policy's doing; reasons above)"
                                                       if m.errors else ""))
    for warning in m.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_explain(args) -> int:
    lab = _load(args)
    explanation = lab.explain(args.src, args.dst, port=args.port, protocol=args.protocol, src_port=args.src_port)
    print(json.dumps(explanation.to_dict(), indent=1) if args.output == "json" else explanation)
    return 0


class _ApplyOrDelete(argparse.Action):
    """``-f FILE``: a manifest to apply; after a bare ``--delete``, one whose objects are deleted."""

    def __call__(self, parser, namespace, value, option_string=None):
        target = "delete" if getattr(namespace, "deleting", False) else "filename"
        setattr(namespace, target, (getattr(namespace, target) or []) + [value])


class _Delete(argparse.Action):
    """``--delete REF|FILE`` deletes that; a bare ``--delete`` makes the following ``-f`` deletions."""

    def __call__(self, parser, namespace, value, option_string=None):
        if value is None:
            namespace.deleting = True
        else:
            namespace.delete = (namespace.delete or []) + [value]


def _diff_lab(args) -> Lab:
    """The cluster a diff runs on: a snapshot, a profile (both in memory, never saved), or the lab --name."""
    if args.from_snapshot and args.profile:
        raise LabkitError("--profile and --from-snapshot both say what the cluster holds; give one of them")
    if args.from_snapshot:
        return Lab.from_snapshot(args.from_snapshot, name=args.name)
    if args.profile:
        return Lab(profile=args.profile, name=args.name)
    # lab.diff is the engine's: the lab's objects are enough, its backend (maybe an owner's live ovs
    # lab) is never touched.
    return Lab.resume(args.name, args.state_dir, start=False)


def _probe(text: str) -> tuple:
    """``TCP/80``, ``udp/53``, ``ICMP`` or ``ICMP/3/1`` -> a probe tuple for lab.diff."""
    parts = text.upper().split("/")
    try:
        if parts[0] == "ICMP":
            return ("ICMP", (int(parts[1]), int(parts[2]) if len(parts) > 2 else 0) if len(parts) > 1 else None)
        if len(parts) == 2:
            return (parts[0], int(parts[1]))
    except ValueError:
        pass
    raise LabkitError(f"--probe {text!r}: write PROTOCOL/PORT (TCP/80, UDP/53, SCTP/9000) or ICMP[/TYPE[/CODE]]")


def _manifest_documents(sources: list[str]):
    from .model.manifest import read_documents

    return [doc for source in sources for doc in read_documents(sys.stdin.read() if source == "-" else source)]


def _git_diff(args, probes):
    from ._util.git import manifest_files, read_file, revision_range
    from .model.manifest import load_manifest, policy_documents

    base, head = revision_range(args.git)
    trees = {}
    for rev in (base, head):
        files = [(f"{rev}:{path}", read_file(rev, path)) for path in manifest_files(rev, args.paths)]
        docs, others = policy_documents(files)
        trees[rev] = docs
        if others:
            print(f"note: {rev}: left out {sum(others.values())} documents that are not policies ("
                  + ", ".join(f"{k} {n}" for k, n in sorted(others.items())) + ")", file=sys.stderr)
    base_refs = [obj.ref for obj, _ in load_manifest(trees[base])] if trees[base] else []
    head_refs = {obj.ref for obj, _ in load_manifest(trees[head])} if trees[head] else set()
    lab = _diff_lab(args)
    if trees[base]:
        lab.apply(trees[base])
    removed = [ref for ref in base_refs if ref not in head_refs]
    title = f"{args.git}" + (f" ({', '.join(args.paths)})" if args.paths else "")
    return lab, lab.diff(apply=trees[head] or None, delete=removed or None, probes=probes), title


def cmd_diff(args) -> int:
    """Exit 0: no change; 1: changes and --exit-code; 2: an error (as diff(1) does)."""
    try:
        return _diff(args)
    except LabkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _diff(args) -> int:
    from .policy.diff import to_text

    probes = [_probe(p) for p in args.probe] if args.probe else None
    if getattr(args, "deleting", False) and not args.delete:
        raise LabkitError("--delete names nothing: write --delete REF (acnp/NAME ...) or --delete -f FILE")
    if args.git:
        if args.filename or args.delete:
            raise LabkitError("--git compares the policy files of two revisions; -f and --delete change a lab: "
                              "use one or the other")
        lab, diff, title = _git_diff(args, probes)
    else:
        if args.paths:
            raise LabkitError(f"paths ({' '.join(args.paths)}) are for --git BASE..HEAD; for files use -f FILE")
        if not args.filename and not args.delete:
            raise LabkitError("nothing to compare: give -f NEW.yaml, --delete REF (or --delete -f OLD.yaml), "
                              "or --git BASE..HEAD [PATHS]")
        lab = _diff_lab(args)
        apply = _manifest_documents(args.filename) if args.filename else None
        delete = [sys.stdin.read() if d == "-" else d for d in args.delete] if args.delete else None
        diff = lab.diff(apply=apply, delete=delete, probes=probes)
        title = " ".join([f"apply {', '.join(args.filename)}"] if args.filename else []
                         + ([f"delete {', '.join(args.delete)}"] if args.delete else []))
    cluster = (f"snapshot {args.from_snapshot}" if args.from_snapshot else f"profile {lab.profile.name}"
               if args.profile else f"lab {lab.name}")
    title = args.title or f"{title} on {cluster}"
    if args.output == "markdown":
        print(diff.to_markdown(max_rows=args.max_rows, title=title), end="")
    elif args.output == "csv":
        print(diff.to_frame().to_csv(index=False), end="")
    elif args.output == "json":
        frame = diff.to_frame()
        print(json.dumps({"title": title, "changed": len(diff), "counts": diff.counts(),
                          "by_namespace": json.loads(diff.summary().reset_index().to_json(orient="records")),
                          "probes": [str(s) for s in diff.spans], "pods_added": diff.pods_added,
                          "pods_removed": diff.pods_removed, "warnings": diff.warnings,
                          "changes": json.loads(frame.astype(object).where(frame.notna(), None).to_json(
                              orient="records"))}, indent=1))
    else:
        print(f"# {title}")
        print(to_text(diff, max_rows=args.max_rows))
    if args.output != "table":
        for warning in diff.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 1 if args.exit_code and diff else 0


def cmd_validate(args) -> int:
    """Validate manifests; against a lab's objects when one exists, else on their own."""
    directory = _state_dir(args)
    for source in _sources(args, "validate"):
        if (directory / "lab.json").exists():
            lab = _load(args)
            items, problems = parse_manifest(source)
            lab.state.copy().apply(items, problems)  # raises ManifestError; the copy is discarded
        else:
            items = load_manifest(source)
        print(f"{source if len(source) < 80 else '<stdin>'}: valid")
        for warning in (w for _, doc in items for w in doc.warnings):
            print(f"Warning: {warning}", file=sys.stderr)
    return 0


def cmd_label(args) -> int:
    lab = _load(args)
    labels: dict[str, str | None] = {}
    for item in args.labels:
        if "=" in item:
            key, value = item.split("=", 1)
            labels[key] = value
        elif item.endswith("-"):
            labels[item[:-1]] = None
        else:
            raise LabkitError(f"label {item!r} must be key=value (or key- to remove), e.g. quarantine=true")
    from .model.selectors import label_key_error, label_value_error

    problems = [label_key_error(k) or (label_value_error(v) if v is not None else None) for k, v in labels.items()]
    problems = [p for p in problems if p]
    if problems:
        raise LabkitError("; ".join(problems) + "; nothing was labeled (Kubernetes label syntax: "
                          "[prefix/]name=value, e.g. app.kubernetes.io/part-of=shop)")
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
    from .course.runner import run_notebooks

    result = run_notebooks(args.paths, backend=args.backend, solve=args.solve, output_dir=args.output_dir,
                           timeout_s=args.timeout, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(result.table())
    return 0 if result.passed else 1


def cmd_course(args) -> int:
    if args.course_command == "init":
        from .course.workspace import init_workspace

        report = init_workspace(args.directory, course=args.course, learner=args.learner, reset=args.reset or ())
        print(report)
        return 0
    if args.course_command == "progress":
        from .course.progress import board_table, progress_frame

        frame = progress_frame(args.workspaces)
        if args.output == "json":
            print(frame.to_json(orient="records", indent=1))
        elif args.output == "csv":
            print(frame.to_csv(index=False), end="")
        else:
            print(board_table(frame))
        return 0
    from .course.workspace import nbgitpuller_url

    print(nbgitpuller_url(args.hub, args.repo, branch=args.branch, notebook=args.notebook, targetpath=args.targetpath))
    return 0


def cmd_binder_link(args) -> int:
    from .course.runner import binder_url

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
        from .nsx.manager.server import serve
    except ImportError as exc:
        raise LabkitError(f"the NSX Manager mock is not available in this installation ({exc})") from exc
    return serve(args.nsx_args) or 0


# ---------------------------------------------------------------------------- parser


# Commands that act on one lab's objects: with a live owner (labkit up --kube-api) they run inside it.
OWNED_COMMANDS = (cmd_status, cmd_apply, cmd_delete, cmd_get, cmd_matrix, cmd_explain, cmd_validate, cmd_label,
                  cmd_lint, cmd_flows, cmd_encryption, cmd_capture)


def lab_name_arg(text: str) -> str:
    if not LAB_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a lab name: use 1-16 characters of a-z, 0-9 and '-', "
                                         "starting with a letter or digit")
    return text


def path_arg(text: str) -> str:
    if "\0" in text:
        raise argparse.ArgumentTypeError("a path cannot contain a NUL byte")
    return text


def port_number(text: str) -> int:
    """A TCP/UDP/SCTP port, 1-65535 (as Kubernetes validates a NetworkPolicy port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: use 1-65535")
    return port


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} seconds: give a positive, finite number")
    return value


GET_KINDS = sorted(set(KIND_ALIASES) | {"policies"})


def get_kind(text: str) -> str:
    if text.lower() not in GET_KINDS:
        raise argparse.ArgumentTypeError(f"unknown kind {text!r}; use one of pods, nodes, ns, svc, deploy, netpol, "
                                         "acnp, annp, tiers, cg, grp or policies")
    return text.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="Run an Antrea policy lab (sim, ovs or kind backend) from the shell.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default="lab", type=lab_name_arg,
                        help="lab name: 1-16 characters of a-z, 0-9 and '-' (default: lab)")
    common.add_argument("--state-dir", type=path_arg,
                        help="state directory of the lab (default: $LABKIT_STATE_DIR/<name>)")
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
    p.add_argument("--kube-api", action="store_true",
                   help="also serve the lab as a Kubernetes API for kubectl (a background owner process holds "
                        "the lab; prints the KUBECONFIG to export)")
    p.add_argument("--profile", default=None,
                   help=f"cluster profile from clusters/ ({', '.join(available_profiles())}) or a path; "
                        "default: an empty cluster")
    p.add_argument("--from-snapshot", metavar="FILE",
                   help="a real cluster's objects, as 'kubectl get namespaces,nodes,pods,services,networkpolicies,"
                        "clusternetworkpolicies,networkpolicies.crd.antrea.io,tiers,clustergroups,groups -A -o yaml' "
                        "printed them (pods keep their nodes and IPs; see docs/whatif.md)")
    p = sub.add_parser("owner-serve")  # hidden (no help=): the background owner process (labkit.owner)
    from .owner.process import add_arguments as owner_arguments

    owner_arguments(p)
    p.set_defaults(func=cmd_owner_serve)
    add("kubeconfig", cmd_kubeconfig, "print the kubeconfig path of a lab started with 'labkit up --kube-api'")
    p = add("down", cmd_down, "stop a lab and remove its state")
    p.add_argument("--all", action="store_true", help="every lab, plus leftovers of crashed labs (labs a live "
                                                       "process is using are left running)")
    p.add_argument("--force", action="store_true", help="also take down ovs labs a live process (a notebook, "
                                                         "another command) is using; that process is told, and its "
                                                         "next operation says its lab was taken down")
    p = add("status", cmd_status, "show a lab's backend, profile and object counts")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = add("apply", cmd_apply, "create or update the objects of manifests (all or nothing); the API "
                                "server's warnings go to stderr")
    p.add_argument("-f", "--filename", action="append", help="manifest file, directory, or - for stdin")
    p = add("delete", cmd_delete, "delete the objects a manifest names, or objects given as kind/[ns/]name")
    p.add_argument("refs", nargs="*", help="e.g. acnp/strict-ns, netpol/x/deny-all, tier/devops")
    p.add_argument("-f", "--filename", action="append", help="manifest file, directory, or - for stdin")
    p.add_argument("--ignore-not-found", action="store_true")
    p = add("get", cmd_get, "kubectl-like table of one kind: pods, nodes, ns, svc, deploy, netpol, acnp, annp, "
                            "tiers, cg, grp, or 'policies' (all, in effective order; Antrea-native ones with the "
                            "status Antrea writes: phase, nodes, Realizable)")
    p.add_argument("kind", type=get_kind, help="pods, nodes, ns, svc, deploy, netpol, acnp, annp, tiers, cg, grp "
                                                "or policies")
    p.add_argument("-n", "--namespace")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = add("matrix", cmd_matrix, "reachability matrix between pods for one port/protocol")
    p.add_argument("--port", type=port_number, default=80, help="destination port, 1-65535 (default: 80)")
    p.add_argument("--protocol", default="TCP", type=str.upper, choices=("TCP", "UDP", "SCTP", "ICMP"))
    p.add_argument("--src-port", type=port_number, default=None, help="client source port (default: ephemeral)")
    p.add_argument("-n", "--namespace", action="append", help="only pods of this namespace (repeatable)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = add("explain", cmd_explain, "which rule decides SRC -> DST, on the egress and the ingress side")
    p.add_argument("src", help="source pod as namespace/name")
    p.add_argument("dst", help="destination pod as namespace/name")
    p.add_argument("--port", type=port_number, default=80, help="destination port, 1-65535 (default: 80)")
    p.add_argument("--protocol", default="TCP", type=str.upper, choices=("TCP", "UDP", "SCTP", "ICMP"))
    p.add_argument("--src-port", type=port_number, default=None)
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p = add("diff", cmd_diff,
            "what a policy change opens and closes, without applying it: the connections (source, destination, "
            "port) whose verdict changes, with the deciding rule before and after",
            epilog="examples:\n"
                   "  labkit diff -f new-policy.yaml                      on the lab --name\n"
                   "  labkit diff -f new.yaml --delete -f old.yaml        replace old.yaml's objects by new.yaml's\n"
                   "  labkit diff --delete acnp/legacy --probe TCP/80     one object, one probe\n"
                   "  labkit diff --git origin/main..HEAD policies/ --from-snapshot cluster.yaml -o markdown\n\n"
                   "exit status: 0 no change (or no --exit-code), 1 changes with --exit-code, 2 an error",
            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--filename", action=_ApplyOrDelete, metavar="FILE",
                   help="manifest to apply (file, directory or - for stdin); after a bare --delete: to delete")
    p.add_argument("--delete", action=_Delete, nargs="?", metavar="REF|FILE",
                   help="delete an object (acnp/NAME, netpol/NS/NAME ...) or a manifest's objects; a bare --delete "
                        "makes the following -f files deletions (deletions happen before applies)")
    p.add_argument("--git", metavar="BASE..HEAD",
                   help="compare the policy files (NetworkPolicy, ClusterNetworkPolicy, Tier, ClusterGroup, Group) "
                        "of two git revisions, under PATHS (default: the whole repository)")
    p.add_argument("paths", nargs="*", metavar="PATHS", help="with --git: files or directories to compare")
    p.add_argument("--profile", help="run on a lab profile (in memory) instead of the lab --name")
    p.add_argument("--from-snapshot", metavar="FILE", help="run on a kubectl snapshot of a real cluster (in memory)")
    p.add_argument("--probe", action="append", metavar="PROTO/PORT",
                   help="probe only this (TCP/80, UDP/53, ICMP, ICMP/3/1; repeatable); default: one probe per "
                        "port range and ICMP type the rules tell apart, so nothing goes unseen")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when any connection changes (for CI)")
    p.add_argument("-o", "--output", choices=("table", "markdown", "csv", "json"), default="table",
                   help="table (default), markdown (a pull-request comment), csv or json (every row)")
    p.add_argument("--max-rows", type=int, default=50,
                   help="rows shown by table and markdown (default 50; 0: all); csv and json show all")
    p.add_argument("--title", help="heading of the report (default: what was compared, on which cluster)")
    p = add("validate", cmd_validate, "check manifests as the API server and Antrea's webhook would; applies nothing")
    p.add_argument("-f", "--filename", action="append", help="manifest file, directory, or - for stdin")
    p = add("label", cmd_label, "set (key=value) or remove (key-) labels of a pod (ns/name) or namespace (ns:name)")
    p.add_argument("target")
    p.add_argument("labels", nargs="+")
    add("lint", cmd_lint, "policies that are legal but probably wrong (ties, missing groups, shadowed rules, "
                          "unrealizable policies, ipBlocks groups in appliedTo, fqdn peers that select no Pod ...)")
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
    p.add_argument("--duration", type=positive_seconds, default=60.0,
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
    p.add_argument("--timeout", type=positive_seconds, default=300.0, help="seconds allowed per cell (default: 300)")
    p.set_defaults(func=cmd_notebooks)
    _add_course_parser(sub)
    p = sub.add_parser("binder-link", help="print the mybinder.org link that opens a notebook in JupyterLab",
                       description="print the mybinder.org link that opens a notebook in JupyterLab")
    p.add_argument("--repo", required=True, help="GitHub repository as OWNER/NAME")
    p.add_argument("--ref", required=True, help="git branch, tag or commit (e.g. main)")
    p.add_argument("--notebook", required=True, help="notebook path from the repository root, "
                                                     "e.g. notebooks/00-start-here.ipynb")
    p.add_argument("--hub", default="https://mybinder.org", help="BinderHub to use (default: https://mybinder.org)")
    p.set_defaults(func=cmd_binder_link)
    return parser


def _add_course_parser(sub) -> None:
    course = sub.add_parser("course", help="learner workspaces and the trainer's progress board: "
                                           "'labkit course init|progress|link --help'",
                            description="learner workspaces and the trainer's progress board (docs/course.md)")
    commands = course.add_subparsers(dest="course_command", metavar="init|progress|link", required=True)
    p = commands.add_parser("init", help="copy the course into a learner's workspace, or update it",
                            description="Copy the course (notebooks, policies/, solutions/) into DIR, the learner's "
                                        "own workspace; run again to take a newer course version: new and untouched "
                                        "files are updated, the learner's changes are never overwritten "
                                        "(nbgitpuller's rules, docs/course.md).")
    p.add_argument("directory", nargs="?", metavar="DIR",
                   help="the workspace (default: $LABKIT_WORKSPACE, else ~/labkit-course)")
    p.add_argument("--course", help="the course directory to copy from (default: the checkout's notebooks/)")
    p.add_argument("--learner", help="the learner's name on the progress board (default: $LABKIT_USER, "
                                     "$JUPYTERHUB_USER or the login name)")
    p.add_argument("--reset", action="append", metavar="NOTEBOOK",
                   help="put one file back to the course's version (e.g. 02 or 02-antrea-native-policies); "
                        "the learner's copy goes to .labkit/backups/ (repeatable)")
    p.set_defaults(func=cmd_course)
    p = commands.add_parser("progress", help="one row per learner and exercise, from their workspaces",
                            description="The trainer's board: one row per learner and exercise (state, attempts, "
                                        "times), read from each workspace's check log. Nothing leaves the machine.")
    p.add_argument("workspaces", nargs="+", metavar="WORKSPACE", help="learner workspaces (e.g. /home/*/labkit-course)")
    p.add_argument("-o", "--output", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=cmd_course)
    p = commands.add_parser("link", help="print an nbgitpuller link that puts the course into each learner's "
                                         "JupyterHub home",
                            description="Print an nbgitpuller link (JupyterHub with nbgitpuller installed): the first "
                                        "click clones the course repository into the learner's home, later clicks "
                                        "merge the course's changes (nbgitpuller's automatic merging).")
    p.add_argument("--hub", required=True, help="the JupyterHub's base URL, e.g. https://hub.example.org")
    p.add_argument("--repo", required=True, help="the course repository as git clones it (URL, or a path on the hub)")
    p.add_argument("--branch", default="main", help="branch (default: main)")
    p.add_argument("--targetpath", default="labkit", help="directory in the learner's home (default: labkit)")
    p.add_argument("--notebook", default="notebooks/00-start-here.ipynb",
                   help="notebook to open, relative to the repository (default: notebooks/00-start-here.ipynb)")
    p.set_defaults(func=cmd_course)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 1 user error, 2 usage error, 130 interrupted,
    141 closed pipe). Never raises for a user error: tests drive it in-process."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if args.func in OWNED_COMMANDS:  # a lab with a live owner: run the command there
            from .owner import forward

            code = forward(list(sys.argv[1:] if argv is None else argv), args, _state_dir(args))
            if code is not None:
                sys.stdout.flush()
                return code
        code = args.func(args)
        sys.stdout.flush()
        return code
    except LabkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # the file system said no: a path that does not exist, permissions, a full disk
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; check the path and its permissions", file=sys.stderr)
        return 1
    except RecursionError:
        print("error: the input nests too deeply (a YAML alias that contains itself?); nothing was changed",
              file=sys.stderr)
        return 1
    finally:
        while _REBUILT:
            _REBUILT.pop().stop()


def _quiet_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so that the interpreter's final flush does not fail
    again ("Exception ignored ... BrokenPipeError"), as the Python docs advise for SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
