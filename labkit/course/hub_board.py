"""The trainer's page on a JupyterHub: the progress board as a hub-managed service.

``deploy/jupyterhub/jupyterhub_config.py`` starts it (``python -m labkit.course.hub_board``) as a
managed service named ``trainer-board``; the hub routes ``/services/trainer-board/`` to it and
passes its identity in the environment (``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_API_TOKEN``,
``JUPYTERHUB_OAUTH_ACCESS_SCOPES`` ...). A visitor logs in through the hub (OAuth,
:class:`jupyterhub.services.auth.HubOAuthenticated`) and sees the page only with the scope
``access:services!service=trainer-board``, which the configuration gives the trainers alone:
a learner gets 403 (JupyterHub docs, "Services": hub-managed services and their OAuth; the scope
model is docs/source/rbac/scopes.md).

The page reads the learners' workspaces straight from the disk (``LABKIT_BOARD_WORKSPACES``:
glob patterns separated by ``os.pathsep``, e.g. ``<hub>/homes/*/labkit-course``), as
``labkit course progress`` does: the service runs on the hub's machine, as the hub's user, so it
sees every learner, including those whose server is stopped. (On Zero to JupyterHub the homes are
per-user volumes: there the board must read through each running server's contents API with
``access:servers!user=<name>`` scopes, or from a shared volume; not implemented here.)

* ``GET <prefix>``: the heat map (HTML, refreshing itself every ``LABKIT_BOARD_REFRESH_S`` seconds)
* ``GET <prefix>progress.json``: the rows, one per learner and exercise
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from .progress import board_html, find_workspaces, progress_frame

BOARD_ENV = "LABKIT_BOARD_WORKSPACES"


def board_workspaces():
    patterns = [p for p in os.environ.get(BOARD_ENV, "").split(os.pathsep) if p]
    return find_workspaces(patterns)


def page(frame, viewer: str, refresh_s: int) -> str:
    import html

    return (f"<!doctype html><html><head><meta charset='utf-8'><title>labkit · class progress</title>"
            f"<meta http-equiv='refresh' content='{refresh_s}'>"
            "<style>body{font-family:sans-serif;margin:1em 2em} th,td{font-size:13px}</style></head><body>"
            f"<p style='color:#555'>signed in as {html.escape(viewer)} · refreshes every {refresh_s} s · "
            "<a href='progress.json'>progress.json</a></p>"
            f"{board_html(frame)}</body></html>")


def make_app():
    """The tornado application (imports JupyterHub's service helpers, so only where it runs)."""
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from jupyterhub.utils import url_path_join
    from tornado import web

    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/trainer-board/")
    refresh_s = int(os.environ.get("LABKIT_BOARD_REFRESH_S", "10"))

    class BoardHandler(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def get(self) -> None:
            frame = progress_frame(board_workspaces())
            self.set_header("Cache-Control", "no-store")
            self.write(page(frame, self.get_current_user()["name"], refresh_s))

    class JsonHandler(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def get(self) -> None:
            frame = progress_frame(board_workspaces())
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.write(json.dumps(json.loads(frame.to_json(orient="records"))))

    return web.Application([
        (prefix, BoardHandler),
        (url_path_join(prefix, "progress.json"), JsonHandler),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32))


def main() -> None:
    from tornado.ioloop import IOLoop

    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    make_app().listen(url.port, url.hostname)
    IOLoop.current().start()


if __name__ == "__main__":  # pragma: no cover - started by the hub
    main()


__all__ = ["make_app", "page", "board_workspaces", "BOARD_ENV"]
