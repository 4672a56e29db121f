"""The layers of docs/architecture.md, kept honest by import-linter (contracts in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_import_labkit_stays_light():
    code = ("import sys, labkit; heavy = [m for m in ('pandas', 'ipywidgets', 'cryptography', 'mininet', "
            "'labkit.backends.ovs', 'labkit.backends.kind', 'labkit.nsx', 'plotly') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    assert out == "", f"import labkit pulled in: {out}"
