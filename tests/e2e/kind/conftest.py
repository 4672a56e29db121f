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
from labkit.testing import profile_snapshot, reset_to_snapshot
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
    lab._baseline = profile_snapshot(lab)  # type: ignore[attr-defined]
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def reset_lab():
    """``reset_lab(lab)``: bring the shared lab back to its profile (labkit.testing.reset_to_snapshot)."""
    return lambda lab: reset_to_snapshot(lab, lab._baseline)  # type: ignore[attr-defined]
