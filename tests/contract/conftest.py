"""The backend contract, run on every backend this machine has.

``contract_lab`` is one workshop lab per backend (module scope): sim always; ovs as root with Open
vSwitch (on its SmartNIC topology, so every capability the class declares can be exercised; with
``CI=true`` a missing ovs fails instead of skipping); kind with a Docker engine (skips here, and
says so). A test resets the lab to its profile before using it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from labkit import Lab
from labkit.testing import profile_snapshot, reset_to_snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e" / "ovs"))
from ovs_support import assert_no_leaks, require_ovs  # noqa: E402

BACKENDS = ["sim", "ovs", "kind"]


def _require_kind() -> None:
    from labkit.backends.kind.tools import preflight

    report = preflight("kind")
    if not report.ok:
        if os.environ.get("LABKIT_REQUIRE_KIND") == "true":
            pytest.fail(f"LABKIT_REQUIRE_KIND=true and the kind backend cannot run:\n{report}")
        pytest.skip(f"the kind backend needs a Docker engine, kind and kubectl; pre-flight:\n{report}")


@pytest.fixture(scope="module", params=BACKENDS)
def contract_lab(request, tmp_path_factory):
    backend = request.param
    options: dict = {}
    if backend == "ovs":
        require_ovs()
        options = {"topology": "smartnic"}
    elif backend == "kind":
        _require_kind()
    name = f"ct{backend[0]}{os.getpid() % 100000}"
    state_dir = tmp_path_factory.mktemp(f"contract-{backend}")
    lab = Lab(backend=backend, profile="workshop", name=name, state_dir=state_dir, backend_options=options)
    baseline = profile_snapshot(lab)
    lab.reset = lambda: reset_to_snapshot(lab, baseline)  # type: ignore[attr-defined]
    try:
        yield lab
    finally:
        lab.stop()
        if backend == "ovs":
            assert_no_leaks(name, state_dir)
