"""The public surface of labkit.encryption and labkit.smartnic, and what importing them costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import labkit.encryption
import labkit.smartnic
from labkit.encryption.wireguard import WireGuardMesh, interface_names


@pytest.mark.parametrize("package", [labkit.encryption, labkit.smartnic])
def test_everything_in_all_exists(package):
    assert package.__all__ and all(hasattr(package, name) for name in package.__all__)


def test_import_labkit_does_not_load_the_encryption_stack():
    code = "import sys, labkit; print('labkit.encryption' in sys.modules, 'cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_wireguard_interface_names_fit_ifnamsiz_and_differ_per_lab():
    a, b = interface_names("lab-one", 3), interface_names("lab-two", 3)
    assert all(len(n) <= 15 and n.startswith("lkwg") for n in a + b) and not set(a) & set(b)


def test_a_mesh_needs_one_namespace_per_node():
    from labkit.encryption import NodeEndpoint

    nodes = [NodeEndpoint("a", "lkenc-x", "10.250.0.1", "10.251.1.0/24"),
             NodeEndpoint("b", "lkenc-x", "10.250.0.2", "10.251.2.0/24")]
    with pytest.raises(ValueError, match="own network namespace"):
        WireGuardMesh(nodes)
