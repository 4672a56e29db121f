"""Learner workspaces: a private copy of the course that a newer course version updates carefully.

``labkit course init [DIR]`` copies the course (the notebooks and the files they read:
``policies/``, ``solutions/`` ...) from the course directory (``notebooks/`` of the checkout) into
``DIR`` (default ``$LABKIT_WORKSPACE``, else ``~/labkit-course``). JupyterLab then autosaves the
learner's edits there, never into the tracked tree. ``DIR/.labkit/workspace.json`` remembers the
learner and, per file, a fingerprint of the version last copied; ``.labkit/progress.jsonl`` is
the learner's check log (:mod:`.progress`).

Running ``init`` again on an existing workspace **updates** it and never overwrites the learner's
work. The rules follow nbgitpuller's automatic merging (nbgitpuller docs,
``docs/topic/automatic-merging.md``, and ``nbgitpuller/pull.py`` of 1.3.0), file by file:

==================================================  =====================================================
case                                                what happens (nbgitpuller's case)
==================================================  =====================================================
new course file                                      added (1: new upstream files are added)
file the learner has not touched, changed upstream   replaced by the new version (1)
file the learner changed                             kept as it is; the report names it and how to take
                                                     the new version (3: "the learner's lines win")
file the learner deleted                             restored (4: the "start over" path)
learner's own file where the course adds one         the learner's is renamed ``name__<YYYYmmddHHMMSS>.ext``
                                                     and the course's takes the name (5; the double
                                                     underscore is what nbgitpuller 1.3.0 writes)
file removed from the course                         removed if untouched, kept if changed (PR #269 keeps
                                                     a file the learner edited and upstream deleted)
==================================================  =====================================================

One deliberate difference: nbgitpuller merges a file both sides changed line by line (learner's
lines win on conflicts). A notebook is JSON, and a line merge of two versions of it can yield cells
that belong to neither, so here a notebook the learner changed is kept whole;
``--reset NOTEBOOK`` takes the course's version (the learner's copy goes to ``.labkit/backups/``).

"Touched" means the learner changed what they wrote: for a notebook, the cells' types and
sources. Running cells (outputs, execution counts, widget state) does not count, so a learner
who only ran a notebook still receives the course's fixes to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LabkitError, NotFoundError

COURSE_PATTERN = "[0-9][0-9]-*.ipynb"  # 00-start-here.ipynb ... : the course, in order
STATE_DIR = ".labkit"
MANIFEST = "workspace.json"
WORKSPACE_ENV = "LABKIT_WORKSPACE"
DEFAULT_DIRNAME = "labkit-course"
TRAINER_DIR = "trainer"  # notebooks/trainer/: the trainer's own notebooks, not handed out
_SKIP_DIRS = {".ipynb_checkpoints", "__pycache__", TRAINER_DIR}


# ---------------------------------------------------------------------------- where


def course_dir() -> Path:
    """The course's ``notebooks/`` directory: ``./notebooks`` when it holds the course, else the one
    next to this package (an editable install or a checkout)."""
    for candidate in (Path.cwd() / "notebooks", Path(__file__).resolve().parents[2] / "notebooks"):
        if any(candidate.glob(COURSE_PATTERN)):
            return candidate
    raise LabkitError("no course notebooks found in ./notebooks nor next to the labkit package: run the "
                      "command from a labkit checkout, or give notebook paths (labkit notebooks run PATH ...)")


def default_workspace() -> Path:
    """``$LABKIT_WORKSPACE``, else ``~/labkit-course``."""
    return Path(os.environ.get(WORKSPACE_ENV) or Path.home() / DEFAULT_DIRNAME).expanduser()


def is_workspace(path: str | os.PathLike) -> bool:
    return (Path(path) / STATE_DIR / MANIFEST).is_file()


def find_workspace(start: str | os.PathLike | None = None) -> Path | None:
    """The workspace holding ``start`` (default: the current directory), walking up; or None."""
    here = Path(start or os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if is_workspace(candidate):
            return candidate
    return None


def course_files(course: str | os.PathLike) -> dict[str, Path]:
    """Every file of the course directory that a workspace gets, by relative POSIX path.

    Hidden files, checkpoints and the trainer's own notebooks (``trainer/``) stay behind.
    """
    root = Path(course)
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if not name.startswith("."):
                path = Path(dirpath) / name
                found[path.relative_to(root).as_posix()] = path
    return found


def fingerprint(path: Path) -> str:
    """What the learner wrote: for a notebook its cells' types and sources, else the bytes."""
    data = path.read_bytes()
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(data).get("cells", [])
            data = json.dumps([(c.get("cell_type"), _source(c.get("source", ""))) for c in cells]).encode()
        except (ValueError, AttributeError, TypeError):
            pass  # not a readable notebook: compare the bytes
    return hashlib.sha256(data).hexdigest()


def _source(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


# ---------------------------------------------------------------------------- the manifest


def _manifest_path(workspace: Path) -> Path:
    return workspace / STATE_DIR / MANIFEST


def read_manifest(workspace: str | os.PathLike) -> dict:
    path = _manifest_path(Path(workspace))
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFoundError(f"{workspace} is not a labkit workspace (no {path}); create one with "
                            f"'labkit course init {workspace}'") from None
    except (OSError, ValueError) as exc:
        raise LabkitError(f"{path} is unreadable ({exc}); move it away and run 'labkit course init {workspace}' "
                          "again (your notebooks are kept)") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise LabkitError(f"{path} is not a workspace manifest; move it away and run 'labkit course init "
                          f"{workspace}' again (your notebooks are kept)")
    return manifest


def _write_manifest(workspace: Path, manifest: dict) -> None:
    path = _manifest_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def course_version(files: dict[str, Path]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{rel}\0{fingerprint(files[rel])}\n".encode())
    return digest.hexdigest()[:12]


# ---------------------------------------------------------------------------- init and update


@dataclass
class SyncReport:
    """What ``init`` did, file by file (relative paths)."""

    workspace: Path
    created: bool = False
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the learner changed them; the course changed them too
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (learner's file, its new name)
    removed: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    version: str = ""

    def lines(self) -> list[str]:
        out = [f"{'created' if self.created else 'updated'} workspace {self.workspace} (course version {self.version})"]
        if self.created:
            notebooks = sum(1 for name in self.added if name.endswith(".ipynb"))
            out.append(f"  {len(self.added)} files: {notebooks} notebooks and the files they read; open it with "
                       f"'jupyter lab --notebook-dir {self.workspace}' (or bash scripts/lab)")
        for label, names in (("added", [] if self.created else self.added), ("updated", self.updated),
                             ("restored", self.restored),
                             ("reset to the course's version", self.reset), ("removed", self.removed)):
            if names:
                out.append(f"  {label}: {', '.join(names)}")
        for old, new in self.renamed:
            out.append(f"  your {old} is now {new}: the course added a file of that name")
        for name in self.kept:
            out.append(f"  kept your changes to {name} (the course changed it too: "
                       f"'labkit course init {self.workspace} --reset {name}' takes the new version)")
        for name in self.backups:
            out.append(f"  your previous copy is in {name}")
        if len(out) == 1:
            out.append("  up to date")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _stamp() -> str:
    return time.strftime("%Y%m%d%H%M%S")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".labkit-tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def _aside(path: Path) -> Path:
    """nbgitpuller's name for a learner's file that a new course file displaces."""
    candidate = path.with_name(f"{path.stem}__{_stamp()}{path.suffix}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}__{_stamp()}_{n}{path.suffix}")
        n += 1
    return candidate


def resolve_course_file(name: str, files: dict[str, Path]) -> str:
    """The course file ``name`` means: an exact relative path, a notebook name without ``.ipynb``,
    or a unique prefix such as ``02``."""
    name = name.strip().removeprefix("./")
    if name in files:
        return name
    for candidate in (name + ".ipynb", Path(name).name, Path(name).name + ".ipynb"):
        if candidate in files:
            return candidate
    matches = [rel for rel in files if rel.endswith(".ipynb") and "/" not in rel and rel.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    notebooks = ", ".join(sorted(rel[:-6] for rel in files if rel.endswith(".ipynb") and "/" not in rel))
    if matches:
        raise NotFoundError(f"--reset {name!r} matches several course files ({', '.join(sorted(matches))}); "
                            "give more of the name")
    raise NotFoundError(f"--reset {name!r} is not a course file; course notebooks: {notebooks}")


def init_workspace(directory: str | os.PathLike | None = None, course: str | os.PathLike | None = None,
                   learner: str | None = None, reset: list[str] | tuple[str, ...] = ()) -> SyncReport:
    """Create the workspace ``directory`` from ``course``, or update it (see the module docstring).

    ``reset``: course files (``02``, ``02-antrea-native-policies``, ``policies/x.yaml`` ...) to put
    back to the course's version; the learner's copy is moved to ``.labkit/backups/``.
    """
    from .names import learner_name

    workspace = Path(directory).expanduser() if directory else default_workspace()
    source = Path(course) if course else course_dir()
    files = course_files(source)
    if not any(rel.endswith(".ipynb") for rel in files):
        raise NotFoundError(f"{source} holds no notebooks: give the course directory with --course "
                            "(the 'notebooks' directory of a labkit checkout)")
    if workspace.resolve() == source.resolve() or source.resolve() in workspace.resolve().parents:
        raise LabkitError(f"the workspace {workspace} would be inside the course {source}; choose a directory "
                          f"outside the checkout (default: ~/{DEFAULT_DIRNAME})")
    if workspace.exists() and not workspace.is_dir():
        raise LabkitError(f"{workspace} exists and is not a directory; choose another workspace directory")
    created = not is_workspace(workspace)
    if created and workspace.exists() and any(workspace.iterdir()):
        existing = [rel for rel in files if (workspace / rel).exists()]
        if existing:
            raise LabkitError(f"{workspace} is not empty and not a labkit workspace (it already has "
                              f"{', '.join(existing[:3])}); choose an empty or new directory")
    manifest = {"format": 1, "files": {}} if created else read_manifest(workspace)
    known: dict[str, str] = dict(manifest["files"])
    report = SyncReport(workspace, created=created)
    wanted_resets = {resolve_course_file(name, files) for name in reset}

    new_fingerprints = {rel: fingerprint(path) for rel, path in files.items()}
    for rel, src in files.items():
        dst = workspace / rel
        new = new_fingerprints[rel]
        old = known.get(rel)
        if rel in wanted_resets:
            if dst.exists():
                backup = workspace / STATE_DIR / "backups" / f"{rel}.{_stamp()}"
                backup.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(dst), backup)
                report.backups.append(backup.relative_to(workspace).as_posix())
            _copy(src, dst)
            report.reset.append(rel)
        elif not dst.exists():
            _copy(src, dst)
            (report.added if old is None else report.restored).append(rel)
        elif old is None:
            if fingerprint(dst) != new:  # the learner's own file where the course now has one
                moved = _aside(dst)
                dst.rename(moved)
                report.renamed.append((rel, moved.relative_to(workspace).as_posix()))
                _copy(src, dst)
            elif not created:
                report.added.append(rel)
        else:
            mine = fingerprint(dst)
            if mine == new:
                pass
            elif mine == old:
                _copy(src, dst)
                report.updated.append(rel)
            else:
                report.kept.append(rel)
                continue  # remember the version the learner started from
        known[rel] = new
    for rel in sorted(set(known) - set(files)):  # gone from the course
        dst = workspace / rel
        if dst.exists() and fingerprint(dst) == known[rel]:
            dst.unlink()
            report.removed.append(rel)
        del known[rel]
    report.version = course_version(files)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest.update({"files": known, "course": str(source.resolve()), "version": report.version, "updated": now})
    manifest.setdefault("created", now)
    manifest.setdefault("learner", learner or learner_name())
    if learner:
        manifest["learner"] = learner
    manifest["labkit"] = _labkit_version()
    _write_manifest(workspace, manifest)
    return report


def nbgitpuller_url(hub: str, repo: str, branch: str = "main", notebook: str = "notebooks/00-start-here.ipynb",
                    targetpath: str = "labkit") -> str:
    """An nbgitpuller link for a JupyterHub that has nbgitpuller installed in the users' environment.

    The form is nbgitpuller's (``docs/topic/url-options.rst``: ``repo``, ``branch``, ``targetpath``,
    ``urlpath``), through the hub's ``/hub/user-redirect/`` so one link serves every learner; for
    JupyterLab, ``urlpath`` is ``lab/tree/<targetpath>/<notebook>``. The first click clones
    ``repo`` into ``~/<targetpath>``; later clicks merge the course's changes with nbgitpuller's
    rules (which line-merge notebooks: see the module docstring for how ``labkit course init``
    differs). ``repo`` is anything ``git clone`` accepts, a path on the hub's machine included.
    """
    from urllib.parse import quote, urlencode, urlsplit

    problems = []
    if urlsplit(hub).scheme not in ("http", "https") or not urlsplit(hub).netloc:
        problems.append(f"--hub {hub!r}: expected the hub's base URL, e.g. https://hub.example.org")
    if not repo.strip() or any(c.isspace() for c in repo):
        problems.append(f"--repo {repo!r}: expected a git URL or a path, without spaces")
    if not branch or any(c.isspace() or c in "~^:?*[\\" for c in branch) or ".." in branch:
        problems.append(f"--branch {branch!r}: expected a git branch name, e.g. main")
    parts = [p for p in f"{targetpath}/{notebook}".split("/") if p]
    if ".." in parts or targetpath.startswith("/") or notebook.startswith("/") or not notebook.endswith(".ipynb"):
        problems.append(f"--targetpath {targetpath!r} / --notebook {notebook!r}: expected relative paths, the "
                        "notebook ending in .ipynb (e.g. --targetpath labkit --notebook notebooks/00-start-here.ipynb)")
    if problems:
        raise LabkitError("cannot build the nbgitpuller link:\n  " + "\n  ".join(problems))
    query = urlencode({"repo": repo, "branch": branch, "targetpath": targetpath,
                       "urlpath": "lab/tree/" + "/".join(parts)}, quote_via=quote, safe="/")
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def _labkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labkit")
    except PackageNotFoundError:  # pragma: no cover - a checkout on sys.path without an install
        return "unknown"


def workspace_learner(workspace: str | os.PathLike) -> str:
    """The learner a workspace belongs to (its manifest), else the directory's name."""
    try:
        return str(read_manifest(workspace).get("learner") or Path(workspace).name)
    except LabkitError:
        return Path(workspace).resolve().name


__all__ = ["init_workspace", "find_workspace", "is_workspace", "default_workspace", "course_files", "fingerprint",
           "read_manifest", "workspace_learner", "resolve_course_file", "course_dir", "nbgitpuller_url", "SyncReport",
           "STATE_DIR",
           "WORKSPACE_ENV", "COURSE_PATTERN"]
