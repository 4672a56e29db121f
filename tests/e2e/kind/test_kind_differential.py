"""The backend contract on real Antrea: every policy scenario of tests/scenarios, measured with real
probes between agnhost pods on a kind cluster, must give the matrices the sim backend computes and
the scenario's hand-written expectation, cell by cell, reject vs drop included (as the ovs
backend's tests/e2e/ovs/test_differential.py does). Needs Docker; see conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.errors import UnsupportedOperation
from labkit.testing import format_mismatches, load_scenario, run_scenario, scenario_paths

SCENARIOS = scenario_paths(Path(__file__).resolve().parents[2] / "scenarios")

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_kind_matches_sim(path, kind_lab, reset_lab):
    lab = kind_lab
    scenario = load_scenario(path)
    if scenario.profile != "workshop":
        pytest.skip(f"{scenario.name} uses profile {scenario.profile}; the shared kind lab runs workshop")
    reset_lab(lab)
    sim_vs_kind, skipped = [], []

    def measure(lab, check):
        sources = check.pods or check.expected.sources
        destinations = check.pods or check.expected.destinations
        expected = lab.expected_reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                             sources=sources, destinations=destinations)
        try:
            got = lab.reachability(port=check.port, protocol=check.protocol, src_port=check.src_port,
                                   sources=sources, destinations=destinations)
        except UnsupportedOperation as exc:  # agnhost cannot fix the source port
            skipped.append(f"{check.protocol}/{check.port} src_port={check.src_port}: {exc}")
            return check.expected
        diff = expected.diff(got)
        if diff:
            sim_vs_kind.append((check.protocol, check.port, check.src_port, diff))
        return got

    mismatches = run_scenario(scenario, lab, observe=measure)
    assert not sim_vs_kind, f"{scenario.name}: kind (real Antrea) differs from sim: {sim_vs_kind}"
    assert not mismatches, format_mismatches(scenario, mismatches)
    if skipped:
        print(f"{scenario.name}: not measured: {skipped}")
