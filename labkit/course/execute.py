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


def execute_notebook(nb, cwd: str | Path, timeout_s: float = 120, env: dict[str, str] | None = None):
    """Execute ``nb`` in place (nbclient fills each cell's outputs as it runs, so after a failure
    ``nb`` still shows every output up to and including the failing cell), in directory ``cwd``.

    ``env``: variables added to the kernel's environment (e.g. ``LABKIT_GRADING``). The kernel
    talks over Unix sockets in the Jupyter runtime directory when their paths fit (``ipc``
    transport: only this user can connect, and ipykernel does not warn "Kernel is running over TCP
    without encryption" once per notebook), else over TCP on 127.0.0.1.
    """
    import os

    from nbclient import NotebookClient
    from traitlets.config import Config

    config = Config({"KernelManager": _transport()})
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3", config=config,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env={**os.environ, **(env or {})})
    return nb


def run_environment(path: str | Path, grading: bool) -> dict[str, str]:
    """What a headless run adds to a kernel's environment: whether failed checks raise
    (``LABKIT_GRADING``, :func:`labkit.course.checks.grading`), no entries in a learner's progress
    log (``LABKIT_PROGRESS=off``), and the notebook's path as jupyter_server gives it
    (``JPY_SESSION_NAME``), so checks know their notebook."""
    from .checks import GRADING_ENV
    from .progress import PROGRESS_ENV

    return {GRADING_ENV: "1" if grading else "0", PROGRESS_ENV: "off", "JPY_SESSION_NAME": str(Path(path).resolve())}


# AF_UNIX paths are at most 107 bytes on Linux (sun_path is 108 with the NUL); ipc sockets are
# named <prefix>-<n>.
_SUN_PATH_MAX = 107


def _transport() -> dict[str, str]:
    """ipc with an absolute socket prefix in the runtime dir (jupyter_client's default prefix,
    ``kernel-ipc``, is relative: the kernel, started in the notebook's directory, and the client
    would look in different places), when the socket paths fit; else tcp."""
    import os
    import uuid

    from jupyter_core.paths import jupyter_runtime_dir

    prefix = os.path.join(jupyter_runtime_dir(), f"labkit-{uuid.uuid4().hex[:12]}-ipc")
    if os.name != "posix" or len(prefix) + len("-10") > _SUN_PATH_MAX:
        return {"transport": "tcp"}
    os.makedirs(os.path.dirname(prefix), mode=0o700, exist_ok=True)
    return {"transport": "ipc", "ip": prefix}


__all__ = ["jupyter_environment", "parameterized_notebook", "execute_notebook", "run_environment"]
