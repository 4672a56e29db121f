"""The differential test: every policy scenario, measured with real packets through OVS running
Antrea's pipeline, must give the same matrices as the sim backend (the reference semantics) and
as the scenario's hand-written expectation, cell by cell, reject vs drop included.

One lab is started once and reset between scenarios (policies deleted, labels restored), as a
trainer would reuse a cluster, which also exercises atomic flow replacement on every change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.errors import UnsupportedOperation
from labkit.testing import format_mismatches, load_scenario, run_scenario, scenario_paths

SCENARIOS = scenario_paths(Path(__file__).resolve().parents[2] / "scenarios")

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_ovs_matches_sim(path, workshop_lab, reset_lab):
    lab = workshop_lab
    scenario = load_scenario(path)
    assert scenario.profile == "workshop", "the shared ovs lab runs the workshop profile"
    reset_lab(lab)
    sim_vs_ovs = []
    skipped = []

    def measure(lab, check):
        sources = check.pods or check.expected.sources
        destinations = check.pods or check.expected.destinations
        expected = lab.expected_reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                             sources=sources, destinations=destinations)
        try:
            got = lab.reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                   sources=sources, destinations=destinations)
        except UnsupportedOperation as exc:  # SCTP on a kernel without SCTP
            skipped.append(f"{check.protocol}/{check.port}: {exc}")
            return check.expected
        diff = expected.diff(got)
        if diff:
            sim_vs_ovs.append((check.protocol, check.port, check.src_port, diff))
        return got

    mismatches = run_scenario(scenario, lab, observe=measure)
    assert not sim_vs_ovs, f"{scenario.name}: ovs differs from sim: {sim_vs_ovs}"
    assert not mismatches, format_mismatches(scenario, mismatches)
    if skipped:
        print(f"{scenario.name}: not measured: {skipped}")
