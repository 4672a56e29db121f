"""Who the learner is, and a lab name that is theirs alone.

Several learners share one VM (a JupyterHub, or one trainer's machine), and on the ``ovs``
backend a lab name is a set of network namespaces on that machine (``lk-<lab>.<node>``): two
kernels running the same notebook with the same name would collide. So the notebooks never hard-code
a name; they ask :func:`lab_name` with the notebook's short name (``lab_name("netpol")``).

The scheme (a lab name is 1-16 characters of ``a-z``, ``0-9`` and ``-``, starting with a letter
or digit — :class:`labkit.Lab`):

* ``<base>-<learner>`` when the learner's name is already a valid, short piece of a lab name
  (lowercase letters and digits, starting with a letter) and the whole fits in 16 characters:
  ``netpol-alice``, ``start-here-bob``. A trainer reads whose lab it is at a glance
  (``ip netns`` shows ``lk-netpol-alice.kind-worker``).
* otherwise ``<base truncated>-<6 characters>``, the 6 characters being a digit then five base-32
  characters of a SHA-256 over the learner's name and the full base: ``smartnic-4k2qzt``.

The two forms cannot collide: the part after the base starts with a letter in the first and
with a digit in the second, and the first form is one-to-one. The second collides only when two
hashes do (one in 3.4·10^8 for a pair). The same learner and notebook always get the same name,
so re-running the ``Lab`` cell replaces the earlier lab of that kernel as before.

The learner is ``$LABKIT_USER``, else ``$JUPYTERHUB_USER`` (the hub sets it in every single-user
server, also when all servers run as one Unix user), else the Unix login name.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import re

MAX_LAB_NAME = 16
_LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
_READABLE_LEARNER = re.compile(r"^[a-z][a-z0-9]*$")
_HASH_LEN = 6


def learner_name() -> str:
    """The learner running this kernel: ``$LABKIT_USER``, ``$JUPYTERHUB_USER``, or the login name."""
    for var in ("LABKIT_USER", "JUPYTERHUB_USER"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "learner"


def lab_name(base: str, learner: str | None = None) -> str:
    """A lab name unique to ``learner`` (default: :func:`learner_name`) and this notebook's ``base``.

    ``base`` is the notebook's short name (``"netpol"``, ``"start-here"``): 1-10 characters of
    ``a-z``, ``0-9`` and ``-``, starting with a letter. See the module docstring for the scheme.
    """
    if not re.match(r"^[a-z][a-z0-9-]{0,9}$", base) or base.endswith("-"):
        raise ValueError(f"lab name base {base!r} must be 1-10 characters of a-z, 0-9 and '-', starting with a "
                         "letter and not ending with '-' (e.g. 'netpol')")
    who = learner if learner is not None else learner_name()
    readable = f"{base}-{who}"
    if _READABLE_LEARNER.match(who) and len(readable) <= MAX_LAB_NAME:
        return readable
    digest = hashlib.sha256(f"{who}\0{base}".encode()).digest()
    tail = str(digest[0] % 10) + base64.b32encode(digest[1:]).decode().lower()[:_HASH_LEN - 1]
    name = f"{base[:MAX_LAB_NAME - _HASH_LEN - 1].rstrip('-')}-{tail}"
    assert _LAB_NAME.match(name), name
    return name


__all__ = ["learner_name", "lab_name", "MAX_LAB_NAME"]
