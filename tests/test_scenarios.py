"""Every scenario in tests/scenarios runs on the sim backend and must match its hand-written matrices."""

from pathlib import Path

import pytest

from labkit import Lab
from labkit.testing import format_mismatches, load_scenario, run_scenario, scenario_paths

SCENARIOS = scenario_paths(Path(__file__).parent / "scenarios")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_on_sim(path):
    scenario = load_scenario(path)
    with Lab(backend="sim", profile=scenario.profile) as lab:
        mismatches = run_scenario(scenario, lab)
    assert not mismatches, format_mismatches(scenario, mismatches)


def test_corpus_is_substantial():
    assert len(SCENARIOS) >= 30
    for path in SCENARIOS:
        scenario = load_scenario(path)
        assert scenario.covers and scenario.source, f"{path.name} must say what it covers and where it comes from"
