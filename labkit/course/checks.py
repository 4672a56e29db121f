"""What every exercise check returns, and the one place that decides whether a failure halts.

A check (``check_reachability``, ``check_intent``, ``check_flows``, the 07/08 checks ...) builds a
:class:`CheckResult` and hands it to :func:`conclude`. The result shows itself in the notebook as a
green *passed* box or a red *not yet* box that says what differs and gives the hint, and it never
raises: "Run All" reaches the last cell whatever the learner has done so far. This is how
Otter-Grader's ``grader.check("q1")`` and Kaggle Learn's ``q1.check()`` behave: the check displays
a result object and the notebook goes on.

Only a **grading run** turns a failed check into an error (:class:`~labkit.errors.CheckFailed`),
so that ``labkit notebooks run --solve`` and the course's tests fail when a reference solution
stops passing. A check knows it is in a grading run from the environment of its kernel:
``LABKIT_GRADING=1`` (set by ``labkit notebooks run --solve`` and by
``labkit.testing.run_notebook``); see :func:`grading`.

Every concluded check is also recorded in the learner's workspace (:mod:`.progress`), which is
what the trainer's progress board reads, and carries a machine-readable copy of itself in its
display data (MIME type :data:`CHECK_MIME`), which is how ``labkit notebooks run`` lists each
exercise's state in ``summary.json`` without running anything twice.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckFailed

GRADING_ENV = "LABKIT_GRADING"
CHECK_MIME = "application/vnd.labkit.check+json"
PASSED_COLOR = "#009E73"  # Okabe-Ito bluish green, as the matrix's allow
NOT_YET_COLOR = "#D55E00"  # Okabe-Ito vermillion, as the matrix's drop
MAX_LISTED = 12


def grading() -> bool:
    """True in a grading run (``LABKIT_GRADING`` is ``1``/``true``/``yes``): failed checks raise."""
    return os.environ.get(GRADING_ENV, "").strip().lower() in ("1", "true", "yes")


@dataclass
class CheckResult:
    """The outcome of one exercise check.

    ``title`` names the exercise (``"Exercise 2"``); ``summary`` is one sentence about what was
    compared; ``problems`` lists every difference, never the answer; ``hint`` is the exercise's
    hint; ``items_html`` optionally renders the problems richer (badges) than plain text;
    ``data`` is what the check observed (e.g. the reachability matrix), for code that wants it.
    A result is truthy when it passed.
    """

    title: str
    passed: bool
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    hint: str = ""
    items_html: list[str] = field(default_factory=list)
    data: Any = None

    def __bool__(self) -> bool:
        return self.passed

    @property
    def state(self) -> str:
        return "passed" if self.passed else "not yet"

    def message(self) -> str:
        """One line: the verdict, what was compared and, when it failed, what differs and the hint."""
        text = f"{self.title}: {self.state}"
        if self.summary:
            text += f" — {self.summary}"
        if self.problems:
            listed = "; ".join(self.problems[:6])
            text += f": {listed}{' ...' if len(self.problems) > 6 else ''}"
        if self.hint and not self.passed:
            text += f" (hint: {self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"exercise": self.title, "passed": self.passed, "state": self.state, "summary": self.summary,
                "problems": list(self.problems), "hint": self.hint}

    def __repr__(self) -> str:
        return ("✓ " if self.passed else "✗ ") + self.message()

    def _repr_html_(self) -> str:
        esc = html.escape
        color = PASSED_COLOR if self.passed else NOT_YET_COLOR
        head = (f"{'✓' if self.passed else '✗'} <b>{esc(self.title)}: {self.state}</b>"
                + (f" — {esc(self.summary)}" if self.summary else ""))
        body = ""
        if not self.passed:
            items = self.items_html or [esc(p) for p in self.problems]
            shown = "".join(f"<li>{item}</li>" for item in items[:MAX_LISTED])
            if len(items) > MAX_LISTED:
                shown += f"<li>… and {len(items) - MAX_LISTED} more</li>"
            body = f"<ul style='margin:4px 0'>{shown}</ul>" if shown else ""
            if self.hint:
                body += f"<div>hint: {esc(self.hint)}</div>"
            body += "<div style='color:#555'>Change your answer, then run this cell again.</div>"
        return (f"<div class='labkit-check labkit-check-{'passed' if self.passed else 'not-yet'}' "
                f"style='border-left:6px solid {color};padding:4px 8px'>{head}{body}</div>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": repr(self), "text/html": self._repr_html_(), CHECK_MIME: self.to_dict()}


def stopped_lab(title: str, lab_name: str = "") -> CheckResult:
    """The result of a check on a stopped lab: after "Run All" the notebook's last cell
    (``lab.stop()``) has run, and a check cell run again afterwards finds no lab to measure."""
    name = f" {lab_name!r}" if lab_name else ""
    return CheckResult(title, False, f"the lab{name} is stopped (the notebook's last cell, lab.stop(), ran)",
                       hint="run lab.start() (or the notebook's Lab cell and the cells after it), then this cell again")


def conclude(result: CheckResult) -> CheckResult:
    """Record ``result`` in the learner's workspace, then return it (the notebook displays it).

    In a grading run a failed result is displayed here (so the executed copy shows the red box)
    and raised as :class:`~labkit.errors.CheckFailed`.
    """
    from .progress import record_check

    record_check(result)
    if grading() and not result.passed:
        _display(result)
        raise CheckFailed(result.message())
    return result


def _display(result: CheckResult) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the lab extras
        return
    display(result)


__all__ = ["CheckResult", "conclude", "grading", "stopped_lab", "GRADING_ENV", "CHECK_MIME"]
