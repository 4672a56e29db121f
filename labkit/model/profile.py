"""Lab profiles (``clusters/<name>.yaml``): a cluster's namespaces, pods and services as plain
Kubernetes manifests, headed by one labkit ``LabProfile`` document (workers, default probes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ManifestError, NotFoundError, Problem
from .manifest import project_root
from .objects import Node
from .cluster import default_nodes
from .yamlsrc import Document, load_documents

PROFILE_API = "labkit.io/v1alpha1"
SNAPSHOT = "snapshot"  # the profile of a lab loaded from a snapshot: no kind nodes, the snapshot's own


@dataclass
class Profile:
    name: str
    description: str = ""
    workers: int = 2
    probes: list[dict] = field(default_factory=lambda: [{"port": 80, "protocol": "TCP"}])
    documents: list[Document] = field(default_factory=list)
    path: str = ""
    kind_nodes: bool = True  # False: the cluster starts without nodes (its manifests bring them)

    def nodes(self) -> list[Node]:
        return default_nodes(self.workers) if self.kind_nodes else []


def profiles_dir() -> Path:
    return project_root() / "clusters"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml") if not p.stem.startswith("kind-"))


def load_profile(name_or_path: str | None) -> Profile:
    """``None`` or ``"empty"``: a cluster with nodes and nothing else; else a name in clusters/ or a path."""
    if name_or_path in (None, "", "empty"):
        return Profile("empty", "no namespaces or pods, only nodes")
    if name_or_path == SNAPSHOT:
        return Profile(SNAPSHOT, "a real cluster's objects from a kubectl snapshot (nodes included)",
                       kind_nodes=False)
    path = Path(name_or_path)
    if not path.exists():
        path = profiles_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        raise NotFoundError(f"no lab profile {name_or_path!r}; available: {', '.join(available_profiles())} "
                            "(or give the path of a profile YAML file)")
    docs = load_documents(path.read_text(), source=str(path))
    profile = Profile(path.stem, path=str(path))
    rest = []
    for doc in docs:
        data = doc.data
        if isinstance(data, dict) and data.get("kind") == "LabProfile":
            if data.get("apiVersion") != PROFILE_API:
                raise ManifestError(Problem(f"LabProfile must use apiVersion {PROFILE_API}", "apiVersion",
                                            "LabProfile", source=str(path), line=doc.line_of("apiVersion")))
            spec = data.get("spec") or {}
            profile.name = (data.get("metadata") or {}).get("name", profile.name)
            profile.description = spec.get("description", "")
            profile.workers = int(spec.get("workers", 2))
            profile.probes = list(spec.get("probes") or profile.probes)
        else:
            rest.append(doc)
    profile.documents = rest
    return profile
