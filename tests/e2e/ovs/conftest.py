"""Shared fixtures for the ovs backend's end-to-end tests (helpers: ovs_support.py)."""

from __future__ import annotations

import os

import pytest

from labkit import Lab
from labkit.testing import profile_snapshot, reset_to_snapshot
from ovs_support import assert_no_leaks, require_ovs


@pytest.fixture
def ovs_required() -> None:
    require_ovs()


@pytest.fixture(scope="session")
def workshop_lab(tmp_path_factory):
    """One ovs lab with the workshop profile, shared by the scenario tests (reset between them)."""
    require_ovs()
    name = f"e2e{os.getpid() % 100000}"
    state_dir = tmp_path_factory.mktemp("ovs-lab")
    lab = Lab(backend="ovs", profile="workshop", name=name, state_dir=state_dir)
    lab._baseline = profile_snapshot(lab)  # type: ignore[attr-defined]
    try:
        yield lab
    finally:
        lab.stop()
        assert_no_leaks(name, state_dir)


@pytest.fixture
def reset_lab():
    """``reset_lab(lab)``: bring the shared lab back to its profile (labkit.testing.reset_to_snapshot)."""
    return lambda lab: reset_to_snapshot(lab, lab._baseline)  # type: ignore[attr-defined]
