"""Load a manifest from what a user hands in: a path, YAML text, a dict, or a list of dicts.

The result is a list of (typed object, source document) pairs; any problem in any document
raises one :class:`~labkit.errors.ManifestError` listing all of them, so nothing is applied.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

from ..errors import ManifestError, NotFoundError, Problem
from .objects import AnyObject
from .parse import parse_document
from .yamlsrc import Document, documents_from_data, expand_lists, load_documents

ManifestSource = Union[str, os.PathLike, dict, list]
YAML_SUFFIXES = (".yaml", ".yml", ".json")


def project_root() -> Path:
    """The labkit checkout (where ``clusters/``, ``policies/`` and ``notebooks/`` live)."""
    return Path(os.environ.get("LABKIT_HOME") or Path(__file__).resolve().parents[2])


def resolve_path(name: str | os.PathLike) -> Path | None:
    """A manifest path as given, else relative to the labkit checkout (so notebooks can say
    ``policies/deny-all.yaml`` whatever their working directory)."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    if not path.is_absolute():
        candidate = project_root() / path
        if candidate.exists():
            return candidate
    return None


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and ":" not in text.split("/")[0] and (
        text.endswith(YAML_SUFFIXES) or "/" in text or os.sep in text)


def read_documents(source: ManifestSource) -> list[Document]:
    if isinstance(source, list) and source and all(isinstance(d, Document) for d in source):
        return list(source)  # already read (e.g. from a git revision), with their sources and lines
    if isinstance(source, (dict, list)):
        return documents_from_data(source)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = resolve_path(source)
        if path is None:
            places = dict.fromkeys([os.getcwd(), str(project_root())])
            raise NotFoundError(f"manifest file {str(source)!r} not found (looked in {' and '.join(places)}); "
                                "pass a path, YAML text, a dict or a list of dicts")
        files = sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES) if path.is_dir() else [path]
        docs: list[Document] = []
        for f in files:
            docs += expand_lists(load_documents(f.read_text(), source=str(source if f == path else f)))
        return docs
    if isinstance(source, str):
        return expand_lists(load_documents(source))
    raise TypeError(f"cannot load a manifest from {type(source).__name__}: pass a path, YAML text, a dict "
                    "or a list of dicts")


def load_manifest(source: ManifestSource, default_namespace: str = "default") -> list[tuple[AnyObject, Document]]:
    """Parse and validate every document; raise ManifestError with all problems if any."""
    items, problems = parse_manifest(source, default_namespace)
    if problems:
        raise ManifestError(problems)
    return items


def parse_manifest(source: ManifestSource, default_namespace: str = "default"
                   ) -> tuple[list[tuple[AnyObject, Document]], list[Problem]]:
    """Parse every document: the valid objects and the problems of the invalid ones."""
    docs = read_documents(source)
    items: list[tuple[AnyObject, Document]] = []
    problems: list[Problem] = []
    seen: dict = {}
    for doc in docs:
        obj, found = parse_document(doc, default_namespace)
        problems += found
        if obj is not None:
            if obj.ref in seen:
                other = seen[obj.ref]
                problems.append(Problem(f"{obj.ref} is defined twice in the manifest (first in document "
                                        f"{other.index})", "metadata.name", obj.ref.kind, obj.ref.name,
                                        obj.ref.namespace, doc.source, doc.line_of("metadata.name"), doc.index,
                                        "give each object a unique name"))
            seen[obj.ref] = doc
            items.append((obj, doc))
    return items, problems


# Kinds `labkit diff --git` takes from a repository's files (any API group: a retired one is then
# reported as the error it is); Pods, Deployments ... are the cluster's, not the policy change's.
POLICY_KINDS = ("NetworkPolicy", "ClusterNetworkPolicy", "Tier", "ClusterGroup", "Group")


def policy_documents(files: list[tuple[str, str]]) -> tuple[list[Document], dict[str, int]]:
    """The policy documents (:data:`POLICY_KINDS`) of ``(source, text)`` files, and how many
    documents of each other kind were left out."""
    docs: list[Document] = []
    others: dict[str, int] = {}
    for source, text in files:
        for doc in expand_lists(load_documents(text, source=source)):
            kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
            if kind in POLICY_KINDS:
                docs.append(doc)
            else:
                others[str(kind)] = others.get(str(kind), 0) + 1
    return docs, others


def refs_of(source: ManifestSource, default_namespace: str = "default") -> list[Any]:
    """The object references a manifest names (for delete), validated like apply."""
    return [obj.ref for obj, _ in load_manifest(source, default_namespace)]
