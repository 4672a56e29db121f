"""The backend contract on real Antrea: every policy scenario of tests/scenarios, measured with real
probes between agnhost pods on a kind cluster, must give the matrices the sim backend computes and
the scenario's hand-written expectation, cell by cell, reject vs drop included (as the ovs
backend's tests/e2e/ovs/test_differential.py does). Needs Docker; see conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.testing import format_mismatches, load_scenario, run_differential, scenario_paths

SCENARIOS = scenario_paths(Path(__file__).resolve().parents[2] / "scenarios")

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_kind_matches_sim(path, kind_lab, reset_lab):
    lab = kind_lab
    scenario = load_scenario(path)
    if scenario.profile != "workshop":
        pytest.skip(f"{scenario.name} uses profile {scenario.profile}; the shared kind lab runs workshop")
    reset_lab(lab)
    run = run_differential(scenario, lab)
    assert not run.backend_vs_engine, f"{scenario.name}: kind (real Antrea) differs from sim: {run.backend_vs_engine}"
    assert not run.mismatches, format_mismatches(scenario, run.mismatches)
    if run.not_measured:  # agnhost cannot fix the source port
        print(f"{scenario.name}: not measured: {run.not_measured}")
