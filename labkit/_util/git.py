"""Files of a git revision, read with the ``git`` command (for ``labkit diff --git BASE..HEAD``).

Nothing is checked out: ``git ls-tree`` lists a revision's files and ``git show REV:PATH`` reads
them, so the working tree (and its uncommitted changes) is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..errors import LabkitError
from .proc import run

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def revision_range(spec: str) -> tuple[str, str]:
    """``BASE..HEAD`` (``BASE..`` means ``BASE..HEAD``) -> (base, head)."""
    base, sep, head = spec.partition("..")
    if not sep or not base or head.startswith("."):
        raise LabkitError(f"--git {spec!r} is not a revision range; write BASE..HEAD, e.g. --git origin/main..HEAD")
    return base, head or "HEAD"


def _git(args: Sequence[str], cwd: str | os.PathLike) -> str:
    proc = run(["git", *args], cwd=cwd, check=False, timeout_s=60, hint="install git (apt-get install git)")
    if proc.returncode != 0:
        message = (proc.stderr or "").strip().splitlines()
        first = message[0] if message else f"git {' '.join(args)} failed (exit {proc.returncode})"
        if "not a git repository" in first:
            raise LabkitError(f"{Path(cwd).resolve()} is not in a git repository (fix: run labkit diff --git inside "
                              "the repository that holds the policy files)")
        if "unknown revision" in first or "bad revision" in first or "Not a valid object name" in first \
                or "not a tree object" in first:
            raise LabkitError(f"git cannot find a revision in {' '.join(args[-3:])!r}: {first} (fix: name existing "
                              "commits or branches; in CI fetch the base branch first, e.g. "
                              "actions/checkout with fetch-depth: 0)")
        raise LabkitError(f"git {' '.join(args)}: {first}")
    return proc.stdout


def manifest_files(revision: str, paths: Sequence[str], cwd: str | os.PathLike = ".") -> list[str]:
    """The YAML/JSON files under ``paths`` (relative to ``cwd``) at ``revision``, as repository paths."""
    out = _git(["ls-tree", "-r", "-z", "--name-only", "--full-name", revision, "--", *(paths or ["."])], cwd)
    return sorted(f for f in out.split("\0") if f and f.endswith(MANIFEST_SUFFIXES))


def read_file(revision: str, path: str, cwd: str | os.PathLike = ".") -> str:
    """A file's text at ``revision`` (``path`` from the repository root)."""
    return _git(["show", f"{revision}:{path}"], cwd)


__all__ = ["revision_range", "manifest_files", "read_file", "MANIFEST_SUFFIXES"]
