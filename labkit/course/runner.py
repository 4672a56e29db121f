"""The course outside JupyterLab: run its notebooks headless, and share them on Binder.

* :func:`run_notebooks` (``labkit notebooks run``) executes notebooks with nbclient, each in a fresh
  kernel, with ``BACKEND``/``SOLVE`` injected after the cell tagged ``parameters`` (the same
  injection as the test suite: :func:`labkit.course.execute.parameterized_notebook`). It writes every
  executed copy (outputs included, also for a failed notebook: the failing cell shows its error)
  plus ``summary.json``, and returns a :class:`CourseRun` whose :meth:`~CourseRun.table` is the
  trainer's report. With ``solve`` the run is a *grading run* (``LABKIT_GRADING=1`` in each kernel):
  a check that does not pass raises, so the notebook fails. Without it checks only report, as in a
  learner's kernel, and the run passes unless something else fails; either way ``summary.json``
  lists every check's state, read from the checks' own display data
  (:data:`labkit.course.checks.CHECK_MIME`).
* :func:`binder_url` (``labkit binder-link``) builds the mybinder.org link that opens one notebook
  in JupyterLab.

The kernel is always *this* interpreter: the run gets private Jupyter config/data/runtime dirs with
a ``python3`` kernel spec pointing at ``sys.executable`` (:func:`labkit.course.execute.jupyter_environment`),
so the notebooks import the same labkit as the command, whatever kernels the user has installed.
Labs the notebooks start keep their state in that private directory too, away from the user's
``labkit up`` labs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from ..errors import BackendUnavailable, LabkitError
from .workspace import COURSE_PATTERN, course_dir

NOTEBOOK_BACKENDS = ("sim", "ovs", "kind")
DEFAULT_CELL_TIMEOUT_S = 300.0


# ---------------------------------------------------------------------------- which notebooks


def course_notebooks() -> list[Path]:
    return sorted(course_dir().glob(COURSE_PATTERN))


def resolve_notebooks(paths: list[str | Path] | None) -> list[Path]:
    """Notebook files for ``paths`` (files, or directories meaning every ``*.ipynb`` in them);
    the course when ``paths`` is empty. Every bad path is reported at once."""
    if not paths:
        return course_notebooks()
    found: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
            if not inside:
                problems.append(f"{raw}: directory has no .ipynb notebooks")
            found += inside
        elif not path.exists():
            problems.append(f"{raw}: no such file; give a notebook (.ipynb) or a directory of notebooks")
        elif path.suffix != ".ipynb":
            problems.append(f"{raw}: not a notebook (expected a .ipynb file)")
        else:
            found.append(path)
    names: dict[str, Path] = {}
    for path in found:
        if path.name in names and names[path.name].resolve() != path.resolve():
            problems.append(f"{path} and {names[path.name]} have the same file name, so their executed copies "
                            "would overwrite each other; run them in two calls with different --output-dir")
        names.setdefault(path.name, path)
    if problems:
        raise LabkitError("cannot run these notebooks:\n  " + "\n  ".join(problems))
    unique = {p.resolve(): p for p in found}  # the same notebook given twice runs once
    return list(unique.values())


# ---------------------------------------------------------------------------- results


@dataclass
class NotebookRun:
    """One notebook's result. ``failed_cell`` is the failing cell's 1-based position in the source
    notebook (as shown by ``nbformat`` and the executed copy, minus the injected parameter cell)."""

    notebook: str
    output: str
    passed: bool
    seconds: float
    failed_cell: int | None = None
    failed_cell_id: str | None = None
    failed_source: str = ""  # the failing cell's first line
    error: str = ""  # "ename: evalue" (evalue in full)
    checks: list[dict[str, Any]] = field(default_factory=list)  # every exercise check's result, in order

    @property
    def checks_passed(self) -> int:
        return sum(1 for c in self.checks if c.get("passed"))

    @property
    def status(self) -> str:
        return "pass" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass
class CourseRun:
    backend: str
    solve: bool
    output_dir: str
    runs: list[NotebookRun] = field(default_factory=list)
    total_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "solve": self.solve, "output_dir": self.output_dir,
                "passed": self.passed, "total_s": round(self.total_s, 2),
                "counts": {"pass": sum(r.passed for r in self.runs), "fail": sum(not r.passed for r in self.runs)},
                "notebooks": [r.to_dict() for r in self.runs]}

    def table(self) -> str:
        """A plain-text report: one row per notebook, then the failing cell and error of each failure."""
        width = max([len("NOTEBOOK")] + [len(Path(r.notebook).name) for r in self.runs])
        lines = [f"{'NOTEBOOK':<{width}}  STATUS  TIME_S  CHECKS  FAILED_CELL"]
        for r in self.runs:
            where = "" if r.passed else (f"cell {r.failed_cell}: {_shorten(r.failed_source, 50)}"
                                         if r.failed_cell else "(no cell: see error)")
            checks = f"{r.checks_passed}/{len(r.checks)}"
            lines.append(f"{Path(r.notebook).name:<{width}}  {r.status:<6}  {r.seconds:>6.1f}  {checks:>6}  "
                         f"{where}".rstrip())
        passed = sum(r.passed for r in self.runs)
        checks = [c for r in self.runs for c in r.checks]
        lines.append(f"{passed}/{len(self.runs)} passed on backend {self.backend} (SOLVE={self.solve}) "
                     f"in {self.total_s:.1f} s; {sum(1 for c in checks if c.get('passed'))}/{len(checks)} checks "
                     f"passed; executed copies and summary.json in {self.output_dir}")
        if not self.solve:
            waiting = [f"{Path(r.notebook).stem}: {c['exercise']}" for r in self.runs for c in r.checks
                       if not c.get("passed")]
            if waiting:
                lines.append("not yet (the exercises are left to the learner without --solve): "
                             + "; ".join(waiting))
        for r in self.runs:
            if not r.passed:
                lines.append(f"\n{Path(r.notebook).name}, cell {r.failed_cell}:\n  "
                             + "\n  ".join(_shorten(line, 160) for line in r.error.splitlines()[:12]))
        return "\n".join(lines)


def checks_of(nb) -> list[dict[str, Any]]:
    """The results of the checks an executed notebook ran, in order: each check's display data
    carries a copy of its result (:data:`labkit.course.checks.CHECK_MIME`)."""
    from .checks import CHECK_MIME

    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {}).get(CHECK_MIME)
            if isinstance(data, dict):
                found.append({k: data.get(k) for k in ("exercise", "passed", "state", "summary", "problems")})
    return found


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failure(nb, exc: BaseException) -> tuple[int | None, str | None, str, str]:
    """(1-based cell position in the source notebook, cell id, first source line, error) of a failed run.

    nbclient records ``execution_count`` when a cell *starts* (its execute_input message), so the
    failing cell is the one with an error output or, after a timeout or a dead kernel (no error
    output), the last cell that started.
    """
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    failing = next(((i, c) for i, c in code if any(o.get("output_type") == "error" for o in c.get("outputs", []))),
                   None)
    if failing is None:
        started = [(i, c) for i, c in code if c.get("execution_count") is not None]
        failing = started[-1] if started else None
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    error = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    error = _ANSI.sub("", error).strip()
    if failing is None:
        return None, None, "", error
    index, cell = failing
    injected = next((i for i, c in enumerate(nb.cells) if c.get("id") == "injected-parameters"), None)
    position = index + 1 - (1 if injected is not None and injected < index else 0)
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return position, cell.get("id"), first.strip(), error


# ---------------------------------------------------------------------------- running


@contextmanager
def _private_jupyter(root: Path) -> Iterator[None]:
    """Point Jupyter (and labs' state) at ``root`` for the kernels started inside, then restore."""
    from .execute import jupyter_environment

    env = jupyter_environment(root)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_backend(backend: str) -> None:
    """Fail before running anything when ``backend`` cannot run here (every notebook would fail)."""
    if backend not in NOTEBOOK_BACKENDS:
        raise LabkitError(f"--backend {backend!r} is not a course backend; choose one of {', '.join(NOTEBOOK_BACKENDS)}")
    from ..doctor import backend_status

    status = next(s for s in backend_status() if s.backend == backend)
    if not status.available:
        raise BackendUnavailable(f"backend {backend!r} cannot run here: {status.detail}; run 'labkit doctor' for "
                                 "what each backend needs, or use --backend sim")


def _check_lab_extra() -> None:
    missing = [m for m in ("nbclient", "nbformat", "ipykernel") if not _importable(m)]
    if missing:
        raise LabkitError(f"running notebooks needs {', '.join(missing)}: pip install 'labkit[lab]' "
                          "(or 'pip install -e .[lab]' in a checkout)")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run_notebooks(paths: list[str | Path] | None = None, backend: str = "sim", solve: bool = False,
                  output_dir: str | Path | None = None, timeout_s: float = DEFAULT_CELL_TIMEOUT_S,
                  progress: Callable[[str], None] | None = None) -> CourseRun:
    """Execute notebooks one after the other, each in a fresh kernel, with ``BACKEND = backend`` and
    ``SOLVE = solve`` injected; write the executed copies and ``summary.json`` to ``output_dir``
    (default ``build/notebooks-<backend>``). A failing notebook does not stop the others.

    ``timeout_s`` bounds each cell. ``solve`` also makes the run a grading run: a check that does
    not pass fails its notebook. Raises :class:`~labkit.errors.LabkitError` (nothing run) for bad
    paths, a backend that cannot run here, or a missing ``lab`` extra.
    """
    _check_lab_extra()
    notebooks = resolve_notebooks(paths)
    check_backend(backend)
    import nbformat

    from .execute import execute_notebook, parameterized_notebook, run_environment

    out = Path(output_dir) if output_dir else Path("build") / f"notebooks-{backend}"
    out.mkdir(parents=True, exist_ok=True)
    result = CourseRun(backend, solve, str(out))
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="labkit-notebooks-"))
    try:
        with _private_jupyter(root):
            for path in notebooks:
                if progress:
                    progress(f"running {path} on {backend} ...")
                nb = parameterized_notebook(path, {"BACKEND": backend, "SOLVE": solve})
                t0 = time.monotonic()
                run = NotebookRun(str(path), str(out / path.name), True, 0.0)
                try:
                    execute_notebook(nb, path.parent, timeout_s, env=run_environment(path, grading=solve))
                except Exception as exc:  # noqa: BLE001 - any failure (cell error, timeout, dead kernel) is a result
                    run.passed = False
                    run.failed_cell, run.failed_cell_id, run.failed_source, run.error = _failure(nb, exc)
                run.checks = checks_of(nb)
                run.seconds = round(time.monotonic() - t0, 2)
                nbformat.write(nb, out / path.name)
                result.runs.append(run)
                if progress:
                    progress(f"  {run.status} in {run.seconds:.1f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result.total_s = time.monotonic() - started
    (out / "summary.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    return result


# ---------------------------------------------------------------------------- Binder

BINDER_HUB = "https://mybinder.org"
# GitHub's rules: an owner is 1-39 letters, digits or single hyphens (not first or last); a repository
# name is letters, digits, '.', '_', '-' (not '.' or '..').
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# git check-ref-format: no control characters, space, ~ ^ : ? * [ \, no '..', '@{', '//', and no
# leading '/' or '-', trailing '/', '.' or '.lock'.
_REF_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[/-]|/$|\.$|\.lock$|^@$")


def binder_url(repo: str, ref: str, notebook: str, hub: str = BINDER_HUB) -> str:
    """The Binder link that builds ``repo`` (GitHub ``OWNER/NAME``) at ``ref`` and opens ``notebook``
    (a path inside the repository) in JupyterLab.

    The form is BinderHub's own (its "copy the URL" box, ``v2url`` in binderhub's JS):
    ``<hub>/v2/gh/OWNER/NAME/REF?urlpath=lab/tree/PATH``. BinderHub's GitHub provider splits the spec
    as ``user/repo/ref`` with ``split('/', 2)``, so a ref may keep its '/' (``feature/x``); other
    characters are percent-encoded. ``urlpath`` is a query value: '/' may stay (RFC 3986 allows it in
    a query) and everything else that is not unreserved is percent-encoded, '+' and '&' included
    (the hub decodes query values form-style, where '+' would turn into a space).
    Raises :class:`~labkit.errors.LabkitError` naming every bad option and its expected form.
    """
    problems = []
    owner, _, name = repo.strip().partition("/")
    name = name[:-4] if name.endswith(".git") else name
    if repo.startswith(("http://", "https://", "git@")) or "github.com/" in repo or "github.com:" in repo:
        tail = re.sub(r"^.*github\.com[/:]", "", repo).removesuffix(".git").strip("/")
        problems.append(f"--repo {repo!r}: give OWNER/NAME, not a URL (here: --repo {tail})")
    elif not (_OWNER.match(owner) and _REPO.match(name) and name not in (".", "..")):
        problems.append(f"--repo {repo!r}: expected OWNER/NAME as on GitHub, e.g. --repo my-org/labkit "
                        "(letters, digits and '-' for the owner; letters, digits, '.', '_', '-' for the name)")
    if not ref or _REF_BAD.search(ref):
        problems.append(f"--ref {ref!r}: expected a git branch, tag or commit, e.g. --ref main or --ref v0.1.0 "
                        "(no spaces, '..', '~', '^', ':', '?', '*', '[', '\\', no leading or trailing '/')")
    path = notebook.strip()
    if path.startswith("./"):
        path = path[2:]
    parts = path.split("/")
    if not path.endswith(".ipynb") or path.startswith("/") or ".." in parts or "" in parts or "\\" in path:
        problems.append(f"--notebook {notebook!r}: expected a notebook path relative to the repository root, "
                        "with '/' separators and ending in .ipynb, e.g. --notebook notebooks/00-start-here.ipynb")
    if not re.match(r"^https?://[^/\s]+(/[^\s?#]*)?$", hub):
        problems.append(f"--hub {hub!r}: expected a BinderHub base URL, e.g. --hub https://mybinder.org")
    if problems:
        raise LabkitError("cannot build the Binder link:\n  " + "\n  ".join(problems))
    spec = f"{quote(owner, safe='')}/{quote(name, safe='')}/{quote(ref, safe='/')}"
    return f"{hub.rstrip('/')}/v2/gh/{spec}?urlpath={quote('lab/tree/' + path, safe='/')}"


__all__ = ["run_notebooks", "resolve_notebooks", "course_notebooks", "course_dir", "check_backend", "CourseRun",
           "NotebookRun", "binder_url", "checks_of", "NOTEBOOK_BACKENDS", "BINDER_HUB"]
