"""The kind cluster of one lab: config, pinned versions, create/delete, Antrea install, prefetch.

What we follow, step by step (Antrea docs/kind.md, "Create a Kind cluster manually" and "Deploy
Antrea to your Kind cluster"; ci/kind/kind-setup.sh):

1. ``kind create cluster --name labkit-<lab> --config <state>/kind-config.yaml --kubeconfig
   <state>/kubeconfig`` with a config that has ``disableDefaultCNI: true`` (clusters/kind-workshop.yaml);
   the kubeconfig lives in the lab's state directory, never in ~/.kube/config.
2. Pre-load images in every Node (``kind load docker-image`` / ``kind load image-archive`` for a
   prefetched copy), skipping images the host does not have, as kind-setup.sh's ``load_images`` does.
3. ``kubectl apply -f https://github.com/antrea-io/antrea/releases/download/<TAG>/antrea.yml``
   (or the prefetched copy of that file).
4. Wait as Antrea's CI scripts do with ``kubectl rollout status deployment/antrea-controller`` and
   ``daemonset/antrea-agent -n kube-system``: the same rollout conditions, read through the
   Kubernetes client (:meth:`.kube.KubeClient.wait_rollout`).

Step 3 stays a ``kubectl apply -f``: it is how Antrea's install docs (docs/kind.md,
docs/getting-started.md) install a release, and the manifest holds CRDs, RBAC, webhooks and
workloads that kubectl applies in the order its own apply logic knows (CRDs must be established
before objects of their kinds); re-implementing that for a file labkit does not author would be
a second, unreviewed installer. Everything labkit itself creates goes through the client.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import yaml

from ...errors import CommandError, LabStateError
from ...model.manifest import project_root
from .tools import Shell, parse_version

if TYPE_CHECKING:  # pragma: no cover
    from .kube import KubeClient

log = logging.getLogger("labkit.kind")

CLUSTER_PREFIX = "labkit-"
KUBE_SYSTEM = "kube-system"


def clusters_dir() -> Path:
    return project_root() / "clusters"


# ---------------------------------------------------------------------------- pinned versions


@dataclass(frozen=True)
class Pins:
    """What clusters/kind-antrea.yaml pins (see the comments there)."""

    antrea_version: str = "v2.7.0"
    manifest_url: str = "https://github.com/antrea-io/antrea/releases/download/{version}/antrea.yml"
    kind_min: tuple[int, int, int] = (0, 20, 0)
    kind_ci: str = "v0.32.0"
    node_image: str = ""
    kubectl_min: tuple[int, int, int] = (1, 23, 0)
    agnhost_image: str = "registry.k8s.io/e2e-test-images/agnhost:2.53"
    kubectl_ci: str = "v1.36.1"


def load_pins(path: Path | None = None) -> Pins:
    path = path or clusters_dir() / "kind-antrea.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    antrea, kind, kubectl, work = (data.get(k) or {} for k in ("antrea", "kind", "kubectl", "workloads"))
    base = Pins()
    return Pins(antrea.get("version", base.antrea_version), antrea.get("manifestURL", base.manifest_url),
                parse_version(kind.get("minVersion", "")) or base.kind_min, kind.get("ciVersion", base.kind_ci),
                kind.get("nodeImage") or "", parse_version(kubectl.get("minVersion", "")) or base.kubectl_min,
                work.get("agnhostImage", base.agnhost_image), kubectl.get("ciVersion", base.kubectl_ci))


_TAG = re.compile(r"^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")


def antrea_version(explicit: str | None = None, pins: Pins | None = None) -> str:
    """The Antrea tag to install: the argument, else $LABKIT_ANTREA_VERSION, else the pinned one."""
    version = explicit or os.environ.get("LABKIT_ANTREA_VERSION") or (pins or load_pins()).antrea_version
    if not _TAG.match(version):
        raise ValueError(f"Antrea version {version!r} is not a release tag like v2.7.0 "
                         "(see https://github.com/antrea-io/antrea/releases)")
    return version


def is_release_tag(text: str) -> bool:
    """``v2.7.0``-like (what Antrea's release URLs need)."""
    return bool(_TAG.match(text or ""))


def manifest_url(version: str, pins: Pins | None = None) -> str:
    return (pins or load_pins()).manifest_url.format(version=version)


# ---------------------------------------------------------------------------- names and config


def cluster_name(lab: str) -> str:
    """Every kind cluster labkit creates is ``labkit-<lab>`` so ``labkit down --all`` can sweep them."""
    return f"{CLUSTER_PREFIX}{lab}"


def kind_node_names(cluster: str, workers: int) -> list[str]:
    """kind names Nodes ``<cluster>-control-plane``, ``<cluster>-worker``, ``<cluster>-worker2`` ..."""
    return [f"{cluster}-control-plane"] + [f"{cluster}-worker" + (str(i + 1) if i else "") for i in range(workers)]


def node_name_map(cluster: str, model_nodes: list[str]) -> dict[str, str]:
    """labkit's model names nodes as a cluster called ``kind`` would (kind-worker ...); map them."""
    return {n: cluster + n[len("kind"):] for n in model_nodes if n.startswith("kind-")}


def render_kind_config(workers: int = 2, path: Path | None = None) -> dict:
    """The kind ``Cluster`` config for a lab: clusters/kind-workshop.yaml with ``workers`` workers."""
    path = path or clusters_dir() / "kind-workshop.yaml"
    config = yaml.safe_load(path.read_text())
    if config.get("apiVersion") != "kind.x-k8s.io/v1alpha4" or config.get("kind") != "Cluster":
        raise ValueError(f"{path}: expected a kind.x-k8s.io/v1alpha4 Cluster")
    if not (config.get("networking") or {}).get("disableDefaultCNI"):
        raise ValueError(f"{path}: networking.disableDefaultCNI must be true (Antrea docs/kind.md)")
    planes = [n for n in config.get("nodes", []) if n.get("role") == "control-plane"] or [{"role": "control-plane"}]
    template = next((n for n in config.get("nodes", []) if n.get("role") == "worker"), {"role": "worker"})
    config["nodes"] = planes + [dict(template) for _ in range(workers)]
    return config


# ---------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class Stage:
    name: str
    estimate_s: float  # labkit's rough figure on a laptop with images already local


# Estimates: Antrea docs say "a few seconds" once images are local; kind node boot dominates.
START_STAGES = (Stage("preflight", 3), Stage("create-cluster", 60), Stage("load-images", 20),
                Stage("install-antrea", 5), Stage("wait-antrea", 60), Stage("apply-objects", 5),
                Stage("wait-pods", 30))
ATTACH_STAGES = (Stage("preflight", 3), Stage("attach", 3), Stage("apply-objects", 5), Stage("wait-pods", 30))


@dataclass(frozen=True)
class ProgressEvent:
    stage: str
    step: int  # 1-based
    steps: int
    message: str
    remaining_s: float  # estimate for this stage and the ones after it

    def __str__(self) -> str:
        return f"[{self.step}/{self.steps}] {self.stage}: {self.message} (about {self.remaining_s:.0f} s left)"


class Progress:
    def __init__(self, callback: Callable[[ProgressEvent], None] | None, stages: tuple[Stage, ...]) -> None:
        self.callback = callback
        self.stages = stages

    def __call__(self, stage: str, message: str = "") -> None:
        names = [s.name for s in self.stages]
        i = names.index(stage)
        event = ProgressEvent(stage, i + 1, len(names), message or stage,
                              sum(s.estimate_s for s in self.stages[i:]))
        log.info("%s", event)
        if self.callback is not None:
            self.callback(event)


# ---------------------------------------------------------------------------- prefetch (offline labs)


def cache_root() -> Path:
    return Path(os.environ.get("LABKIT_KIND_CACHE") or Path.home() / ".cache" / "labkit" / "kind")


def manifest_images(text: str) -> list[str]:
    """Every ``image:`` of a manifest, in order, without duplicates."""
    seen: list[str] = []
    for m in re.finditer(r"^\s*(?:-\s*)?image:\s*[\"']?([^\s\"']+)", text, re.M):
        if m[1] not in seen:
            seen.append(m[1])
    return seen


def archive_name(image: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", image) + ".tar"


@dataclass
class Prefetched:
    """What ``prefetch`` saved in a directory (index.json)."""

    directory: Path
    version: str
    manifest: Path
    images: dict[str, Path] = field(default_factory=dict)  # image -> docker save archive

    @classmethod
    def load(cls, directory: Path) -> "Prefetched | None":
        index = directory / "index.json"
        if not index.exists():
            return None
        data = json.loads(index.read_text())
        return cls(directory, data["version"], directory / data["manifest"],
                   {img: directory / tar for img, tar in data.get("images", {}).items()})


def _download(url: str, dest: Path, timeout_s: float = 60) -> None:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - a fixed https URL
        dest.write_bytes(resp.read())


def prefetch(dest_dir: str | os.PathLike | None = None, version: str | None = None, *, shell: Shell | None = None,
             download: Callable[[str, Path], None] = _download, pins: Pins | None = None,
             extra_images: tuple[str, ...] = ()) -> Prefetched:
    """Save what an offline lab needs: the Antrea manifest and every image (``labkit kind prefetch``).

    Downloads ``antrea.yml`` of the release, then ``docker pull`` + ``docker save`` each image it
    names, plus agnhost (and the pinned kindest/node image, if any). At start the backend uses the
    saved manifest and ``kind load image-archive``s the archives.
    """
    shell = shell or Shell()
    pins = pins or load_pins()
    version = antrea_version(version, pins)
    dest = Path(dest_dir) if dest_dir else cache_root() / version
    dest.mkdir(parents=True, exist_ok=True)
    manifest = dest / f"antrea-{version}.yml"
    url = manifest_url(version, pins)
    try:
        download(url, manifest)
    except OSError as exc:
        raise CommandError(f"could not download {url}: {exc}; check the network (or the tag {version})") from exc
    images = manifest_images(manifest.read_text()) + [pins.agnhost_image, *extra_images]
    if pins.node_image:
        images.append(pins.node_image)
    saved: dict[str, str] = {}
    for image in dict.fromkeys(images):
        shell.run(["docker", "pull", image], timeout_s=600, hint="check the network and that the Docker engine runs")
        tar = archive_name(image)
        shell.run(["docker", "save", "-o", str(dest / tar), image], timeout_s=600)
        saved[image] = tar
    (dest / "index.json").write_text(json.dumps({"version": version, "manifest": manifest.name, "url": url,
                                                 "images": saved}, indent=1))
    return Prefetched(dest, version, manifest, {i: dest / t for i, t in saved.items()})


# ---------------------------------------------------------------------------- the cluster


class KindCluster:
    """One kind cluster, driven through the kind CLI; the kubeconfig is ``<state_dir>/kubeconfig``."""

    def __init__(self, name: str, state_dir: Path, shell: Shell) -> None:
        self.name = name
        self.state_dir = Path(state_dir)
        self.shell = shell

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def kubectl(self) -> list[str]:
        return ["kubectl", "--kubeconfig", str(self.kubeconfig)]

    def exists(self) -> bool:
        out = self.shell.run(["kind", "get", "clusters"], timeout_s=30)
        return self.name in out.stdout.split()

    def create(self, config: dict, node_image: str = "", timeout_s: float = 900) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "kind-config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = ["kind", "create", "cluster", "--name", self.name, "--config", str(path),
                "--kubeconfig", str(self.kubeconfig)]
        if node_image:
            argv += ["--image", node_image]
        self.shell.run(argv, timeout_s=timeout_s,
                       hint=f"see the kind output above; 'kind delete cluster --name {self.name}' removes a "
                            "half-created cluster; https://kind.sigs.k8s.io/docs/user/known-issues/")

    def export_kubeconfig(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.shell.run(["kind", "export", "kubeconfig", "--name", self.name, "--kubeconfig", str(self.kubeconfig)],
                       timeout_s=30)

    def delete(self, timeout_s: float = 300) -> None:
        # kind deletes a missing cluster without error, so this is idempotent.
        self.shell.run(["kind", "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)],
                       timeout_s=timeout_s)

    def load_images(self, images: list[str], prefetched: Prefetched | None = None) -> list[str]:
        """Load images into every Node; returns those loaded (the others the Nodes will pull)."""
        loaded = []
        for image in images:
            tar = prefetched.images.get(image) if prefetched else None
            if tar is not None and tar.exists():
                self.shell.run(["kind", "load", "image-archive", str(tar), "--name", self.name], timeout_s=600)
                loaded.append(image)
                continue
            # kind-setup.sh load_images: only images the host already has; the Nodes pull the rest.
            if self.shell.run(["docker", "image", "inspect", image], timeout_s=30, check=False).returncode != 0:
                log.info("image %s not on the host; the Nodes will pull it", image)
                continue
            self.shell.run(["kind", "load", "docker-image", image, "--name", self.name], timeout_s=600)
            loaded.append(image)
        return loaded


def install_antrea(shell: Shell, kubectl: list[str], manifest: str, timeout_s: float = 180) -> None:
    """``kubectl apply -f <antrea.yml URL or prefetched file>`` (docs/kind.md)."""
    shell.run([*kubectl, "apply", "-f", manifest], timeout_s=timeout_s,
              hint="if offline, run 'labkit kind prefetch' while online and start again")


# What Antrea's CI waits for after installing (kubectl rollout status <kind>/<name> -n kube-system).
ANTREA_ROLLOUTS = (("deployment", "antrea-controller"), ("daemonset", "antrea-agent"))
WAIT_ANTREA_HINT = ("look at 'kubectl -n kube-system get pods -l app=antrea' and the agent logs "
                    "('kubectl -n kube-system logs ds/antrea-agent -c install-cni'): an agent stuck in Init usually "
                    "means the host kernel lacks the openvswitch module (sudo modprobe openvswitch)")


def wait_antrea(kube: "KubeClient", timeout_s: float = 300) -> None:
    """Wait as Antrea's CI does: rollout status of the controller Deployment and agent DaemonSet."""
    deadline = time.monotonic() + timeout_s
    for kind, name in ANTREA_ROLLOUTS:
        left = max(1, math.ceil(deadline - time.monotonic()))
        kube.wait_rollout(kind, name, KUBE_SYSTEM, left, WAIT_ANTREA_HINT)


def sweep(shell: Shell | None = None) -> list[str]:
    """Delete every kind cluster labkit created (``labkit-*``), for ``labkit down --all``."""
    shell = shell or Shell()
    names = [n for n in shell.run(["kind", "get", "clusters"], timeout_s=30).stdout.split()
             if n.startswith(CLUSTER_PREFIX)]
    for name in names:
        shell.run(["kind", "delete", "cluster", "--name", name], timeout_s=300)
    return names


def require_cluster(cluster: KindCluster) -> None:
    if not cluster.exists():
        raise LabStateError(f"the kind cluster {cluster.name!r} no longer exists; remove the lab with "
                            f"'labkit down' and create it again with 'labkit up --backend kind'")


__all__ = ["Pins", "load_pins", "antrea_version", "is_release_tag", "manifest_url", "cluster_name", "kind_node_names", "node_name_map",
           "render_kind_config", "Stage", "START_STAGES", "ATTACH_STAGES", "ProgressEvent", "Progress",
           "manifest_images", "Prefetched", "prefetch", "cache_root", "KindCluster", "install_antrea",
           "wait_antrea", "ANTREA_ROLLOUTS", "sweep", "require_cluster"]
