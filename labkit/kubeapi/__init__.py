"""The Kubernetes API face: a lab served to ``kubectl`` and Kubernetes clients over HTTPS.

::

    lab = Lab(profile="workshop", kube_api=True)      # or: labkit up --kube-api
    !kubectl --kubeconfig {lab.kubeconfig} get pods -A -o wide

Modules, from the wire inwards:

* :mod:`.server`: :class:`KubeAPIServer` (uvicorn on 127.0.0.1, TLS, lifecycle);
* :mod:`.app`: the Starlette handlers (paths, auth, bounded bodies, Tables, watch streams);
* :mod:`.exec`: ``kubectl exec`` over WebSocket (``v5.channel.k8s.io``);
* :mod:`.discovery`, :mod:`.openapi`, :mod:`.printers`: what kubectl reads besides objects;
* :mod:`.store`: resourceVersions, watch history and writes that go to ``Lab.apply``/``Lab.delete``;
* :mod:`.render`, :mod:`.status`: the model's objects as Kubernetes JSON, with controller status;
* :mod:`.patch`, :mod:`.selectors`, :mod:`.errors`, :mod:`.credentials`, :mod:`.traceflow`.

The face holds no state of its own besides API bookkeeping: every object is the Lab's
(docs/kubectl.md).
"""

from .server import KubeAPIServer

__all__ = ["KubeAPIServer"]
