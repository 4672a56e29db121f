"""The scenario corpus replayed through a real kubectl (client-side and server-side apply, delete,
label) against the lab's Kubernetes API gives exactly the matrices ``Lab.apply`` gives.

Manifests go to kubectl as JSON documents: kubectl's YAML 1.1 reader turns an unquoted ``y`` or ``n`` (the
corpus's namespace labels ``ns: y``) into a boolean, which every real API server then refuses;
labkit's loader keeps them strings (see docs/kubectl.md, "YAML differences").
"""

import json
from pathlib import Path

import pytest

from labkit import Lab
from labkit.model.yamlsrc import load_documents
from labkit.testing import Kubectl, format_mismatches, load_scenario, run_scenario_with_kubectl, scenario_paths

SCENARIOS = scenario_paths(Path(__file__).resolve().parents[2] / "scenarios")


def as_json(scenario):
    for step in scenario.steps:
        if step.apply:
            step.apply = "\n---\n".join(json.dumps(d.data) for d in load_documents(step.apply))
    return scenario


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side-apply", "server-side-apply"])
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_through_kubectl(path, server_side, kubectl_bin, tmp_path):
    scenario = as_json(load_scenario(path))
    with Lab(backend="sim", profile=scenario.profile, name="corpus", state_dir=tmp_path / "lab",
             kube_api=True) as lab:
        mismatches = run_scenario_with_kubectl(scenario, lab, Kubectl(lab.kubeconfig, tmp_path / "cache", kubectl_bin),
                                               server_side=server_side)
    assert not mismatches, format_mismatches(scenario, mismatches)
