"""Shared fixtures for the kind backend's end-to-end tests (real kind cluster, real Antrea).

Two ways to run them, both used by .github/workflows/kind-e2e.yml:

* default: ``Lab(backend="kind")`` creates its own kind cluster ``labkit-e2e<pid>`` (kind create
  cluster, Antrea install, workloads) and deletes it at the end;
* ``LABKIT_E2E_KUBE_CONTEXT=<context>``: an existing cluster that already runs Antrea (the
  workflow creates one with ``kind create cluster`` and ``kubectl apply -f antrea.yml``), used
  with ``backend="k8s"``: labkit only creates, and then deletes, its own objects.

Where the backend's pre-flight fails (no Docker engine, kind, kubectl or openvswitch module) the
tests skip and say which check failed and how to fix it, as on the development machine, which has
no Docker engine. With ``LABKIT_REQUIRE_KIND=true`` (set by the workflow) they fail instead, so
the workflow can never go green by skipping.
"""

from __future__ import annotations

import os

import pytest

from labkit import Lab
from labkit.backends.kind.tools import preflight

CONTEXT = os.environ.get("LABKIT_E2E_KUBE_CONTEXT", "")
MODE = "k8s" if CONTEXT else "kind"
_REPORT = preflight(MODE)


def kind_missing() -> str:
    """Why the kind backend cannot run here ('' when it can)."""
    if _REPORT.ok:
        return ""
    if MODE == "kind" and not _REPORT.check("docker").ok:
        return "needs a Docker engine; this machine has none:\n" + str(_REPORT)
    return f"kind backend pre-flight ({MODE} mode) failed:\n{_REPORT}"


def require_kind() -> None:
    why = kind_missing()
    if why:
        if os.environ.get("LABKIT_REQUIRE_KIND") == "true":
            pytest.fail(f"LABKIT_REQUIRE_KIND=true and the kind backend cannot run: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def kind_lab(tmp_path_factory):
    """One workshop lab on kind (or on the given context), shared by every test and reset between them."""
    require_kind()
    options = {"context": CONTEXT} if CONTEXT else {}
    lab = Lab(backend=MODE, profile="workshop", name=f"e2e{os.getpid() % 100000}",
              state_dir=tmp_path_factory.mktemp("kind-lab"), backend_options=options)
    lab._baseline = baseline(lab)  # type: ignore[attr-defined]
    try:
        yield lab
    finally:
        lab.stop()


# baseline/reset: the same as tests/e2e/ovs/conftest.py (conftest modules of sibling test
# directories cannot import each other without making tests/ a package).
def baseline(lab: Lab) -> dict:
    """What reset() restores: the profile's objects and every pod's and namespace's labels."""
    return {"refs": set(lab.state.objects), "pods": {p.key: dict(p.labels) for p in lab.state.pods},
            "namespaces": {n.name: dict(n.labels) for n in lab.state.namespaces}}


_DELETE_ORDER = ("ClusterNetworkPolicy", "NetworkPolicy", "ClusterGroup", "Group", "Service", "Deployment",
                 "Pod", "Tier", "Namespace")


@pytest.fixture
def reset_lab():
    """``reset_lab(lab)``: bring the shared lab back to its profile."""
    return reset


def reset(lab: Lab) -> None:
    base = lab._baseline  # type: ignore[attr-defined]
    extra = [ref for ref in lab.state.objects if ref not in base["refs"]]
    extra.sort(key=lambda r: _DELETE_ORDER.index(r.kind) if r.kind in _DELETE_ORDER else len(_DELETE_ORDER))
    for ref in extra:
        lab.delete(ref, ignore_not_found=True)
    for key, labels in base["pods"].items():
        current = lab.state.pod(key).labels
        if current != labels:
            lab.label(key, **{**{k: None for k in current}, **labels})
    for name, labels in base["namespaces"].items():
        ns = lab.state.namespace(name)
        if ns is not None and ns.labels != labels:
            lab.label(f"ns:{name}", **{**{k: None for k in ns.labels if k != "kubernetes.io/metadata.name"},
                                      **{k: v for k, v in labels.items() if k != "kubernetes.io/metadata.name"}})
