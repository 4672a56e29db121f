"""``PolicyEditor``: write a manifest, apply or delete it, see every problem at once.

Apply and Delete go through the :class:`~labkit.widgets.session.LabSession`, so the matrix and
the other views refresh. A manifest that does not validate changes nothing (the Lab's
all-or-nothing apply); the editor lists every :class:`~labkit.errors.Problem` with its line,
field path (kubectl notation), object and hint, and quotes the offending line of the text.
Below, the policies in effect, in Antrea's evaluation order (``lab.policies()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from ..errors import LabkitError, ManifestError, NotFoundError, Problem
from ..model.manifest import resolve_path
from ._style import ERROR, OK, WARN, esc, frame_html
from .session import LabSession, session_for

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab

STARTER = """\
# A Kubernetes NetworkPolicy: default deny for ingress to every pod of namespace x.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
  namespace: x
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""


class PolicyEditor(widgets.VBox):
    """YAML textarea with Apply / Delete / Reset, inline validation errors, and the policies in effect."""

    yaml = traitlets.Unicode(help="the manifest text being edited")
    status = traitlets.Unicode(help="plain-text outcome of the last action ('' before any)")
    problems = traitlets.List(help="Problems of the last failed apply/delete, as dicts")

    def __init__(self, lab: "Lab | LabSession", yaml: str | None = None, rows: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session_for(lab)
        self.lab = self.session.lab
        self.initial = STARTER if yaml is None else yaml
        self.fixed_rows = rows  # None: the box grows with the text (MIN_ROWS..MAX_ROWS)
        self.text = widgets.Textarea(rows=rows or fitting_rows(self.initial), layout=widgets.Layout(width="100%"))
        self.text.add_class("labkit-yaml")
        widgets.link((self.text, "value"), (self, "yaml"))
        self.apply_button = widgets.Button(description="Apply", button_style="success", icon="check")
        self.delete_button = widgets.Button(description="Delete", button_style="danger", icon="trash")
        self.reset_button = widgets.Button(description="Reset", icon="undo",
                                           tooltip="put the original text back (the lab is not changed)")
        self.apply_button.on_click(lambda _: self.apply())
        self.delete_button.on_click(lambda _: self.delete())
        self.reset_button.on_click(lambda _: self.reset())
        self.status_html = widgets.HTML()
        self.status_html.add_class("labkit-editor-status")
        self.policies_html = widgets.HTML()
        css = widgets.HTML("<style>.labkit-yaml textarea {font-family: monospace; font-size: 13px}</style>")
        self.children = [css, self.text, widgets.HBox([self.apply_button, self.delete_button, self.reset_button]),
                         self.status_html, widgets.HTML("<b>Policies in effect</b> (evaluation order: tier "
                                                        "priority, then policy priority)"), self.policies_html]
        self.yaml = self.initial
        if rows is None:
            self.text.observe(lambda change: setattr(self.text, "rows", fitting_rows(change["new"])), names="value")
        self._handler = self.session.subscribe(self._show_policies)
        self._show_policies()

    @classmethod
    def from_file(cls, lab: "Lab | LabSession", path: str, **kwargs: Any) -> "PolicyEditor":
        """An editor pre-filled with a manifest file (relative paths: cwd, then the labkit checkout)."""
        found = resolve_path(path)
        if found is None:
            raise NotFoundError(f"manifest file {path!r} not found")
        return cls(lab, yaml=found.read_text(), **kwargs)

    # ------------------------------------------------------------------ actions

    def apply(self) -> bool:
        """Apply the text; True if the lab changed, False if it was refused (see ``problems``)."""
        if not self.yaml.strip() or not _has_documents(self.yaml):
            self._fail("nothing to apply: the text has no YAML document")
            return False
        try:
            result = self.session.apply(self.yaml)
        except ManifestError as exc:
            self._fail_problems(exc.problems, "nothing was applied")
            return False
        except LabkitError as exc:
            self._fail(str(exc))
            return False
        self._ok(str(result) or "applied")
        return True

    def delete(self) -> bool:
        """Delete the objects the text names."""
        try:
            deleted = self.session.delete(self.yaml)
        except ManifestError as exc:
            self._fail_problems(exc.problems, "nothing was deleted")
            return False
        except LabkitError as exc:
            self._fail(str(exc))
            return False
        self._ok("\n".join(f"{ref} deleted" for ref in deleted) or "nothing to delete")
        return True

    def reset(self) -> None:
        """Put the original text back; the lab is not touched."""
        self.yaml = self.initial
        self.problems = []
        self.status = ""
        self.status_html.value = ""

    def close(self) -> None:
        handler = getattr(self, "_handler", None)  # absent if __init__ failed half-way
        if handler is not None:
            self.session.unsubscribe(handler)
            self._handler = None
        super().close()

    # ------------------------------------------------------------------ rendering

    def _ok(self, message: str) -> None:
        """A change the model took. On a stopped lab nothing enforces it (after the notebook's
        ``lab.stop()``, or before ``lab.start()``): said plainly, in the warning colour, not as a success."""
        self.problems = []
        if not self.lab.running:
            message += "\n(the lab is stopped: nothing enforces this until lab.start(); after lab.stop(), run " \
                       "the notebook's Lab cell again)"
        self.status = message
        lines = "<br>".join(esc(line) for line in message.splitlines())
        if self.lab.running:
            self.status_html.value = f"<div style='color:{OK}'>✓ {lines}</div>"
        else:
            self.status_html.value = f"<div style='color:{WARN}'>⚠ {lines}</div>"

    def _fail(self, message: str) -> None:
        self.problems = []
        self.status = message
        self.status_html.value = f"<div style='color:{ERROR}'>✗ {esc(message)}</div>"

    def _fail_problems(self, problems: list[Problem], what: str) -> None:
        self.problems = [problem_dict(p) for p in problems]
        self.status = f"{len(problems)} problem(s); {what}:\n" + "\n".join(problem_line(p) for p in problems)
        source_lines = self.yaml.splitlines()
        items = []
        for p in problems:
            quote = ""
            if p.line and p.source == "<string>" and 0 < p.line <= len(source_lines):
                quote = (f"<pre style='margin:2px 0 0 0;background:#f6f6f6'>{p.line:>3} | "
                         f"{esc(source_lines[p.line - 1])}</pre>")
            hint = f"<div>fix: {esc(p.hint)}</div>" if p.hint else ""
            where = f"line {p.line}" if p.line else "(no line)"
            ref = f" · {esc(p.ref)}" if p.ref else ""
            path = f"<code>{esc(p.path)}</code>: " if p.path else ""
            items.append(f"<li><b>{where}</b>{ref}<br>{path}{esc(p.message)}{hint}{quote}</li>")
        self.status_html.value = (f"<div style='color:{ERROR}'><b>✗ {len(problems)} problem(s); {esc(what)}</b>"
                                  f"<ul style='color:black'>{''.join(items)}</ul></div>")

    def _show_policies(self) -> None:
        try:
            frame = self.lab.policies()
        except LabkitError as exc:
            self.policies_html.value = f"<i>{esc(exc)}</i>"
            return
        self.policies_html.value = frame_html(frame, empty="no policies: every pod accepts and sends everything")


MIN_ROWS, MAX_ROWS = 6, 40


def fitting_rows(text: str) -> int:
    """Rows that show ``text`` whole (plus one to type into), between MIN_ROWS and MAX_ROWS."""
    return max(MIN_ROWS, min(MAX_ROWS, len(text.splitlines()) + 1))


def problem_dict(p: Problem) -> dict:
    return {"line": p.line, "path": p.path, "kind": p.kind, "name": p.name, "namespace": p.namespace,
            "message": p.message, "hint": p.hint}


def problem_line(p: Problem) -> str:
    where = f"line {p.line}" if p.line else "?"
    path = f"{p.path}: " if p.path else ""
    ref = f" {p.ref}" if p.ref else ""
    hint = f" (fix: {p.hint})" if p.hint else ""
    return f"{where}{ref}: {path}{p.message}{hint}"


def _has_documents(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") and line.strip() != "---"
               for line in text.splitlines())


__all__ = ["PolicyEditor", "STARTER"]
