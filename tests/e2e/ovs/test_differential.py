"""The differential test: every policy scenario, measured with real packets through OVS running
Antrea's pipeline, must give the same matrices as the sim backend (the reference semantics) and
as the scenario's hand-written expectation, cell by cell, reject vs drop included.

One lab is started once and reset between scenarios (policies deleted, labels restored), as a
trainer would reuse a cluster, which also exercises atomic flow replacement on every change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.testing import format_mismatches, load_scenario, run_differential, scenario_paths

SCENARIOS = scenario_paths(Path(__file__).resolve().parents[2] / "scenarios")

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_ovs_matches_sim(path, workshop_lab, reset_lab):
    lab = workshop_lab
    scenario = load_scenario(path)
    assert scenario.profile == "workshop", "the shared ovs lab runs the workshop profile"
    reset_lab(lab)
    run = run_differential(scenario, lab)
    assert not run.backend_vs_engine, f"{scenario.name}: ovs differs from sim: {run.backend_vs_engine}"
    assert not run.mismatches, format_mismatches(scenario, run.mismatches)
    if run.not_measured:  # SCTP on a kernel without SCTP
        print(f"{scenario.name}: not measured: {run.not_measured}")
