"""``ProgressBoard``: the trainer's live heat map of the class (one row per learner, one column per check).

A view over :func:`labkit.course.progress.progress_frame`: it reads the learners' workspaces
(their ``.labkit/progress.jsonl``, written by every check they run) and redraws every
``refresh_s`` seconds, so new attempts and new learners show up while the class works. Workspaces
are given as paths or glob patterns (``"/home/*/labkit-course"``), expanded again at each refresh.
Nothing leaves the machine: the board reads files, as ``labkit course progress`` does.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..course.progress import board_html, find_workspaces, progress_frame
from ._style import ERROR, esc


class ProgressBoard(widgets.VBox):
    """Live heat map of the class: ``ProgressBoard("/home/*/labkit-course")``.

    ``refresh_s``: seconds between automatic refreshes (0: only the *refresh* button). ``frame``
    holds the last table (one row per learner and exercise), for your own pandas questions.
    """

    def __init__(self, workspaces: str | os.PathLike | list[str | os.PathLike], refresh_s: float = 10.0,
                 title: str = "Class progress", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.patterns = workspaces
        self.title = title
        self.frame = None
        self.board = widgets.HTML()
        self.board.add_class("labkit-progress-board")
        self.status = widgets.HTML()
        self.refresh_button = widgets.Button(description="refresh", icon="refresh",
                                             layout=widgets.Layout(width="100px"))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.auto = widgets.Checkbox(value=refresh_s > 0, description=f"every {refresh_s:g} s" if refresh_s else "auto",
                                     indent=False, layout=widgets.Layout(width="140px"))
        self.children = [widgets.HBox([self.refresh_button, self.auto, self.status]), self.board]
        self.refresh_s = refresh_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()
        if refresh_s > 0:
            self._thread = threading.Thread(target=self._loop, name="labkit-progress-board", daemon=True)
            self._thread.start()

    def workspaces(self) -> list[Path]:
        return find_workspaces(self.patterns)

    def refresh(self) -> None:
        """Read every workspace again and redraw."""
        try:
            spaces = self.workspaces()
            self.frame = progress_frame(spaces)
            self.board.value = board_html(self.frame, title=self.title)
            self.status.value = (f"<span style='color:#555'>{len(spaces)} workspace(s), updated "
                                 f"{time.strftime('%H:%M:%S')}</span>")
        except Exception as exc:  # noqa: BLE001 - a board that stops refreshing must say why
            self.status.value = f"<span style='color:{ERROR}'>refresh failed: {esc(exc)}</span>"

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            if self.auto.value:
                self.refresh()

    def close(self) -> None:
        self._stop.set()
        super().close()


__all__ = ["ProgressBoard", "find_workspaces"]
