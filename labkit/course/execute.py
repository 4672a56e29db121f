"""Executing course notebooks headless: an isolated Jupyter, parameters injected as papermill does.

Used by ``labkit notebooks run`` (:mod:`.runner`) and, through :mod:`labkit.testing`, by tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def jupyter_environment(root: str | Path) -> dict[str, str]:
    """Environment variables for an isolated Jupyter (config/data/runtime dirs under ``root``) whose
    ``python3`` kernel is this interpreter; labs started by the notebooks keep their state there too."""
    import json
    import sys

    root = Path(root)
    spec = root / "data" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (labkit)", "language": "python"}))
    env = {"JUPYTER_DATA_DIR": "data", "JUPYTER_CONFIG_DIR": "config", "JUPYTER_RUNTIME_DIR": "runtime",
           "IPYTHONDIR": "ipython", "LABKIT_STATE_DIR": "labkit-state"}
    return {**{k: str(root / v) for k, v in env.items()}, "JUPYTER_PLATFORM_DIRS": "1"}


def parameterized_notebook(path: str | Path, parameters: dict[str, Any] | None = None, extra_source: str = ""):
    """The notebook at ``path`` with a cell (id and tag ``injected-parameters``) holding ``parameters``
    and ``extra_source``, placed after its cell tagged ``parameters``, or first when it has none:
    papermill's convention for both cases."""
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), -1)
    source = "\n".join(f"{k} = {v!r}" for k, v in (parameters or {}).items()) + "\n" + extra_source
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    cell.id = "injected-parameters"
    nb.cells.insert(index + 1, cell)
    return nb


def execute_notebook(nb, cwd: str | Path, timeout_s: float = 120):
    """Execute ``nb`` in place (nbclient fills each cell's outputs as it runs, so after a failure
    ``nb`` still shows every output up to and including the failing cell), in directory ``cwd``."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


__all__ = ["jupyter_environment", "parameterized_notebook", "execute_notebook"]
