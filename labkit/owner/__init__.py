"""The background owner of a lab: one process that holds the live :class:`~labkit.Lab`.

Without an owner every ``labkit`` command rebuilds the lab from ``<state>/lab.json``
(``Lab.resume``). A lab that serves a Kubernetes API (``labkit up --kube-api``) needs one live
Lab that both faces change, and an ovs lab lives exactly as long as the process that owns its
namespaces and daemons, so ``labkit up --kube-api`` and ``labkit up --backend ovs`` start an owner
process that

* builds and starts the Lab (any backend: nothing here is backend-specific), serves its
  Kubernetes API, saves ``lab.json`` after every change;
* listens on a control socket (``<state>/owner.sock``, a unix socket, mode 0600) on which later
  ``labkit`` commands (apply, delete, label, get, matrix, explain, lint, status ...) run inside the
  owner against the live Lab instead of rebuilding it, so ``kubectl`` and ``labkit`` see and change
  the same objects;
* records itself in ``<state>/owner.json`` (pid, socket, Kubernetes API port, kubeconfig);
* stops the Lab and exits on ``stop`` (``labkit down``), on SIGTERM/SIGINT, or when its state
  directory disappears (a ``down --all`` that removed it); ``labkit down --all`` also kills owners
  whose state directory is gone (:func:`sweep`). The API server is a thread of the owner, so an
  owner that dies takes its server with it.

API (used by the CLI; meant to be reused by any backend that wants a long-lived lab)::

    info = start(state_dir, name, backend="sim", profile="workshop", kube_api=True)  # spawns, waits
    client = attach(state_dir)          # an OwnerClient, or None if no live owner
    client.run(["matrix", "--port", "80"])    # -> (exit code, stdout, stderr)
    stop(state_dir)                     # the owner stops its lab and exits

Modules: :mod:`.record` (owner.json), :mod:`.control` (the socket protocol, client side),
:mod:`.process` (the owner's main loop; the process runs ``labkit owner-serve``, a hidden
subcommand, so that it runs ``labkit`` commands with the CLI's own code).
"""

from .control import OwnerClient, attach, forward, hosted_lab
from .process import start, stop, sweep
from .record import OwnerRecord, read_record

__all__ = ["OwnerClient", "OwnerRecord", "attach", "forward", "hosted_lab", "read_record", "start", "stop", "sweep"]
