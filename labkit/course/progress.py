"""The learners' check log and the trainer's progress board. Nothing leaves the machine.

Every concluded check (:func:`labkit.course.checks.conclude`) appends one JSON line to its
workspace's ``.labkit/progress.jsonl``: time, learner, notebook, exercise, passed. One ``write``
of one line on a file opened with ``O_APPEND``, so two kernels of the same learner never
interleave a record. Nothing is recorded outside a workspace (a checkout's ``notebooks/``), in
headless course runs (``labkit notebooks run`` sets ``LABKIT_PROGRESS=off``), or when the
learner sets ``LABKIT_PROGRESS=off``.

The board (:func:`progress_frame`) has one row per learner and exercise: its state (*passed*
once any attempt passed, else *not yet*, or *not tried*), the number of attempts, and the times of
the first attempt, the first pass and the last attempt. The exercises come from the workspace's
notebooks (every ``check_*(..., title="...")`` call), so exercises nobody has tried yet show too.
``labkit course progress WORKSPACE...`` prints it; ``labkit.widgets.ProgressBoard`` shows it live
as a heat map; the JupyterHub trainer page (:mod:`.hub_board`) serves the same table.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from .workspace import COURSE_PATTERN, STATE_DIR, find_workspace, is_workspace, workspace_learner

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PROGRESS_FILE = "progress.jsonl"
PROGRESS_ENV = "LABKIT_PROGRESS"
STATES = ("passed", "not yet", "not tried")
COLUMNS = ["learner", "notebook", "exercise", "state", "attempts", "first_attempt", "passed_at", "last_attempt"]


def recording_enabled() -> bool:
    return os.environ.get(PROGRESS_ENV, "").strip().lower() not in ("0", "off", "no", "false")


def current_notebook() -> str | None:
    """The path of the notebook this kernel runs, when the server said so (``JPY_SESSION_NAME``,
    which jupyter_server puts in every kernel's environment; ipykernel also exposes it as
    ``__session__``)."""
    path = os.environ.get("JPY_SESSION_NAME")
    if not path:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            path = shell.user_ns.get("__session__") if shell is not None else None
        except ImportError:  # pragma: no cover
            path = None
    return str(path) if path else None


def progress_path(workspace: str | os.PathLike) -> Path:
    return Path(workspace) / STATE_DIR / PROGRESS_FILE


class Outcome(Protocol):
    """What the log keeps of a check (a :class:`~labkit.course.checks.CheckResult`, which records
    itself through :func:`record_check`)."""

    title: str
    passed: bool


def record_check(result: Outcome, workspace: str | os.PathLike | None = None,
                 notebook: str | None = None) -> Path | None:
    """Append ``result`` to the workspace's log; returns the log's path, or None when not recorded.

    The workspace is ``workspace``, else the one holding the running notebook, else the one
    holding the current directory. A failure to write never breaks the check: it is recorded nowhere.
    """
    if not recording_enabled():
        return None
    notebook = notebook or current_notebook()
    if workspace is None:
        start = Path(notebook).parent if notebook and Path(notebook).is_absolute() else None
        workspace = find_workspace(start) or find_workspace()
    if workspace is None:
        return None
    from .names import learner_name

    record = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "learner": learner_name(),
              "notebook": Path(notebook).stem if notebook else "", "exercise": result.title,
              "passed": bool(result.passed)}
    path = progress_path(workspace)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        return None
    return path


def read_records(workspace: str | os.PathLike) -> list[dict[str, Any]]:
    """Every well-formed record of a workspace's log, in order (a torn last line is skipped)."""
    path = progress_path(workspace)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("exercise"), str):
            records.append(record)
    return records


# ---------------------------------------------------------------------------- the exercises


def notebook_exercises(path: str | os.PathLike) -> list[str]:
    """The titles of a notebook's checks, in order: every ``check_*(..., title="...")`` call."""
    try:
        cells = json.loads(Path(path).read_text()).get("cells", [])
    except (OSError, ValueError):
        return []
    titles: list[str] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) else cell.get("source", "")
        code = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if not func.startswith("check_"):
                continue
            for keyword in node.keywords:
                if keyword.arg == "title" and isinstance(keyword.value, ast.Constant) \
                        and isinstance(keyword.value.value, str) and keyword.value.value not in titles:
                    titles.append(keyword.value.value)
    return titles


def course_exercises(directory: str | os.PathLike) -> list[tuple[str, str]]:
    """(notebook stem, exercise title) for every check of the course notebooks in ``directory``."""
    out = []
    for notebook in sorted(Path(directory).glob(COURSE_PATTERN)):
        out += [(notebook.stem, title) for title in notebook_exercises(notebook)]
    return out


# ---------------------------------------------------------------------------- the board


@dataclass
class ExerciseProgress:
    learner: str
    notebook: str
    exercise: str
    state: str = "not tried"
    attempts: int = 0
    first_attempt: str = ""
    passed_at: str = ""
    last_attempt: str = ""

    def add(self, record: dict[str, Any]) -> None:
        when = str(record.get("time", ""))
        self.attempts += 1
        self.first_attempt = self.first_attempt or when
        self.last_attempt = when
        if record.get("passed"):
            self.passed_at = self.passed_at or when
            self.state = "passed"
        elif self.state != "passed":
            self.state = "not yet"


def workspace_progress(workspace: str | os.PathLike) -> list[ExerciseProgress]:
    """One row per exercise of the workspace's course, then any other checks its log holds."""
    learner = workspace_learner(workspace)
    rows: dict[tuple[str, str], ExerciseProgress] = {}
    for notebook, exercise in course_exercises(workspace):
        rows[(notebook, exercise)] = ExerciseProgress(learner, notebook, exercise)
    for record in read_records(workspace):
        key = (str(record.get("notebook", "")), record["exercise"])
        rows.setdefault(key, ExerciseProgress(learner, *key)).add(record)
    return list(rows.values())


def find_workspaces(patterns: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """The workspaces the patterns name (paths or globs, ``~`` expanded), sorted, each once."""
    import glob

    items = [patterns] if isinstance(patterns, (str, os.PathLike)) else list(patterns)
    found: dict[Path, None] = {}
    for item in items:
        for match in sorted(glob.glob(os.path.expanduser(str(item)))):
            if is_workspace(match):
                found[Path(match).resolve()] = None
    return list(found)


def check_workspaces(workspaces: Iterable[str | os.PathLike]) -> list[Path]:
    """The given directories, each checked to be a workspace (every bad one reported at once)."""
    from ..errors import NotFoundError

    paths = [Path(w).expanduser() for w in workspaces]
    bad = [str(p) for p in paths if not is_workspace(p)]
    if bad:
        raise NotFoundError(f"not a labkit workspace: {', '.join(bad)} (a workspace has {STATE_DIR}/workspace.json; "
                            "create one with 'labkit course init DIR')")
    return paths


def progress_frame(workspaces: Iterable[str | os.PathLike]) -> "pd.DataFrame":
    """The board: one row per learner and exercise (columns :data:`COLUMNS`)."""
    import pandas as pd

    rows = [vars(row) for workspace in check_workspaces(workspaces) for row in workspace_progress(workspace)]
    return pd.DataFrame(rows, columns=COLUMNS)


def board_table(frame: "pd.DataFrame") -> str:
    """The board as plain text, one row per learner and exercise (``labkit course progress``)."""
    if frame.empty:
        return "no exercises found"
    printable = frame.copy()
    for column in ("first_attempt", "passed_at", "last_attempt"):
        printable[column] = printable[column].map(_short_time)
    printable.columns = [c.upper() for c in printable.columns]
    return printable.to_string(index=False)


def _short_time(value: str) -> str:
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return value


STATE_COLORS = {"passed": ("#009E73", "white", "✓"), "not yet": ("#D55E00", "white", "✗"),
                "not tried": ("#EEEEEE", "#555555", "·")}


def board_html(frame: "pd.DataFrame", title: str = "Class progress") -> str:
    """The board as a heat map: a row per learner, a column per exercise, the attempts in each cell."""
    import html

    esc = html.escape
    if frame.empty:
        return f"<div class='labkit-board'><b>{esc(title)}</b>: no learners or no exercises yet</div>"
    exercises = list(dict.fromkeys(zip(frame.notebook, frame.exercise)))
    learners = list(dict.fromkeys(frame.learner))
    cells = {(r.learner, r.notebook, r.exercise): r for r in frame.itertuples()}
    notebooks = list(dict.fromkeys(nb for nb, _ in exercises))
    spans = "".join(f"<th colspan='{sum(1 for n, _ in exercises if n == nb)}' style='border-bottom:1px solid #999'>"
                    f"{esc(nb)}</th>" for nb in notebooks)
    heads = "".join(f"<th style='writing-mode:vertical-rl;font-weight:normal;padding:2px'>{esc(ex)}</th>"
                    for _, ex in exercises)
    body = []
    for learner in learners:
        tds = []
        for notebook, exercise in exercises:
            row = cells.get((learner, notebook, exercise))
            state = row.state if row is not None else "not tried"
            bg, fg, glyph = STATE_COLORS[state]
            attempts = row.attempts if row is not None else 0
            tip = f"{learner} · {notebook} · {exercise}: {state}, {attempts} attempt(s)"
            if row is not None and row.passed_at:
                tip += f", passed at {_short_time(row.passed_at)}"
            tds.append(f"<td class='labkit-board-cell' data-state='{esc(state)}' title='{esc(tip)}' "
                       f"style='background:{bg};color:{fg};text-align:center;min-width:2.2em;padding:2px 4px'>"
                       f"{glyph}{attempts if attempts else ''}</td>")
        passed = sum(1 for nb, ex in exercises if (r := cells.get((learner, nb, ex))) is not None
                     and r.state == "passed")
        body.append(f"<tr><th style='text-align:left;padding-right:8px'>{esc(learner)}</th>{''.join(tds)}"
                    f"<td style='padding-left:8px;white-space:nowrap'>{passed}/{len(exercises)}</td></tr>")
    legend = " ".join(f"<span style='background:{bg};color:{fg};padding:0 6px'>{glyph}</span> {state}"
                      for state, (bg, fg, glyph) in STATE_COLORS.items())
    return (f"<div class='labkit-board'><div style='white-space:nowrap'><b>{esc(title)}</b> — {len(learners)} "
            f"learner(s), {len(exercises)} check(s); the number is the attempts. {legend}</div>"
            f"<table style='border-collapse:collapse'><tr><th></th>{spans}<th></th></tr>"
            f"<tr><th></th>{heads}<th>passed</th></tr>{''.join(body)}</table></div>")


__all__ = ["record_check", "read_records", "progress_frame", "workspace_progress", "board_table", "board_html",
           "notebook_exercises", "course_exercises", "check_workspaces", "find_workspaces", "current_notebook", "PROGRESS_ENV", "COLUMNS"]
