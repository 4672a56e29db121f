"""Notebook 07 on the ovs backend with its solutions: section 8 switches the lab through none ->
ipsec -> wireGuard with ``lab.set_encryption`` and captures real frames with ``lab.capture``; its
check cell fails unless the HTTP exchange is readable with none and hidden in both encrypted
modes. The notebook's last cell stops the lab: nothing may be left. About 20 s here."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from labkit.encryption.ipsec import available as ipsec_available
from labkit.encryption.wireguard import available as wireguard_available
from labkit.testing import run_notebook

_spec = importlib.util.spec_from_file_location("ovs_support", Path(__file__).parents[1] / "ovs" / "ovs_support.py")
ovs_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ovs_conftest)

pytestmark = [pytest.mark.root, pytest.mark.slow]
NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "07-encryption.ipynb"
LAB = "encryption"  # the notebook's Lab(..., name="encryption")


def test_notebook_07_runs_on_ovs_with_real_captures(jupyter_env):
    ovs_conftest.require_ovs()
    for check in (wireguard_available, ipsec_available):
        ok, why = check()
        if not ok:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true and real encryption cannot run: {why}")
            pytest.skip(f"real encryption unavailable: {why}")
    if ovs_conftest.lab_namespaces(LAB):
        pytest.fail(f"an ovs lab named {LAB!r} is already running here; stop it ('labkit down --name {LAB}')")
    try:
        nb = run_notebook(NOTEBOOK, {"BACKEND": "ovs", "SOLVE": True}, timeout_s=300)
    except CellExecutionError as exc:
        pytest.fail(f"07-encryption failed on backend ovs:\n{exc}", pytrace=False)
    outputs = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "Wire check: passed" in outputs and "none: real, ipsec: real, wireGuard: real" in outputs
    assert "Exercise 7: passed" in outputs and "Transport Data" in outputs
    assert not ovs_conftest.lab_namespaces(LAB)
    assert not ovs_conftest.live_processes(f"lk-{LAB}.")
