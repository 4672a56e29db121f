"""labkit's class on one VM: JupyterHub, a workspace per learner, and the trainer's progress page.

Start it from labkit's venv (``pip install -e '.[hub]'``; ``bash scripts/test`` installs the proxy,
configurable-http-proxy, into ``deploy/jupyterhub/node_modules``)::

    export LABKIT_HUB_DIR=/srv/labkit-hub LABKIT_HUB_LEARNERS="alice bob carol" LABKIT_HUB_TRAINERS=trainer
    export LABKIT_HUB_PASSWORD=...           # learners' shared password, >= 8 characters
    export LABKIT_HUB_TRAINER_PASSWORD=...   # trainers' password, >= 32 characters, different
    .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Environment (defaults in brackets):

* ``LABKIT_HUB_DIR`` [cwd]: the hub's database, cookie secret, pid files and, with the ``simple``
  spawner, the learners' homes (``homes/<name>``).
* ``LABKIT_HUB_BIND_URL`` [``http://127.0.0.1:8000``]: where learners connect. For a class across a
  network, bind the VM's address behind TLS (``c.JupyterHub.ssl_cert``/``ssl_key``, or a reverse proxy).
* ``LABKIT_HUB_API_PORT`` [8081], ``LABKIT_HUB_PROXY_API_PORT`` [8001], ``LABKIT_BOARD_PORT`` [8002]:
  internal ports, all on 127.0.0.1.
* ``LABKIT_HUB_LEARNERS``, ``LABKIT_HUB_TRAINERS``: the roster (space or comma separated). Only these
  names can log in; trainers are hub admins and log in with the trainer password.
* ``LABKIT_HUB_SPAWNER`` [``simple``]: ``simple`` runs every single-user server as the hub's own Unix
  user, with a home per learner under ``LABKIT_HUB_DIR/homes`` (JupyterHub's
  ``SimpleLocalProcessSpawner``: no isolation between learners, so for a trusted class or a test;
  as root every learner is root: jupyterhub/jupyterhub#4189). ``local`` runs each server as the
  Unix user of the same name (``LocalProcessSpawner``; create the users first, e.g. ``useradd -m
  alice``; the hub runs as root).
* ``LABKIT_HUB_ADMIN_TOKEN`` [unset]: a token for the ``class-admin`` service, for scripted set-up
  (start servers, run notebooks in them): scopes ``servers`` and ``access:servers!user=<learner>``
  for each learner (a single-user server cannot resolve group filters in a token's scopes).

Each learner's server opens their workspace, ``~/labkit-course``, which ``labkit course init``
creates before the first start and updates before every later one (the course's new files and
fixes arrive; the learner's changes stay: docs/course.md). ``/services/trainer-board/`` is the
trainer's page (:mod:`labkit.course.hub_board`): the progress board of every learner. Sizing and
the choices behind this file: docs/course.md, "A class on JupyterHub".
"""

# ruff: noqa: F821 - `c` is the config object JupyterHub passes in
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
E = os.environ
STATE = Path(E.get("LABKIT_HUB_DIR") or os.getcwd()).resolve()
VENV_BIN = Path(sys.executable).parent  # the hub runs from labkit's venv; so do the single-user servers
LEARNERS = sorted(set(E.get("LABKIT_HUB_LEARNERS", "").replace(",", " ").split()))
TRAINERS = sorted(set(E.get("LABKIT_HUB_TRAINERS", "").replace(",", " ").split()))
SPAWNER = E.get("LABKIT_HUB_SPAWNER", "simple")
WORKSPACE = "labkit-course"

if not LEARNERS:
    raise SystemExit("labkit hub: set LABKIT_HUB_LEARNERS to the learners' names (e.g. 'alice bob carol')")
if not E.get("LABKIT_HUB_PASSWORD"):
    raise SystemExit("labkit hub: set LABKIT_HUB_PASSWORD (the learners' shared password, 8 characters or more)")
if SPAWNER not in ("simple", "local"):
    raise SystemExit(f"labkit hub: LABKIT_HUB_SPAWNER={SPAWNER!r}: use 'simple' or 'local'")
STATE.mkdir(parents=True, exist_ok=True)

# ---------------------------------------------------------------------------- network (127.0.0.1 inside)
c.JupyterHub.bind_url = E.get("LABKIT_HUB_BIND_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(E.get("LABKIT_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{E.get('LABKIT_HUB_PROXY_API_PORT', '8001')}"
proxy = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
if proxy.exists():  # project-local npm install (scripts/_deps.sh); else the one on PATH
    c.ConfigurableHTTPProxy.command = [str(proxy)]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")

# ---------------------------------------------------------------------------- who logs in
# SharedPasswordAuthenticator (JupyterHub >= 5.3): one password for the learners, another (>= 32
# characters) that only admin_users can use; anyone with the learners' password can log in as any
# learner, which is the usual trade-off of a short workshop (its docstring says so).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = E["LABKIT_HUB_PASSWORD"]
if E.get("LABKIT_HUB_TRAINER_PASSWORD"):
    c.SharedPasswordAuthenticator.admin_password = E["LABKIT_HUB_TRAINER_PASSWORD"]
c.Authenticator.allowed_users = set(LEARNERS) | set(TRAINERS)
c.Authenticator.admin_users = set(TRAINERS)
c.JupyterHub.load_groups = {"learners": {"users": LEARNERS}, "trainers": {"users": TRAINERS}}

# ---------------------------------------------------------------------------- single-user servers
if SPAWNER == "simple":
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "homes" / "{username}")
    c.Spawner.notebook_dir = str(STATE / "homes" / "{username}" / WORKSPACE)
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]  # jupyter_server refuses root otherwise (trap 1 of the reference)
else:
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.notebook_dir = f"~/{WORKSPACE}"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]  # absolute: the hub's PATH may not hold the venv
c.Spawner.default_url = "/lab/tree/00-start-here.ipynb"


def workspace_of(spawner) -> str:
    if SPAWNER == "simple":
        return str(STATE / "homes" / spawner.user.name / WORKSPACE)
    return os.path.join(os.path.expanduser(f"~{spawner.user.name}"), WORKSPACE)


def lab_states_of(spawner) -> str:
    """Where the learner's labs keep their state. Short on purpose: an ovs lab's OVS sockets live
    below it (``<dir>/<lab>/ovs/<node>/run/ovs-vswitchd.ctl``) and AF_UNIX paths are at most 107 bytes,
    so this directory must stay within about 50 characters."""
    if SPAWNER == "simple":
        return str(STATE / "labs" / spawner.user.name)
    return os.path.join(os.path.expanduser(f"~{spawner.user.name}"), ".local", "state", "labkit")


# labkit commands in the learner's terminals find the workspace; lab names use JUPYTERHUB_USER.
c.Spawner.environment = {"LABKIT_WORKSPACE": workspace_of, "LABKIT_STATE_DIR": lab_states_of}


def init_workspace(spawner) -> None:
    """Create or update the learner's workspace before their server starts (labkit course init)."""
    name = spawner.user.name
    if SPAWNER == "simple":
        from labkit.course.workspace import init_workspace as init

        report = init(workspace_of(spawner), learner=name)
    else:  # as the learner, so that they own their files
        report = subprocess.run(["runuser", "-u", name, "--", str(VENV_BIN / "labkit"), "course", "init",
                                 workspace_of(spawner), "--learner", name], capture_output=True, text=True,
                                check=True).stdout.strip()
    spawner.log.info("labkit workspace of %s: %s", name, str(report).replace("\n", " | "))


c.Spawner.pre_spawn_hook = init_workspace

# ---------------------------------------------------------------------------- the trainer's page
BOARD_PORT = int(E.get("LABKIT_BOARD_PORT", "8002"))
homes = str(STATE / "homes" / "*" / WORKSPACE) if SPAWNER == "simple" else f"/home/*/{WORKSPACE}"
c.JupyterHub.services = [{
    "name": "trainer-board",
    "url": f"http://127.0.0.1:{BOARD_PORT}",
    "command": [sys.executable, "-m", "labkit.course.hub_board"],
    "oauth_no_confirm": True,
    "environment": {"LABKIT_BOARD_WORKSPACES": homes},
}]
roles = [{"name": "trainer", "groups": ["trainers"],
          "scopes": ["access:services!service=trainer-board", "list:users!group=learners",
                     "read:users!group=learners", "read:servers!group=learners", "access:servers!group=learners"]}]
if E.get("LABKIT_HUB_ADMIN_TOKEN"):
    c.JupyterHub.services.append({"name": "class-admin", "api_token": E["LABKIT_HUB_ADMIN_TOKEN"]})
    roles.append({"name": "class-admin", "services": ["class-admin"],
                  "scopes": ["list:users", "read:users", "servers!group=learners"]
                  + [f"access:servers!user={name}" for name in LEARNERS]})
c.JupyterHub.load_roles = roles
