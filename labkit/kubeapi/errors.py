"""Kubernetes ``Status`` errors, as kube-apiserver words them.

:class:`StatusError` is a :class:`labkit.errors.LabkitError` that carries the ``metav1.Status``
body the API answers with. The builders follow apimachinery ``pkg/api/errors/errors.go``
(``NewNotFound``, ``NewAlreadyExists``, ``NewConflict``, ``NewInvalid`` ...): messages use the
qualified resource (``pods``, ``clusternetworkpolicies.crd.antrea.io``) and, for Invalid, the
qualified kind; ``details.kind`` is the resource for NotFound/AlreadyExists/Conflict and the kind
for Invalid (reference kubectl-api.md §6). kubectl prints Invalid causes as ``field: message``, so
the causes of a rejected manifest carry labkit's own field paths and fixes
(:class:`labkit.errors.Problem`): the API and ``labkit apply`` say the same thing.
"""

from __future__ import annotations

from ..errors import LabkitError, ManifestError, Problem
from .resources import Resource


class StatusError(LabkitError):
    """An API error: HTTP ``code`` and the ``metav1.Status`` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        super().__init__(message)

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(resource: Resource, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{resource.qualified} "{name}" not found',
                       _details(resource, name, group_kind=False))


def not_found_path() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource: Resource, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists',
                       _details(resource, name, group_kind=False))


def conflict(resource: Resource, name: str, why: str = "") -> StatusError:
    # apiserver pkg/registry/generic/registry/store.go: OptimisticLockErrorMsg.
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return StatusError(409, "Conflict", f'Operation cannot be fulfilled on {resource.qualified} "{name}": {why}',
                       _details(resource, name, group_kind=False))


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def method_not_allowed(what: str = "") -> StatusError:
    return StatusError(405, "MethodNotAllowed",
                       what or "the server does not allow this method on the requested resource", {})


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media types include: "
                       f"{', '.join(accepted)}" + (f" (got {content_type})" if content_type else ""))


def too_large(limit: int) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge",
                       f"the request body is larger than {limit} bytes; split the manifest into several requests")


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def invalid(resource: Resource, name: str, causes: list[tuple[str, str, str]]) -> StatusError:
    """422 Invalid; ``causes``: (reason, field, message) as field.Error renders them."""
    texts = [f"{f}: {m}" if f else m for _, f, m in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(resource, name, group_kind=True)
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return StatusError(422, "Invalid", f'{resource.qualified_kind} "{name}" is invalid: {joined}', details)


def problem_message(problem: Problem) -> str:
    """A Problem as a cause message: what is wrong, and how to fix it (kubectl prints ``field: message``)."""
    text = problem.message
    if problem.hint:
        text += f" (fix: {problem.hint})"
    return text


def cause_reason(problem: Problem) -> str:
    """apimachinery field.ErrorType names for the labkit messages that have an obvious one."""
    message = problem.message
    if message == "is required":
        return "FieldValueRequired"
    if message.startswith("unknown field"):
        return "FieldValueNotFound"
    if message.startswith(("unsupported", "unknown operator")):
        return "FieldValueNotSupported"
    if "cannot" in message or "not allowed" in message or "may not" in message or "read-only" in message:
        return "FieldValueForbidden"
    return "FieldValueInvalid"


def from_manifest_error(resource: Resource, name: str, exc: ManifestError) -> StatusError:
    """labkit's validation (labkit.model.parse, ClusterState admission) as the API's answer.

    A missing Namespace is 404 ``namespaces "x" not found`` as kube-apiserver's NamespaceLifecycle
    admission answers; every other problem is a cause of one 422 Invalid.
    """
    for p in exc.problems:
        if p.path == "metadata.namespace" and p.message.startswith("namespaces \""):
            ns_resource = Resource("", "v1", "Namespace", "namespaces", "namespace", False)
            return not_found(ns_resource, p.message.split('"')[1])
    causes = [(cause_reason(p), p.path, problem_message(p)) for p in exc.problems]
    return invalid(resource, name, causes)


def _details(resource: Resource, name: str, group_kind: bool) -> dict:
    details: dict = {"name": name, "kind": resource.kind if group_kind else resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details
